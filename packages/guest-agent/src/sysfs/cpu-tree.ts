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
  let names: string[] = [];
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

export function readCpuTree(paths: TreePaths): CpuTree {
  const possible = readTrimmed(join(paths.cpuDir, 'possible'));
  if (possible === undefined) {
    throw guestDataError(`${paths.cpuDir}/possible is missing: not a Linux CPU sysfs tree`);
  }
  const present = readTrimmed(join(paths.cpuDir, 'present')) ?? possible;
  const online = readTrimmed(join(paths.cpuDir, 'online')) ?? present;
  const presentSet = parseGuestCpuList(present, join(paths.cpuDir, 'present'));
  const onlineSet = parseGuestCpuList(online, join(paths.cpuDir, 'online'));
  const nodes = readNodes(paths);
  const nodeOf = new Map<number, number>();
  for (const n of nodes) for (const c of n.cpus) nodeOf.set(c, n.id);

  const indexes = new Set<number>([...presentSet, ...listNumbered(paths.cpuDir, /^cpu(\d+)$/)]);
  const presentLookup = new Set(presentSet);
  const onlineLookup = new Set(onlineSet);
  const cpus = [...indexes].sort((a, b) => a - b).map((i) => readCpu(paths, i, presentLookup, onlineLookup, nodeOf));
  return {
    possible,
    present,
    online,
    offline: readTrimmed(join(paths.cpuDir, 'offline')) ?? '',
    kernelMax: readInt(join(paths.cpuDir, 'kernel_max')) ?? 0,
    presentSet,
    onlineSet,
    cpus,
    nodes,
    vulnerabilities: readVulnerabilities(paths),
    dispatching: readDispatching(paths),
  };
}
