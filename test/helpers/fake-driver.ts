/**
 * A HypervisorDriver for unit tests of decisions (no libvirt): the members a
 * test gives, and every other one failing with its own name, so a test that
 * reaches an operation it did not set up fails saying which.
 */
import { HypervisorDriver } from '@vcpuctl/host';

const OPERATIONS = [
  'inspect',
  'setVcpus',
  'setMaximum',
  'shutdown',
  'destroy',
  'start',
  'uuidOf',
  'recordIntent',
  'listDomains',
  'inspectMany',
  'qemuLogTail',
  'guestAgentPing',
  'guestAgentVcpus',
  'guestAgentSetVcpus',
  'guestAgentInfo',
  'domainXml',
  'attachChannel',
  'detachChannel',
  'vcpuTimes',
] as const satisfies readonly (keyof HypervisorDriver)[];

export function fakeDriver<T extends Partial<HypervisorDriver>>(uri: string, given: T): HypervisorDriver & T {
  const missing = (name: string) => () => Promise.reject(new Error(`fakeDriver: ${name} is not part of this test`));
  const base = Object.fromEntries(OPERATIONS.map((name) => [name, missing(name)]));
  return {
    ...base,
    uri,
    spawns: 0,
    backend: undefined,
    events: () => {
      throw new Error('fakeDriver: events is not part of this test');
    },
    close: async () => undefined,
    ...given,
  } as HypervisorDriver & T;
}
