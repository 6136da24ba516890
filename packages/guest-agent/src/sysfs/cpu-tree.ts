/**
 * Reads what the guest kernel says about its CPUs from
 * /sys/devices/system/cpu and /sys/devices/system/node under a root.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatCpuList } from '@vcpuctl/proto';
import { parseCpuMask } from './cpumask';
import { guestDataError, parseGuestCpuList } from './guest-data';
import { TreePaths, cpuPath } from './paths';
import { listNumbered, readInt, readTrimmed } from './read';

export interface CacheInfo {
  level: number;
  /** Data, Instruction or Unified, as the kernel writes it. */
  type: string;
  /** As the kernel writes it, e.g. "32K". */
  size: string;
  sharedCpuList: string;
  /** The kernel's cache id (cache/indexN/id), -1 where absent (older kernels, some arches). */
  id: number;
  /** N of its cache/indexN directory. */
  dirIndex: number;
}

export interface CpuNode {
  index: number;
  present: boolean;
  online: boolean;
  /** cpuN/online exists: without it (CPU0 on x86) the CPU cannot be offlined. */
  offlinable: boolean;
  /** Topology ids; -1 where not exposed (offline CPUs lose their topology directory). */
  coreId: number;
  packageId: number;
  dieId: number;
  clusterId: number;
  bookId: number;
  drawerId: number;
  /** Sibling lists; undefined where the kernel has no such file. */
  threadSiblings: number[] | undefined;
  coreSiblings: number[] | undefined;
  bookSiblings: number[] | undefined;
  drawerSiblings: number[] | undefined;
  threadSiblingsList: string;
  coreCpusList: string;
  /** NUMA node, -1 when unknown. */
  node: number;
  caches: CacheInfo[];
}

export interface NumaNodeInfo {
  id: number;
  cpulist: string;
  cpus: number[];
}

export interface Vulnerability {
  /** sysfs file name, e.g. spectre_v1. */
  name: string;
  text: string;
}

export interface CpuTree {
  possible: string;
  present: string;
  online: string;
  offline: string;
  kernelMax: number;
  presentSet: number[];
  onlineSet: number[];
  cpus: CpuNode[];
  nodes: NumaNodeInfo[];
  vulnerabilities: Vulnerability[];
  /** s390's cpu/dispatching: 0 horizontal, 1 vertical; undefined elsewhere. */
  dispatching: number | undefined;
}

function readList(path: string): number[] | undefined {
  const text = readTrimmed(path);
  return text === undefined ? undefined : parseGuestCpuList(text, path);
}

/** A sibling set as lscpu reads it: the hex map, else the list beside it. */
function readSiblings(dir: string, name: string): number[] | undefined {
  const map = readTrimmed(join(dir, name));
  if (map !== undefined) return parseCpuMask(map, join(dir, name));
  return readList(join(dir, `${name}_list`));
}

function readCaches(paths: TreePaths, cpu: number): CacheInfo[] {
  const dir = cpuPath(paths, cpu, 'cache');
  const caches: CacheInfo[] = [];
  for (const idx of listNumbered(dir, /^index(\d+)$/)) {
    const base = join(dir, `index${idx}`);
    const level = readInt(join(base, 'level'));
    const type = readTrimmed(join(base, 'type'));
    if (level === undefined || type === undefined) continue;
    caches.push({
      level,
      type,
      size: readTrimmed(join(base, 'size')) ?? '',
      sharedCpuList: readTrimmed(join(base, 'shared_cpu_list')) ?? '',
      id: readInt(join(base, 'id')) ?? -1,
      dirIndex: idx,
    });
  }
  return caches;
}

function readCpu(paths: TreePaths, index: number, presentSet: Set<number>, onlineSet: Set<number>, nodeOf: Map<number, number>): CpuNode {
  const topo = (name: string) => cpuPath(paths, index, 'topology', name);
  const id = (name: string) => readInt(topo(name)) ?? -1;
  const node = nodeOf.get(index) ?? listNumbered(cpuPath(paths, index), /^node(\d+)$/)[0] ?? -1;
  return {
    index,
    present: presentSet.has(index),
    online: onlineSet.has(index),
    offlinable: existsSync(cpuPath(paths, index, 'online')),
    coreId: id('core_id'),
    packageId: id('physical_package_id'),
    dieId: id('die_id'),
    clusterId: id('cluster_id'),
    bookId: id('book_id'),
    drawerId: id('drawer_id'),
    threadSiblings: readSiblings(topo(''), 'thread_siblings'),
    coreSiblings: readSiblings(topo(''), 'core_siblings'),
    bookSiblings: readSiblings(topo(''), 'book_siblings'),
    drawerSiblings: readSiblings(topo(''), 'drawer_siblings'),
    threadSiblingsList: readTrimmed(topo('thread_siblings_list')) ?? '',
    coreCpusList: readTrimmed(topo('core_cpus_list')) ?? '',
    node,
    caches: readCaches(paths, index),
  };
}

/**
 * NUMA nodes as lscpu reads them: from nodeN/cpumap (the hex bitmap), which
 * every kernel writes; some dumps and older kernels have no cpulist beside it.
 * The list is the fallback for a tree that has only the list.
 */
/** The sets the kernel rewrites in a CPU's directory when another CPU comes or goes. */
type SharedField = 'thread' | 'core' | 'book' | 'drawer' | `cache${number}`;

function sharedSets(cpu: CpuNode): Map<SharedField, number[]> {
  const out = new Map<SharedField, number[]>();
  if (cpu.threadSiblings) out.set('thread', cpu.threadSiblings);
  if (cpu.coreSiblings) out.set('core', cpu.coreSiblings);
  if (cpu.bookSiblings) out.set('book', cpu.bookSiblings);
  if (cpu.drawerSiblings) out.set('drawer', cpu.drawerSiblings);
  for (const c of cpu.caches) {
    try {
      out.set(`cache${c.dirIndex}`, parseGuestCpuList(c.sharedCpuList, 'shared_cpu_list'));
    } catch {
      // a malformed list shares nothing
    }
  }
  return out;
}

/**
 * Re-reads, in a CPU the change did not touch itself, only the sets that
 * can have changed: those that named a CPU that came or went, or that a
 * CPU that came names this one in (`touched`). Ids, levels and sizes stay.
 */
function refreshShared(paths: TreePaths, cpu: CpuNode, changed: ReadonlySet<number>, touched: Map<SharedField, Set<number>>): CpuNode {
  const old = sharedSets(cpu);
  const stale = (field: SharedField) => touched.get(field)?.has(cpu.index) || (old.get(field) ?? []).some((c) => changed.has(c));
  const topo = cpuPath(paths, cpu.index, 'topology');
  const out: CpuNode = { ...cpu };
  if (stale('thread')) {
    out.threadSiblings = readSiblings(topo, 'thread_siblings');
    out.threadSiblingsList = readTrimmed(join(topo, 'thread_siblings_list')) ?? '';
    out.coreCpusList = readTrimmed(join(topo, 'core_cpus_list')) ?? '';
  }
  if (stale('core')) out.coreSiblings = readSiblings(topo, 'core_siblings');
  if (cpu.bookSiblings && stale('book')) out.bookSiblings = readSiblings(topo, 'book_siblings');
  if (cpu.drawerSiblings && stale('drawer')) out.drawerSiblings = readSiblings(topo, 'drawer_siblings');
  out.caches = cpu.caches.map((c) => (stale(`cache${c.dirIndex}`) ? { ...c, sharedCpuList: readTrimmed(cpuPath(paths, cpu.index, 'cache', `index${c.dirIndex}`, 'shared_cpu_list')) ?? '' } : c));
  return out;
}

export function readNodes(paths: TreePaths): NumaNodeInfo[] {
  return listNumbered(paths.nodeDir, /^node(\d+)$/).map((id) => {
    const dir = join(paths.nodeDir, `node${id}`);
    const map = readTrimmed(join(dir, 'cpumap'));
    if (map !== undefined) {
      const cpus = parseCpuMask(map, join(dir, 'cpumap'));
      return { id, cpulist: formatCpuList(cpus), cpus };
    }
    const cpulist = readTrimmed(join(dir, 'cpulist')) ?? '';
    return { id, cpulist, cpus: parseGuestCpuList(cpulist, join(dir, 'cpulist')) };
  });
}

function readVulnerabilities(paths: TreePaths): Vulnerability[] {
  const dir = join(paths.cpuDir, 'vulnerabilities');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .sort()
    .map((name) => ({ name, text: readTrimmed(join(dir, name)) ?? '' }))
    .filter((v) => v.text !== '');
}

function readDispatching(paths: TreePaths): number | undefined {
  const mode = readInt(join(paths.cpuDir, 'dispatching'));
  return mode === 0 || mode === 1 ? mode : undefined;
}

/** One reading of the whole tree. A long-running reader keeps a CpuTreeReader instead. */
export function readCpuTree(paths: TreePaths): CpuTree {
  return new CpuTreeReader(paths).read();
}

/** Every CPU a CPU's reading names: its sibling sets and the CPUs sharing its caches. */
function relatedCpus(cpu: CpuNode): Set<number> {
  const out = new Set<number>([cpu.index]);
  for (const set of [cpu.threadSiblings, cpu.coreSiblings, cpu.bookSiblings, cpu.drawerSiblings]) for (const c of set ?? []) out.add(c);
  for (const cache of cpu.caches) {
    try {
      for (const c of parseGuestCpuList(cache.sharedCpuList, 'shared_cpu_list')) out.add(c);
    } catch {
      // a malformed list relates nothing; the reading itself is what it is
    }
  }
  return out;
}

function symmetricDifference(a: ReadonlySet<number>, b: ReadonlySet<number>): Set<number> {
  const out = new Set<number>();
  for (const x of a) if (!b.has(x)) out.add(x);
  for (const x of b) if (!a.has(x)) out.add(x);
  return out;
}

/**
 * The tree, read once in full and then kept: a CPU's topology, caches and
 * node do not change while it stays online, so each read() costs three small
 * files (possible, present, online) when nothing moved and returns the same
 * CpuTree object. When the lists change, only the CPUs that came or went
 * are read again, with every CPU whose siblings or shared caches name them
 * (the kernel rewrites those lists on both sides), and the node maps.
 */
export class CpuTreeReader {
  private readonly cache = new Map<number, { node: CpuNode; related: Set<number> }>();
  private last: CpuTree | undefined;
  private kernelMax: number | undefined;
  private vulnerabilities: Vulnerability[] | undefined;

  constructor(private readonly paths: TreePaths) {}

  read(): CpuTree {
    const { paths } = this;
    const possible = readTrimmed(join(paths.cpuDir, 'possible'));
    if (possible === undefined) {
      throw guestDataError(`${paths.cpuDir}/possible is missing: not a Linux CPU sysfs tree`);
    }
    const present = readTrimmed(join(paths.cpuDir, 'present')) ?? possible;
    const online = readTrimmed(join(paths.cpuDir, 'online')) ?? present;
    const last = this.last;
    if (last && last.possible === possible && last.present === present && last.online === online) return last;

    const presentSet = parseGuestCpuList(present, join(paths.cpuDir, 'present'));
    const onlineSet = parseGuestCpuList(online, join(paths.cpuDir, 'online'));
    const presentLookup = new Set(presentSet);
    const onlineLookup = new Set(onlineSet);
    const nodes = readNodes(paths);
    const nodeOf = new Map<number, number>();
    for (const n of nodes) for (const c of n.cpus) nodeOf.set(c, n.id);
    const indexes = [...new Set<number>([...presentSet, ...listNumbered(paths.cpuDir, /^cpu(\d+)$/)])].sort((a, b) => a - b);

    /** CPUs whose cached reading names a CPU that came or went. */
    const dirty = new Set<number>();
    let changedCpus = new Set<number>();
    if (!last || last.possible !== possible) {
      this.cache.clear();
    } else {
      const changed = symmetricDifference(new Set(last.presentSet), presentLookup);
      for (const c of symmetricDifference(new Set(last.onlineSet), onlineLookup)) changed.add(c);
      changedCpus = changed;
      for (const [index, entry] of this.cache) {
        for (const c of changed) {
          if (entry.related.has(c)) {
            dirty.add(index);
            break;
          }
        }
      }
    }
    const wanted = new Set(indexes);
    for (const index of this.cache.keys()) if (!wanted.has(index)) this.cache.delete(index);
    const keep = (node: CpuNode) => {
      this.cache.set(node.index, { node, related: relatedCpus(node) });
      return node;
    };
    // The CPUs that came, went or are new to us are read whole; the CPUs
    // their old or fresh readings name have only their shared lists re-read.
    const fresh: CpuNode[] = [];
    const done = new Set<number>();
    for (const index of indexes) {
      if (this.cache.has(index) && !changedCpus.has(index)) continue;
      fresh.push(keep(readCpu(paths, index, presentLookup, onlineLookup, nodeOf)));
      done.add(index);
    }
    const touched = new Map<SharedField, Set<number>>();
    for (const n of fresh) {
      for (const [field, set] of sharedSets(n)) {
        const t = touched.get(field) ?? new Set<number>();
        for (const c of set) t.add(c);
        touched.set(field, t);
      }
    }
    const refresh = (index: number) => {
      const entry = this.cache.get(index);
      if (done.has(index) || !entry) return;
      done.add(index);
      keep(refreshShared(paths, entry.node, changedCpus, touched));
    };
    for (const index of dirty) refresh(index);
    for (const n of fresh) for (const c of this.cache.get(n.index)!.related) refresh(c);

    this.kernelMax ??= readInt(join(paths.cpuDir, 'kernel_max')) ?? 0;
    this.vulnerabilities ??= readVulnerabilities(paths);
    const tree: CpuTree = {
      possible,
      present,
      online,
      offline: readTrimmed(join(paths.cpuDir, 'offline')) ?? '',
      kernelMax: this.kernelMax,
      presentSet,
      onlineSet,
      cpus: indexes.map((index) => {
        const node = this.cache.get(index)!.node;
        return { ...node, present: presentLookup.has(index), online: onlineLookup.has(index) };
      }),
      nodes,
      vulnerabilities: this.vulnerabilities,
      dispatching: readDispatching(paths),
    };
    this.last = tree;
    return tree;
  }
}
