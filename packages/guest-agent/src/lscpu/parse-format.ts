/**
 * `lscpu --parse` (compatibility columns): "# CPU,Core,Socket,Node,,L1d,..."
 * then one row per online CPU, with lscpu's logical core and socket numbers
 * (the order in which distinct sibling sets appear) and logical cache
 * instance numbers.
 */
import { CpuTree } from '../sysfs/cpu-tree';
import { summarizeCaches } from './caches';
import { lscpuTopology } from './topology';

const HEADER = [
  '# The following is the parsable format, which can be fed to other',
  '# programs. Each different item in every column has an unique ID',
  '# starting usually from zero.',
];

export function lscpuParse(tree: CpuTree): string {
  const topo = lscpuTopology(tree);
  const caches = summarizeCaches(tree);
  const columns = ['CPU', 'Core', 'Socket'];
  if (topo.books) columns.push('Book');
  if (topo.drawers) columns.push('Drawer');
  columns.push('Node');
  const header = `# ${columns.join(',')}${caches.length ? `,,${caches.map((c) => c.name).join(',')}` : ''}`;
  const online = new Set(tree.onlineSet);
  const id = (m: Map<number, number>, cpu: number) => (m.has(cpu) ? String(m.get(cpu)) : '');
  const rows = tree.cpus
    .filter((cpu) => online.has(cpu.index))
    .map((cpu) => {
      const cells = [String(cpu.index), id(topo.logicalCore, cpu.index), id(topo.logicalSocket, cpu.index)];
      if (topo.books) cells.push(id(topo.logicalBook, cpu.index));
      if (topo.drawers) cells.push(id(topo.logicalDrawer, cpu.index));
      cells.push(tree.nodes.length && cpu.node >= 0 ? String(cpu.node) : '');
      const cacheCells = caches.map((c) => id(c.instanceOf, cpu.index));
      return caches.length ? `${cells.join(',')},,${cacheCells.join(',')}` : cells.join(',');
    });
  return [...HEADER, header, ...rows].join('\n') + '\n';
}
