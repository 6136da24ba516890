/**
 * Trust, but verify on the host (issue 15, item 4): a guest's claims about
 * its CPUs checked against the hypervisor's own accounting of each vCPU's
 * thread (libvirt's vcpu.N.time, read twice by HypervisorDriver.vcpuTimes).
 * A CPU the guest calls offline must not run; a hot-added one it calls
 * online must have run. Pure: no I/O, every outcome unit-tested.
 *
 * The figures behind the constants are from bench/vcpu-time-bench.js on the
 * rig (QEMU 7.2 TCG, one thread per vCPU, Debian 6.1 guest kernel, a host of
 * 2 cores), 2026-12-05: run time libvirt accounted per window, ms,
 * min / median / max over 6 to 60 windows per cell:
 *
 *   vCPU state                         1 s window       2 s window        5 s window
 *   offline (offlined after running)   0 / 0 / 0        0 / 0 / 0         0 / 0 / 0
 *   offline, its sibling busy          0 / 0 / 0        0 / 0 / 0         0 / 0 / 0
 *   hot-added, never onlined           0 / 0 / 0        0 / 0 / 0         0 / 0 / 0
 *   online, idle (hot-added)           0 / 60 / 160     0 / 120 / 240     70 / 290 / 440
 *   online, busy loop (pinned)       480 / 790 / 970 1100 / 1590 / 1870 2870 / 3920 / 4320
 *
 * An offline vCPU's thread did not run at all (0 ns in its schedstat too) in
 * three runs. Under KVM it would not either: Linux parks an offline CPU in
 * hlt with interrupts off and KVM blocks the thread until INIT/SIPI. An idle
 * online vCPU, though, can be as quiet: 0 in a 2 s window here, 10 ms in 5 s
 * in another run (under KVM its wake-ups cost microseconds, below one tick).
 * So run time cannot tell an idle online CPU from an offline one, and the
 * check does not try: it flags use of a CPU claimed offline, and a hot-added
 * CPU claimed online that never ran at all.
 *
 * Guest CPU ids against libvirt vCPU ids: the guest names logical CPUs, libvirt
 * names vCPUs. On this rig (x86, q35, one socket per vCPU, hot-added in
 * order, never unplugged) Linux gives a hot-added vCPU the next logical id,
 * so they coincide. checkVcpuClaims assumes that identity and checks what it
 * can: the CPUs the guest lists (online and offline) must be exactly the
 * plugged vCPUs, else it answers "cannot check" rather than guess.
 */
import { VcpuTimes } from '../libvirt/driver';

/**
 * Shortest window to judge. At 1 s a busy vCPU showed at least 480 ms against
 * 0 for an offline one, 16 times OFFLINE_RAN_MAX_MS; at 0.5 s still 190 ms,
 * but the allowance would be 6% of the window and the 10 ms tick rounding 4%.
 */
export const MIN_WINDOW_MS = 1000;

/**
 * What a caller should wait between two reads: at 2 s a guest using a CPU it
 * calls offline more than 1.5% of the time is caught (30 ms of 2000), for one
 * second more than the minimum.
 */
export const RECOMMENDED_WINDOW_MS = 2000;

/**
 * Run time a vCPU the guest calls offline may show in one window. Measured:
 * exactly 0. But libvirt reads /proc's utime and stime in whole 10 ms clock
 * ticks, each truncated, so a difference of two reads is off by up to 20 ms
 * either way; one tick more allows QEMU's own work on an idle vCPU thread
 * (run_on_cpu, a TCG translation flush) that this rig never showed. 30 ms is
 * 3% of a 1 s window: a guest using a CPU it calls offline uses more.
 * (The example, 340 ms in 5 s, is eleven times over.)
 */
export const OFFLINE_RAN_MAX_MS = 30;

/**
 * Total run time, since its thread was created by the hot-add, at or below
 * which a vCPU has never run. Measured: exactly 0 for vCPUs never onlined
 * (rig guest, 30 s, three runs; bare domain, 20 s); 80 to 250 ms within
 * 200 ms of the guest onlining them (the kernel's CPU bring-up under TCG).
 * Any tick means it ran. The total is used, not the window: an idle online
 * vCPU can show 0 for seconds. Under KVM a bring-up may take less than one
 * 10 ms tick, so there this finding is a suspicion, not proof (not measured).
 */
export const NEVER_RAN_MAX_TOTAL_MS = 0;

/** What the guest says about its CPUs (from the agent's snapshot or qemu-ga's guest-get-vcpus). */
export interface GuestCpuClaims {
  /** Logical CPU ids the guest says are online. */
  online: readonly number[];
  /** Present but offline. */
  offline: readonly number[];
}

export interface VcpuClaimOptions {
  /** libvirt vCPU ids hot-added by the operation being verified: each one the guest calls online must have run. */
  hotAdded?: readonly number[];
}

/** Two reads of the accounting: VcpuTimes as the driver gives them, or just what the check needs. */
export type VcpuTimesSample = Pick<VcpuTimes, 'atNs'> & { vcpus: ReadonlyMap<number, { timeNs: bigint }> };

export type VcpuClaimFinding =
  /** The guest calls the CPU offline, yet its vCPU ran more than the allowance in the window. */
  | { kind: 'GUEST_CLAIM_CONTRADICTED'; cpu: number; ranMs: number; windowMs: number }
  /** A hot-added vCPU the guest calls online has never run since it was plugged. */
  | { kind: 'HOTADDED_NEVER_RAN'; cpu: number; totalMs: number; windowMs: number };

export type VcpuClaimCheck =
  | {
      checked: true;
      windowMs: number;
      /** Run time of every plugged vCPU in the window, by id: for the report. */
      ranMs: Map<number, number>;
      findings: VcpuClaimFinding[];
    }
  /** Nothing can be said: why (a window too short, a plug in between, ids that do not map). */
  | { checked: false; reason: string };

const NS_PER_MS = 1_000_000n;

/** ns to ms, exact enough: the figures are whole 10 ms ticks. */
function toMs(ns: bigint): number {
  return Number(ns / 1000n) / 1000;
}

function ids(list: readonly number[]): string {
  return list.length ? list.join(',') : 'none';
}

/** Why the guest's CPU ids cannot be taken as libvirt's vCPU ids, or undefined when they can. */
function unmappable(claims: GuestCpuClaims, plugged: readonly number[]): string | undefined {
  const all = [...claims.online, ...claims.offline];
  if (all.some((c) => !Number.isSafeInteger(c) || c < 0)) return 'the guest named a CPU id that is not a non-negative integer';
  if (new Set(all).size !== all.length) return 'the guest named a CPU both online and offline, or twice';
  const guest = [...all].sort((a, b) => a - b);
  if (guest.length !== plugged.length || guest.some((c, i) => c !== plugged[i])) {
    return `the guest's CPUs (${ids(guest)}) are not the plugged vCPUs (${ids(plugged)}): its ids cannot be mapped to libvirt's`;
  }
  return undefined;
}

/**
 * Checks the guest's claims against two reads of the vCPUs' run time, the
 * claims taken between them (or at the second). Findings only where the
 * accounting contradicts the guest; "cannot check" where it cannot say.
 */
export function checkVcpuClaims(before: VcpuTimesSample, after: VcpuTimesSample, claims: GuestCpuClaims, opts: VcpuClaimOptions = {}): VcpuClaimCheck {
  const windowNs = after.atNs - before.atNs;
  const windowMs = toMs(windowNs);
  if (windowNs < BigInt(MIN_WINDOW_MS) * NS_PER_MS) return { checked: false, reason: `a window of ${windowMs} ms is shorter than ${MIN_WINDOW_MS} ms` };
  const plugged = [...after.vcpus.keys()].sort((a, b) => a - b);
  const pluggedBefore = [...before.vcpus.keys()].sort((a, b) => a - b);
  if (pluggedBefore.join() !== plugged.join()) return { checked: false, reason: `vCPUs were plugged or unplugged in the window (${ids(pluggedBefore)} then ${ids(plugged)})` };
  const ranMs = new Map<number, number>();
  for (const id of plugged) {
    const ran = after.vcpus.get(id)!.timeNs - before.vcpus.get(id)!.timeNs;
    // A counter that went back belongs to a new thread: the vCPU was replaced in between.
    if (ran < 0n) return { checked: false, reason: `vCPU ${id}'s run time went backwards (a new thread)` };
    ranMs.set(id, toMs(ran));
  }
  const why = unmappable(claims, plugged);
  if (why) return { checked: false, reason: why };

  const findings: VcpuClaimFinding[] = [];
  for (const cpu of [...claims.offline].sort((a, b) => a - b)) {
    const ran = ranMs.get(cpu)!;
    if (ran > OFFLINE_RAN_MAX_MS) findings.push({ kind: 'GUEST_CLAIM_CONTRADICTED', cpu, ranMs: ran, windowMs });
  }
  const online = new Set(claims.online);
  for (const cpu of [...new Set(opts.hotAdded ?? [])].sort((a, b) => a - b)) {
    if (!online.has(cpu)) continue; // offline or not plugged: the verdict's HOTADDED_OFFLINE and LIBVIRT_QEMU_DIFFER say so
    const totalMs = toMs(after.vcpus.get(cpu)!.timeNs);
    if (totalMs <= NEVER_RAN_MAX_TOTAL_MS) findings.push({ kind: 'HOTADDED_NEVER_RAN', cpu, totalMs, windowMs });
  }
  return { checked: true, windowMs, ranMs, findings };
}
