/** What every operation is given: the hypervisor, where reports and locks go, how to reach agents. */
import { HypervisorDriver } from '../libvirt/driver';
import { AgentFlags } from './agents';

export interface Context {
  driver: HypervisorDriver;
  reportDir: string;
  lockDir: string;
  lockWaitMs: number;
  agentFlags: AgentFlags;
  agentTimeoutMs: number;
  /** Progress lines for a person at a terminal; a no-op with --json or without a TTY. */
  progress: (line: string) => void;
  /** How long an operation waits for libvirtd to answer again after its change (core/host-after.ts); tests shorten it. */
  hostAfterWaitMs?: number;
}
