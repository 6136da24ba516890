/**
 * How util-linux lscpu counts threads, cores and sockets (lscpu-topology.c):
 * from the sibling lists of the CPUs that still have a topology directory,
 * i.e. the online ones, separately for each CPU type. Each distinct
 * thread-sibling set is a core, each distinct core-sibling set a socket,
 * and "Core(s) per socket" is cores/sockets in integer arithmetic: with
 * CPUs offline these numbers describe what is online, not the machine, and
 * we print exactly what lscpu would.
 *
 * s390 is the exception: its sysfs topology is virtual, so where
 * /proc/sysinfo reports "CPU Topology SW" lscpu takes drawers, books per
 * drawer, sockets per book and cores per socket from there, and threads per
 * core from cpuinfo's "max thread id".
 */
import { CpuTree } from '../sysfs/cpu-tree';
import { Sysinfo } from '../proc/sysinfo';

export interface LscpuTopology {
  threadsPerCore: number;
  cores: number;
  sockets: number;
  books: number;
  drawers: number;
  coresPerSocket: number;
  socketsPerBook: number;
  booksPerDrawer: number;
  drawersPerSystem: number;
  /** lscpu's logical core/socket/book/drawer number of each CPU, by CPU index. */
  logicalCore: Map<number, number>;
  logicalSocket: Map<number, number>;
  logicalBook: Map<number, number>;
  logicalDrawer: Map<number, number>;
}

export interface TopologyOptions {
  /** Only CPUs of one type (heterogeneous ARM); all CPUs when absent. */
  include?: (cpu: number) => boolean;
  swTopology?: Sysinfo['swTopology'];
  /** s390 cpuinfo "max thread id". */
  maxThreadId?: string;
}

/** Position of `set` among the distinct sets seen so far, adding it if new. */
function indexOfSet(seen: Map<string, number>, set: number[]): number {
  const key = set.join(',');
  let i = seen.get(key);
  if (i === undefined) {
    i = seen.size;
    seen.set(key, i);
  }
  return i;
}

export function lscpuTopology(tree: CpuTree, opts: TopologyOptions = {}): LscpuTopology {
  const coremaps = new Map<string, number>();
  const socketmaps = new Map<string, number>();
  const bookmaps = new Map<string, number>();
  const drawermaps = new Map<string, number>();
  const logicalCore = new Map<number, number>();
  const logicalSocket = new Map<number, number>();
  const logicalBook = new Map<number, number>();
  const logicalDrawer = new Map<number, number>();
  let threadsPerCore = 0;

  for (const cpu of tree.cpus) {
    if (!cpu.threadSiblings) continue;
    if (opts.include && !opts.include(cpu.index)) continue;
    threadsPerCore = Math.max(threadsPerCore, cpu.threadSiblings.length || 1);
    logicalCore.set(cpu.index, indexOfSet(coremaps, cpu.threadSiblings));
    if (cpu.coreSiblings) logicalSocket.set(cpu.index, indexOfSet(socketmaps, cpu.coreSiblings));
    if (cpu.bookSiblings) logicalBook.set(cpu.index, indexOfSet(bookmaps, cpu.bookSiblings));
    if (cpu.drawerSiblings) logicalDrawer.set(cpu.index, indexOfSet(drawermaps, cpu.drawerSiblings));
  }
  if (opts.maxThreadId !== undefined && /^\d+$/.test(opts.maxThreadId)) threadsPerCore = Number(opts.maxThreadId) + 1;
  const div = (a: number, b: number) => (b ? Math.floor(a / b) : 0);
  const sw = opts.swTopology;
  return {
    threadsPerCore,
    cores: coremaps.size,
    sockets: socketmaps.size,
    books: bookmaps.size,
    drawers: drawermaps.size,
    coresPerSocket: sw ? sw.coresPerSocket : div(coremaps.size, socketmaps.size),
    socketsPerBook: sw ? sw.socketsPerBook : div(socketmaps.size, bookmaps.size),
    booksPerDrawer: sw ? sw.booksPerDrawer : div(bookmaps.size, drawermaps.size),
    drawersPerSystem: sw ? sw.drawers : drawermaps.size,
    logicalCore,
    logicalSocket,
    logicalBook,
    logicalDrawer,
  };
}
