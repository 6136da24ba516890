/**
 * Caches as lscpu names and counts them: "L1d", "L1i", "L2", "L3"; an
 * instance is a distinct set of CPUs sharing it, and the summary's size is
 * one instance's size times the number of instances.
 */
import { CacheInfo, CpuTree } from '../sysfs/cpu-tree';
import { parseKernelSize } from './human-size';

export interface CacheSummary {
  name: string;
  instanceBytes: number;
  instances: number;
  /** Each CPU's instance number for lscpu -p: the kernel's cache id where it has one, else the order of appearance. */
  instanceOf: Map<number, number>;
}

export function cacheName(c: CacheInfo): string {
  const suffix = c.type === 'Data' ? 'd' : c.type === 'Instruction' ? 'i' : '';
  return `L${c.level}${suffix}`;
}

export function summarizeCaches(tree: CpuTree): CacheSummary[] {
  const byName = new Map<string, { size: number; shares: string[]; instanceOf: Map<number, number> }>();
  for (const cpu of tree.cpus) {
    for (const cache of cpu.caches) {
      const name = cacheName(cache);
      let entry = byName.get(name);
      if (!entry) {
        entry = { size: parseKernelSize(cache.size), shares: [], instanceOf: new Map() };
        byName.set(name, entry);
      }
      let i = entry.shares.indexOf(cache.sharedCpuList);
      if (i < 0) {
        entry.shares.push(cache.sharedCpuList);
        i = entry.shares.length - 1;
      }
      entry.instanceOf.set(cpu.index, cache.id >= 0 ? cache.id : i);
    }
  }
  return [...byName.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([name, e]) => ({ name, instanceBytes: e.size, instances: e.shares.length, instanceOf: e.instanceOf }));
}
