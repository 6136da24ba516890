/**
 * lscpu's human summary (util-linux 2.38, as printed to a pipe): the same
 * labels, order and value formats, computed from the same files, so an
 * operator can diff `vcpuctl-agent snapshot` against `lscpu` line by line.
 *
 * Not reproduced: the CPU frequency lines (cpufreq, absent in guests). The
 * hypervisor lines follow lscpu's file sources (proc/virtualization.ts); on
 * the live system lscpu also asks CPUID, which no file holds.
 *
 * The SMBIOS lines ("BIOS Vendor ID", ...) are shown only for the live
 * system, as lscpu does: with --sysroot it does not read firmware tables.
 */
import { endianness, machine } from 'node:os';
import { CpuModelInfo } from '../proc/cpuinfo';
import { formatCpuList } from '@vcpuctl/proto';
import { CpuTree } from '../sysfs/cpu-tree';
import { DmiProcessor } from '../sysfs/dmi-processor';
import { Virtualization } from '../proc/virtualization';
import { Sysinfo } from '../proc/sysinfo';
import { summarizeCaches } from './caches';
import { humanSize } from './human-size';
import { lscpuTopology } from './topology';

export type SummaryLine = [label: string, value: string];

function opModes(model: CpuModelInfo): string | undefined {
  if (model.flags.includes('lm')) return '32-bit, 64-bit';
  if (model.architecture === 'i686' || model.architecture === 'i386') return '32-bit';
  return undefined;
}

/** "spectre_v1" -> "Spectre v1", as lscpu titles the files of cpu/vulnerabilities. */
function vulnerabilityTitle(name: string): string {
  const spaced = name.replace(/_/g, ' ');
  return spaced.charAt(0).toUpperCase() + spaced.slice(1);
}

/** lscpu turns "Mitigation: a; b: c" into "Mitigation; a; b c". */
function vulnerabilityText(text: string): string {
  if (!text.startsWith('Mitigation')) return text;
  const rest = text.slice('Mitigation'.length + 1).replace(/:/g, '');
  return `Mitigation;${rest}`;
}

/** What the summary is computed from: the CPU tree and the facts read once (snapshot.ts's TreeReading). */
export interface SummaryInput {
  tree: CpuTree;
  model: CpuModelInfo;
  dmi?: DmiProcessor | undefined;
  virt?: Virtualization;
  sysinfo?: Sysinfo | undefined;
}

export function lscpuSummary({ tree, model, dmi, virt = {}, sysinfo }: SummaryInput): SummaryLine[] {
  const lines: SummaryLine[] = [];
  const add = (label: string, value: string | number | undefined) => {
    if (value !== undefined && value !== '') lines.push([label, String(value)]);
  };
  add('Architecture:', machine());
  add('CPU op-mode(s):', opModes(model));
  add('Address sizes:', model.addressSizes);
  add('Byte Order:', endianness() === 'LE' ? 'Little Endian' : 'Big Endian');
  add('CPU(s):', tree.presentSet.length);
  add('On-line CPU(s) list:', formatCpuList(tree.onlineSet));
  const online = new Set(tree.onlineSet);
  const offline = tree.presentSet.filter((c) => !online.has(c));
  if (offline.length > 0) add('Off-line CPU(s) list:', formatCpuList(offline));

  const topo = lscpuTopology(tree);
  add('Vendor ID:', model.vendor);
  add('BIOS Vendor ID:', dmi?.manufacturer);
  add('Model name:', model.modelName);
  if (dmi?.version !== undefined || dmi?.partNumber !== undefined) {
    const mhz = dmi.currentSpeed;
    add('BIOS Model name:', `${dmi.version ?? ''} ${dmi.partNumber ?? ''} CPU @ ${Math.floor(mhz / 1000)}.${Math.floor((mhz % 1000) / 100)}GHz`);
  }
  if (dmi && dmi.family > 0) add('BIOS CPU family:', dmi.family);
  add('Machine type:', sysinfo?.machineType);
  add('CPU family:', model.family);
  add('Model:', model.model);
  if (topo.threadsPerCore) add('Thread(s) per core:', topo.threadsPerCore);
  add('Core(s) per socket:', topo.coresPerSocket);
  if (topo.books) {
    add('Socket(s) per book:', topo.socketsPerBook);
    if (topo.drawers) {
      add('Book(s) per drawer:', topo.booksPerDrawer);
      add('Drawer(s):', topo.drawers);
    } else {
      add('Book(s):', topo.books);
    }
  } else {
    add('Socket(s):', topo.sockets);
  }
  add('Stepping:', model.stepping);
  add('BogoMIPS:', model.bogomips);
  add('Flags:', model.flagsLine);
  if (model.flags.includes('vmx')) add('Virtualization:', 'VT-x');
  else if (model.flags.includes('svm')) add('Virtualization:', 'AMD-V');
  add('Hypervisor:', virt.hypervisor);
  if (virt.vendor) {
    add('Hypervisor vendor:', virt.vendor);
    add('Virtualization type:', virt.type);
  }

  for (const c of summarizeCaches(tree)) {
    const count = `${c.instances} ${c.instances === 1 ? 'instance' : 'instances'}`;
    add(`${c.name} cache:`, `${humanSize(c.instanceBytes * c.instances)} (${count})`);
  }
  if (tree.nodes.length > 0) {
    add('NUMA node(s):', tree.nodes.length);
    for (const n of tree.nodes) lines.push([`NUMA node${n.id} CPU(s):`, formatCpuList(n.cpus)]);
  }
  for (const v of tree.vulnerabilities) add(`Vulnerability ${vulnerabilityTitle(v.name)}:`, vulnerabilityText(v.text));
  return lines;
}

/** Aligned as libsmartcols aligns lscpu's two columns: labels padded to the widest plus one space. */
export function renderSummary(lines: SummaryLine[]): string {
  const width = Math.max(0, ...lines.map(([label]) => label.length)) + 1;
  return lines.map(([label, value]) => `${label.padEnd(width)}${value}`.trimEnd()).join('\n') + '\n';
}
