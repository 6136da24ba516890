/**
 * Online writes the guest kernel refused, kept until the CPU comes online or
 * leaves: each is sent in every snapshot, so the host names it (errno, the
 * kernel's lines around it) wherever it shows a verdict, whether the write
 * was a request's or the agent's own auto-online of a hot-added CPU.
 */
import { MAX_GUEST_ONLINE_FAILURES, MAX_GUEST_ONLINE_FAILURE_LINES } from '@vcpuctl/proto';
import { KernelRecord } from './watch/kmsg';

export interface OnlineFailureRecord {
  cpu: number;
  errno: string;
  message: string;
  attempts: number;
  atMs: number;
  byAutoOnline: boolean;
  kernelLines: KernelRecord[];
}

/**
 * Kernel lines about CPUs kept for failures: the lines of the last few
 * seconds of hotplug. A hot-add of a few vCPUs logs about five lines each;
 * 256 covers the window below, and a log flood keeps the newest.
 */
const MAX_RECENT_LINES = 256;

/** Lines from this long before a failed write's first attempt belong to it: the hot-add that made the CPU logs just before. */
export const FAILURE_LINES_BEFORE_MS = 1000;

/** The kernel's recent lines about CPUs. */
export class RecentKernelLines {
  private lines: KernelRecord[] = [];

  add(rec: KernelRecord): void {
    this.lines.push(rec);
    if (this.lines.length > MAX_RECENT_LINES) this.lines.shift();
  }

  /** Those received from `fromMs` on, the newest MAX_GUEST_ONLINE_FAILURE_LINES. */
  since(fromMs: number): KernelRecord[] {
    return this.lines.filter((l) => l.receivedAtMs >= fromMs).slice(-MAX_GUEST_ONLINE_FAILURE_LINES);
  }
}

export class OnlineFailures {
  private readonly byCpu = new Map<number, OnlineFailureRecord>();
  /** The records, newest last; a new array at every change (the snapshot cache compares identity). */
  list: readonly OnlineFailureRecord[] = [];

  record(f: OnlineFailureRecord): void {
    this.byCpu.delete(f.cpu);
    this.byCpu.set(f.cpu, f);
    while (this.byCpu.size > MAX_GUEST_ONLINE_FAILURES) this.byCpu.delete(this.byCpu.keys().next().value!);
    this.list = [...this.byCpu.values()];
  }

  /** The CPU came online or left: its failure is over. */
  clear(cpu: number): void {
    if (this.byCpu.delete(cpu)) this.list = [...this.byCpu.values()];
  }

  has(cpu: number): boolean {
    return this.byCpu.has(cpu);
  }
}
