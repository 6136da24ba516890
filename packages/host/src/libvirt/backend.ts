/**
 * One way of reaching libvirt: its RPC (rpc-backend.ts) or virsh processes
 * (virsh-backend.ts). Both do every operation vcpuctl needs, with the same
 * results and errors; the driver (libvirt-driver.ts) picks one per connection
 * and adds what does not depend on the way (qemu-guest-agent's answers parsed,
 * the QEMU log).
 */
import { Intent, IntentFlags } from '../core/intent';
import { ChannelEntry, DomainSnapshot, VcpuTimes } from './driver';
import { Affect } from './rpc-procedures';

export { Affect };

export type Lifecycle = 'start' | 'shutdown' | 'destroy';

export interface LibvirtBackend {
  readonly name: 'rpc' | 'virsh';
  inspect(domain: string): Promise<DomainSnapshot>;
  /** A domain that cannot be read is left out. */
  inspectMany(domains: string[]): Promise<Map<string, DomainSnapshot>>;
  listDomains(): Promise<string[]>;
  vcpuTimes(domain: string): Promise<VcpuTimes>;
  uuidOf(domain: string): Promise<string>;
  domainXml(domain: string, which: 'live' | 'config'): Promise<string>;
  setVcpus(domain: string, count: number, where: Affect): Promise<void>;
  setMaximum(domain: string, maximum: number): Promise<void>;
  lifecycle(domain: string, op: Lifecycle): Promise<void>;
  recordIntent(domain: string, intent: Intent, flags: IntentFlags): Promise<void>;
  /** A qemu-guest-agent command as JSON, its answer as qemu-ga wrote it; `what` names it in errors. */
  agentCommand(domain: string, json: string, timeoutS: number, what: string): Promise<string>;
  attachChannel(domain: string, name: string, where: Affect): Promise<void>;
  detachChannel(domain: string, channel: ChannelEntry, where: Affect): Promise<void>;
}
