import { formatKernelCpuList, parseCpuList } from '@vcpuctl/proto';

/**
 * The intended vCPU state vcpuctl records with the domain after every
 * successful change, so a later verdict (here or on another host after a
 * migration) can tell a change vcpuctl made from drift behind its back.
 */

export interface Intent {
  /** How many CPUs the guest should have online. */
  online: number;
  /** Which guest CPUs, when the operation saw them (kernel cpulist, e.g. "0-2"). */
  cpus?: string;
  /** The operation and strategy that got there: set/auto, set/guest-offline, set-max/restart, offline/guest, ... */
  operation: string;
  strategy: string;
  /** ISO 8601, when it was recorded. */
  at: string;
  /** The report that verified it, when the operation writes one. */
  report?: string;
  /**
   * libvirt's id of the running domain it was made in. A guest-side offline
   * lives as long as that QEMU's guest kernel: a reboot inside it loses the
   * offline; a new start (another id) begins from the config's count.
   */
  runId?: number;
}

/** Where to record it: the running domain, its persistent config, or both. */
export interface IntentFlags {
  live: boolean;
  config: boolean;
}

export function describeIntent(i: Intent): string {
  return `${i.online} online${i.cpus ? ` (${i.cpus})` : ''}, by ${i.operation} (${i.strategy}) at ${i.at}${i.report ? `, report ${i.report}` : ''}`;
}

/**
 * The CPUs a guest-side state keeps offline: present in the guest and not
 * online. What the agent is told after vcpuctl changes the guest (its
 * auto-online then leaves them offline), as a kernel cpulist.
 */
export function wantedOfflineOf(present: string | null | undefined, online: string | null | undefined): string {
  const on = new Set(parseCpuList(online ?? ''));
  return formatKernelCpuList(parseCpuList(present ?? '').filter((c) => !on.has(c)));
}

/**
 * The CPUs a recorded intent keeps offline in a guest with these present
 * CPUs: the present ones its `cpus` does not name. Undefined when the intent
 * does not say which CPUs (recorded with the domain shut off).
 */
export function intentOffline(intent: Intent, present: string | null | undefined): string | undefined {
  if (!intent.cpus) return undefined;
  return wantedOfflineOf(present, intent.cpus);
}
