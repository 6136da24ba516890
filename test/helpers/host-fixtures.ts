import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DomainSnapshot, Intent, parseDomainXml, parseHotpluggableCpus } from '@vcpuctl/host';

/** Output captured from a real libvirtd 9.0 / QEMU 7.2 (see test/fixtures/virsh). */
export const virshFixture = (name: string) => readFileSync(join(__dirname, '../../fixtures/virsh', name), 'utf8');

/** A DomainSnapshot as the virsh driver would build it, from captured XML, adjusted per test. */
export function hostSnapshot(opts: { live?: string; qmp?: string; state?: string; reason?: string; intent?: Intent } = {}): DomainSnapshot {
  const live = parseDomainXml(virshFixture(opts.live ?? 'dumpxml-live-1of2.xml'));
  const config = parseDomainXml(virshFixture('dumpxml-inactive.xml'));
  const state = opts.state ?? 'running';
  return {
    domain: {
      name: config.name,
      uuid: config.uuid,
      state,
      reason: opts.reason ?? 'booted',
      live: state === 'running' ? live.vcpu : undefined,
      config: config.vcpu,
      type: config.type,
      intent: opts.intent ?? (state === 'running' ? live.intent : config.intent),
      configIntent: opts.intent ?? config.intent,
      ...(state === 'running' && live.runId !== undefined ? { runId: live.runId } : {}),
    },
    qemu: state === 'running' ? parseHotpluggableCpus(virshFixture(opts.qmp ?? 'qmp-hotpluggable-1of2.json')) : undefined,
  };
}
