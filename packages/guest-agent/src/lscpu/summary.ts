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
import { CpuType, CpuTypes } from '../proc/cpuinfo-types';
import { summarizeCaches } from './caches';
import { humanSize } from './human-size';
import { lscpuTopology } from './topology';

export type SummaryLine = [label: string, value: string];

/**
 * lscpu_read_architecture: on the live system the kernel's architecture
 * implies 32-bit support (x86, s390, sparc64) or 64-bit (aarch64); in a
 * dumped tree only the flags and the LoongArch ISA say anything.
 */
function opModes(live: boolean, flags: string, isa: string | undefined): string | undefined {
  const arch = machine();
  let bit32 = false;
  let bit64 = false;
  if (live) {
    if (['x86_64', 'i386', 'i686', 's390x', 's390', 'sparc64'].includes(arch)) bit32 = true;
    if (arch === 'aarch64') bit64 = true;
  }
  const f = ` ${flags} `;
  if (f.includes(' lm ') || f.includes(' zarch ') || f.includes(' sun4v ') || f.includes(' sun4u ')) bit32 = bit64 = true;
  const i = ` ${isa ?? ''} `;
  if (i.includes(' loongarch32 ') || i.includes(' loongarch32s ') || i.includes(' loongarch32r ')) bit32 = true;
  if (i.includes(' loongarch64 ')) bit64 = true;
  if (live && arch === 'ppc64') bit32 = bit64 = true;
  else if (live && arch === 'ppc') bit32 = true;
  if (bit32 && bit64) return '32-bit, 64-bit';
  if (bit32) return '32-bit';
  if (bit64) return '64-bit';
  return undefined;
}

/** RISC-V types are those whose ISA string starts with a base ISA; lscpu shows the string with spaces for underscores. */
function riscvIsa(isa: string | undefined): string | undefined {
  if (!isa || !/^rv(32|64|128)/i.test(isa)) return undefined;
  return isa.split('_').join(' ');
}

const DISPATCHING_MODES = ['horizontal', 'vertical'];

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
  /** Every CPU type cpuinfo describes, one block each. */
  cpuTypes: CpuTypes;
  /** The running system rather than a --sysroot tree: lscpu then also trusts the kernel's architecture. */
  live?: boolean;
}

export function lscpuSummary({ tree, cpuTypes, dmi, virt = {}, sysinfo, live = false }: SummaryInput): SummaryLine[] {
  const lines: SummaryLine[] = [];
  const add = (label: string, value: string | number | undefined) => {
    if (value !== undefined && value !== '') lines.push([label, String(value)]);
  };
  const types = cpuTypes.types;
  const main: CpuType = types[0] ?? {};
  add('Architecture:', machine());
  add('CPU op-mode(s):', opModes(live, main.flags ?? '', main.isa));
  add('Address sizes:', main.addressSizes);
  add('Byte Order:', endianness() === 'LE' ? 'Little Endian' : 'Big Endian');
  add('CPU(s):', tree.presentSet.length);
  add('On-line CPU(s) list:', formatCpuList(tree.onlineSet));
  const online = new Set(tree.onlineSet);
  const offline = tree.presentSet.filter((c) => !online.has(c));
  if (offline.length > 0) add('Off-line CPU(s) list:', formatCpuList(offline));

  add('Vendor ID:', main.vendor);
  add('BIOS Vendor ID:', dmi?.manufacturer);
  types.forEach((t, i) => {
    const first = i === 0;
    lines.push(['Model name:', t.modelName ?? '-']);
    if (first && (dmi?.version !== undefined || dmi?.partNumber !== undefined)) {
      const mhz = dmi.currentSpeed;
      add('BIOS Model name:', `${dmi.version ?? ''} ${dmi.partNumber ?? ''} CPU @ ${Math.floor(mhz / 1000)}.${Math.floor((mhz % 1000) / 100)}GHz`);
    }
    if (first && dmi && dmi.family > 0) add('BIOS CPU family:', dmi.family);
    if (first) add('Machine type:', sysinfo?.machineType);
    add('CPU family:', t.family);
    add('Model:', t.revision ?? t.model);
    const typeOf = cpuTypes.typeOf;
    const topo = lscpuTopology(tree, {
      include: types.length > 1 ? (cpu) => (typeOf.get(cpu) ?? 0) === i : undefined,
      swTopology: sysinfo?.swTopology,
      maxThreadId: t.maxThreadId,
    });
    add('Thread(s) per core:', topo.threadsPerCore);
    add('Core(s) per socket:', topo.coresPerSocket);
    if (topo.books) {
      add('Socket(s) per book:', topo.socketsPerBook);
      if (topo.drawersPerSystem || topo.drawers) {
        add('Book(s) per drawer:', topo.booksPerDrawer);
        add('Drawer(s):', topo.drawersPerSystem || topo.drawers);
      } else {
        add('Book(s):', topo.booksPerDrawer || topo.books);
      }
    } else {
      add('Socket(s):', topo.socketsPerBook || topo.sockets);
    }
    add('Stepping:', t.stepping);
    add('CPU dynamic MHz:', t.dynamicMhz);
    add('CPU static MHz:', t.staticMhz);
    if (t.bogomips !== undefined) add('BogoMIPS:', (Number.parseFloat(t.bogomips) || 0).toFixed(2));
    if (first && tree.dispatching !== undefined) add('Dispatching mode:', DISPATCHING_MODES[tree.dispatching]);
    add('Flags:', t.flags);
    const isa = riscvIsa(t.isa);
    if (isa) {
      add('ISA:', isa);
      add('MMU:', t.mmu);
    }
  });

  const flags = ` ${main.flags ?? ''} `;
  if (flags.includes(' svm ')) add('Virtualization:', 'AMD-V');
  else if (flags.includes(' vmx ')) add('Virtualization:', 'VT-x');
  add('Hypervisor:', virt.hypervisor);
  if (virt.vendor) {
    add('Hypervisor vendor:', virt.vendor);
    add('Virtualization type:', virt.type);
  }

  for (const c of summarizeCaches(tree)) {
    const count = `${c.instances} ${c.instances === 1 ? 'instance' : 'instances'}`;
    add(`${c.name} cache:`, `${humanSize(c.instanceBytes * c.instances)} (${count})`);
  }
  for (const c of cpuTypes.extraCaches) if (c.bytes > 0) add(`${c.name} cache:`, humanSize(c.bytes));
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
