/**
 * `lscpu --parse` (compatibility columns): "# CPU,Core,Socket,Node,,L1d,..."
 * then one row per online CPU, with lscpu's logical core and socket numbers
 * (the order in which distinct sibling sets appear) and logical cache
 * instance numbers.
 */
import { CpuTree } from '../sysfs/cpu-tree';
import { summarizeCaches } from './caches';
import { lscpuTopology } from './topology';
import { CpuTypes } from '../proc/cpuinfo-types';

const HEADER = ['# The following is the parsable format, which can be fed to other', '# programs. Each different item in every column has an unique ID', '# starting usually from zero.'];

/**
 * @param cpuTypes where cpuinfo has several CPU types (big.LITTLE), lscpu
 *   numbers cores and sockets within each type; absent means one type.
 */
export function lscpuParse(tree: CpuTree, cpuTypes?: Pick<CpuTypes, 'types' | 'typeOf'>): string {
  const topo = { logicalCore: new Map<number, number>(), logicalSocket: new Map<number, number>() };
  const ntypes = Math.max(1, cpuTypes?.types.length ?? 1);
  for (let i = 0; i < ntypes; i++) {
    const t = lscpuTopology(tree, { include: ntypes > 1 ? (cpu) => (cpuTypes!.typeOf.get(cpu) ?? 0) === i : undefined });
    for (const [cpu, n] of t.logicalCore) topo.logicalCore.set(cpu, n);
    for (const [cpu, n] of t.logicalSocket) topo.logicalSocket.set(cpu, n);
  }
  const caches = summarizeCaches(tree);
  // lscpu's default -p columns: no Book or Drawer even on s390, where they exist.
  const columns = ['CPU', 'Core', 'Socket', 'Node'];
  const header = `# ${columns.join(',')}${caches.length ? `,,${caches.map((c) => c.name).join(',')}` : ''}`;
  const online = new Set(tree.onlineSet);
  const id = (m: Map<number, number>, cpu: number) => (m.has(cpu) ? String(m.get(cpu)) : '');
  const rows = tree.cpus
    .filter((cpu) => online.has(cpu.index))
    .map((cpu) => {
      const cells = [String(cpu.index), id(topo.logicalCore, cpu.index), id(topo.logicalSocket, cpu.index)];
      cells.push(tree.nodes.length && cpu.node >= 0 ? String(cpu.node) : '');
      const cacheCells = caches.map((c) => id(c.instanceOf, cpu.index));
      return caches.length ? `${cells.join(',')},,${cacheCells.join(',')}` : cells.join(',');
    });
  return [...HEADER, header, ...rows].join('\n') + '\n';
}
