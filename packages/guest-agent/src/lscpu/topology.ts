/**
 * How util-linux lscpu (2.38) counts threads, cores and sockets: from the
 * sibling lists of the CPUs that still have a topology directory, i.e. the
 * online ones. Each distinct thread-sibling set is a core, each distinct
 * core-sibling set a socket, and "Core(s) per socket" is cores/sockets in
 * integer arithmetic: with CPUs offline these numbers describe what is
 * online, not the machine, and we print exactly what lscpu would.
 */
import { CpuTree } from '../sysfs/cpu-tree';

export interface LscpuTopology {
  threadsPerCore: number;
  cores: number;
  sockets: number;
  books: number;
  drawers: number;
  coresPerSocket: number;
  socketsPerBook: number;
  booksPerDrawer: number;
  /** lscpu's logical core/socket/book/drawer number of each CPU, by CPU index. */
  logicalCore: Map<number, number>;
  logicalSocket: Map<number, number>;
  logicalBook: Map<number, number>;
  logicalDrawer: Map<number, number>;
}

/** Position of `set` among the distinct sets seen so far, adding it if new. */
function indexOfSet(seen: string[], set: number[]): number {
  const key = set.join(',');
  let i = seen.indexOf(key);
  if (i < 0) {
    seen.push(key);
    i = seen.length - 1;
  }
  return i;
}

export function lscpuTopology(tree: CpuTree): LscpuTopology {
  const coremaps: string[] = [];
  const socketmaps: string[] = [];
  const bookmaps: string[] = [];
  const drawermaps: string[] = [];
  const logicalCore = new Map<number, number>();
  const logicalSocket = new Map<number, number>();
  const logicalBook = new Map<number, number>();
  const logicalDrawer = new Map<number, number>();
  let threadsPerCore = 0;

  for (const cpu of tree.cpus) {
    if (!cpu.threadSiblings) continue;
    threadsPerCore = Math.max(threadsPerCore, cpu.threadSiblings.length || 1);
    logicalCore.set(cpu.index, indexOfSet(coremaps, cpu.threadSiblings));
    if (cpu.coreSiblings) logicalSocket.set(cpu.index, indexOfSet(socketmaps, cpu.coreSiblings));
    if (cpu.bookSiblings) logicalBook.set(cpu.index, indexOfSet(bookmaps, cpu.bookSiblings));
    if (cpu.drawerSiblings) logicalDrawer.set(cpu.index, indexOfSet(drawermaps, cpu.drawerSiblings));
  }
  const div = (a: number, b: number) => (b ? Math.floor(a / b) : 0);
  return {
    threadsPerCore,
    cores: coremaps.length,
    sockets: socketmaps.length,
    books: bookmaps.length,
    drawers: drawermaps.length,
    coresPerSocket: div(coremaps.length, socketmaps.length),
    socketsPerBook: div(socketmaps.length, bookmaps.length),
    booksPerDrawer: div(bookmaps.length, drawermaps.length),
    logicalCore,
    logicalSocket,
    logicalBook,
    logicalDrawer,
  };
}
