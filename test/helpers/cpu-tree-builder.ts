/**
 * Builds /sys and /proc trees the way a Linux kernel lays them out, for
 * topologies this machine does not have (several sockets, SMT, NUMA nodes,
 * offline and not-yet-present CPUs). The real `lscpu --sysroot` reads the
 * same trees and is the judge of the agent's output, so a mistake here shows
 * up as a disagreement with lscpu, not as a silently wrong expectation.
 *
 * Kernel behaviour mirrored (x86, Linux 6.x):
 * - an offline CPU keeps cpuN/online ("0") but loses topology/ and cache/;
 * - sibling lists, node cpulists and cache shared_cpu_lists name online CPUs only;
 * - /proc/cpuinfo has a block per online CPU;
 * - CPU0 has no online file (not offlinable) unless `cpu0Hotplug`.
 */
import { closeSync, constants, existsSync, fstatSync, ftruncateSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { formatKernelCpuList } from '@vcpuctl/proto';

export interface TreeSpec {
  sockets: number;
  coresPerSocket: number;
  threadsPerCore: number;
  /** NUMA nodes; sockets are split evenly across them. 0 = no node directory. */
  nodes?: number;
  /** CPUs (logical indexes) that are present but offline. */
  offline?: number[];
  /** How many CPUs are present; the rest up to `possible` are not (not yet hot-added). */
  present?: number;
  /** possible CPUs (defaults to sockets*cores*threads). */
  possible?: number;
  /** core_id stride, to mimic machines whose core ids have gaps (Intel: 0,1,2,3,4,8,9,...). */
  coreIdStride?: number;
  /** Number CPUs so that thread siblings are N apart (Intel style: 0 and 8) rather than adjacent. */
  siblingsApart?: boolean;
  cpu0Hotplug?: boolean;
  vendor?: 'GenuineIntel' | 'AuthenticAMD';
  modelName?: string;
  l3PerSocketKiB?: number;
  /**
   * Which files a node directory has: the kernel writes both, but some
   * kernels and dumps hold only the hex cpumap, which is what lscpu reads.
   */
  nodeFiles?: 'both' | 'cpumap-only';
  /**
   * Further files under the root, by path relative to it, for the sources
   * lscpu reads besides the CPU tree: /proc/sysinfo (s390), the device tree
   * (POWER), /proc/xen, /proc/bus/pci/devices, /sys/firmware/dmi/tables/DMI.
   */
  extraFiles?: Record<string, string | Buffer>;
  /** /proc/cpuinfo as another architecture's kernel writes it, instead of the generated x86 one. */
  cpuinfo?: string;
  /** s390 books and drawers: sockets are grouped into books of this many, books into drawers. */
  socketsPerBook?: number;
  booksPerDrawer?: number;
  /** s390 cpu/dispatching (0 horizontal, 1 vertical). */
  dispatching?: 0 | 1;
}

interface Place {
  cpu: number;
  socket: number;
  core: number; // global core number
  thread: number;
  node: number;
}

function hexMask(cpus: number[], nbits: number): string {
  const words: number[] = new Array(Math.max(1, Math.ceil(nbits / 32))).fill(0);
  for (const c of cpus) words[Math.floor(c / 32)]! |= 1 << (c % 32);
  const digitsLast = Math.ceil((nbits - 32 * (words.length - 1)) / 4) || 8;
  return words
    .map((w, i) => (w >>> 0).toString(16).padStart(i === words.length - 1 ? digitsLast : 8, '0'))
    .reverse()
    .join(',');
}

/**
 * Changes a sysfs attribute's text in place, as the kernel does: the agent
 * holds `present` and `online` open and re-reads them at offset 0, so a new
 * file put by rename would go unseen. Nor writeFileSync: it truncates, then
 * writes, and a reader in between (the agent polls every few ms; a loaded
 * machine can stall the writer there) reads an empty list, which the kernel
 * never shows (the boot CPU is always online; cpuN/online holds 0 or 1).
 * So the file never shrinks below the new text: it grows first by newlines,
 * takes the text over its head in one write (padded with newlines, which
 * every reader trims), and only then is cut to length. A reader may still
 * catch old and new bytes mixed (a regular file is not a sysfs attribute),
 * but never an empty file.
 */
export function rewriteInPlace(path: string, text: string): void {
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o666);
  try {
    const data = Buffer.from(text);
    const old = fstatSync(fd).size;
    if (data.length > old) writeSync(fd, Buffer.alloc(data.length - old, '\n'), 0, data.length - old, old);
    const padded = Buffer.alloc(Math.max(old, data.length), '\n');
    data.copy(padded);
    writeSync(fd, padded, 0, padded.length, 0);
    ftruncateSync(fd, data.length);
  } finally {
    closeSync(fd);
  }
}

export function layout(spec: TreeSpec): Place[] {
  const places: Place[] = [];
  const cores = spec.sockets * spec.coresPerSocket;
  const nodes = Math.max(1, spec.nodes ?? 1);
  for (let s = 0; s < spec.sockets; s++) {
    for (let c = 0; c < spec.coresPerSocket; c++) {
      for (let t = 0; t < spec.threadsPerCore; t++) {
        const core = s * spec.coresPerSocket + c;
        const cpu = spec.siblingsApart ? t * cores + core : core * spec.threadsPerCore + t;
        places.push({ cpu, socket: s, core, thread: t, node: Math.floor((s * nodes) / spec.sockets) });
      }
    }
  }
  return places.sort((a, b) => a.cpu - b.cpu);
}

export class CpuTreeBuilder {
  readonly root: string;
  private readonly spec: TreeSpec;
  private readonly places: Place[];
  private readonly possible: number;
  /** CPUs whose online file write() does not create yet (see hotAddOnlineFileLater). */
  private readonly withheld = new Set<number>();
  private present: Set<number>;
  private online: Set<number>;

  constructor(spec: TreeSpec, root?: string) {
    this.spec = spec;
    this.root = root ?? mkdtempSync(join(tmpdir(), 'vcpuctl-tree-'));
    this.places = layout(spec);
    this.possible = spec.possible ?? this.places.length;
    const presentCount = spec.present ?? this.places.length;
    this.present = new Set(this.places.filter((p) => p.cpu < presentCount).map((p) => p.cpu));
    this.online = new Set([...this.present].filter((c) => !(spec.offline ?? []).includes(c)));
    this.write();
  }

  get cpuDir(): string {
    return join(this.root, 'sys/devices/system/cpu');
  }

  /** Simulates `virsh setvcpus --live` adding CPU `cpu`: present, offline, as the kernel leaves it without a udev rule. */
  hotAdd(cpu: number): void {
    this.present.add(cpu);
    this.write();
  }

  /**
   * A hot-add in the order the kernel may show it: `present` names the CPU
   * first, and its sysfs directory (with the `online` file) appears
   * `delayMs` later.
   */
  async hotAddOnlineFileLater(cpu: number, delayMs: number): Promise<void> {
    this.withheld.add(cpu);
    this.hotAdd(cpu);
    await new Promise((r) => setTimeout(r, delayMs));
    this.withheld.delete(cpu);
    this.write();
  }

  /** Simulates the kernel carrying out `echo 0|1 > cpuN/online`. */
  setOnline(cpu: number, online: boolean): void {
    const file = join(this.cpuDir, `cpu${cpu}/online`);
    if (existsSync(file) && lstatSync(file).isFile()) rewriteInPlace(file, online ? '1\n' : '0\n');
    if (online) this.online.add(cpu);
    else this.online.delete(cpu);
    this.write();
  }

  remove(cpu: number): void {
    this.present.delete(cpu);
    this.online.delete(cpu);
    this.write();
  }

  /**
   * Re-derives the tree from the current present/online sets, as the kernel
   * would show it now. Files are replaced by rename, so a reader polling
   * them (the agent) never sees a half-written file.
   */
  write(): void {
    const { spec } = this;
    const sys = join(this.root, 'sys/devices/system');
    let seq = 0;
    const put = (path: string, text: string) => {
      mkdirSync(dirname(path), { recursive: true });
      const tmp = `${path}.tmp${seq++}`;
      writeFileSync(tmp, `${text}\n`);
      renameSync(tmp, path);
    };
    for (const p of this.places) {
      const dir = join(sys, `cpu/cpu${p.cpu}`);
      if (!this.present.has(p.cpu)) rmSync(dir, { recursive: true, force: true });
      else if (!this.online.has(p.cpu)) {
        rmSync(join(dir, 'topology'), { recursive: true, force: true });
        rmSync(join(dir, 'cache'), { recursive: true, force: true });
      }
    }
    const cpuDir = join(sys, 'cpu');
    const nbits = this.possible;
    const online = this.places.filter((p) => this.online.has(p.cpu));
    const present = [...this.present].sort((a, b) => a - b);
    const onlineIds = online.map((p) => p.cpu);
    put(join(cpuDir, 'possible'), formatKernelCpuList([...Array(this.possible).keys()]));
    // A newly present CPU's online file comes first: an agent in another
    // process that sees it in `present` may write that file at once.
    for (const cpu of present) {
      const onlineFile = join(cpuDir, `cpu${cpu}/online`);
      if ((cpu !== 0 || spec.cpu0Hotplug) && !this.withheld.has(cpu) && !existsSync(onlineFile)) put(onlineFile, this.online.has(cpu) ? '1' : '0');
    }
    // present and online change in place, as sysfs attributes do: a reader
    // holding them open (the agent) sees the new contents at offset 0, and
    // never an empty list (rewriteInPlace).
    rewriteInPlace(join(cpuDir, 'present'), `${formatKernelCpuList(present)}\n`);
    rewriteInPlace(join(cpuDir, 'online'), `${formatKernelCpuList(onlineIds)}\n`);
    put(join(cpuDir, 'offline'), formatKernelCpuList([...Array(this.possible).keys()].filter((c) => !this.online.has(c))));
    put(join(cpuDir, 'kernel_max'), '8191');
    if (spec.dispatching !== undefined) put(join(cpuDir, 'dispatching'), String(spec.dispatching));
    put(join(cpuDir, 'vulnerabilities/meltdown'), 'Not affected');
    put(join(cpuDir, 'vulnerabilities/spectre_v1'), 'Mitigation; usercopy/swapgs barriers and __user pointer sanitization');

    const coreStride = spec.coreIdStride ?? 1;
    const l3KiB = spec.l3PerSocketKiB ?? 16384;
    for (const p of this.places) {
      if (!this.present.has(p.cpu)) continue;
      const dir = join(cpuDir, `cpu${p.cpu}`);
      mkdirSync(dir, { recursive: true });
      // The online file is left alone once it exists: the code under test
      // writes it, and rewriting it here could undo a write not yet seen.
      const onlineFile = join(dir, 'online');
      if ((p.cpu !== 0 || spec.cpu0Hotplug) && !this.withheld.has(p.cpu) && !existsSync(onlineFile)) put(onlineFile, this.online.has(p.cpu) ? '1' : '0');
      if (!this.online.has(p.cpu)) continue;
      const threads = online.filter((q) => q.core === p.core).map((q) => q.cpu);
      const pkg = online.filter((q) => q.socket === p.socket).map((q) => q.cpu);
      const t = join(dir, 'topology');
      put(join(t, 'core_id'), String((p.core % spec.coresPerSocket) * coreStride));
      put(join(t, 'physical_package_id'), String(p.socket));
      put(join(t, 'die_id'), '0');
      put(join(t, 'cluster_id'), String(p.core));
      put(join(t, 'thread_siblings'), hexMask(threads, nbits));
      put(join(t, 'thread_siblings_list'), formatKernelCpuList(threads));
      put(join(t, 'core_cpus'), hexMask(threads, nbits));
      put(join(t, 'core_cpus_list'), formatKernelCpuList(threads));
      put(join(t, 'core_siblings'), hexMask(pkg, nbits));
      put(join(t, 'core_siblings_list'), formatKernelCpuList(pkg));
      put(join(t, 'package_cpus'), hexMask(pkg, nbits));
      put(join(t, 'package_cpus_list'), formatKernelCpuList(pkg));
      put(join(t, 'die_cpus_list'), formatKernelCpuList(pkg));
      if (spec.socketsPerBook) {
        const bookOf = (q: Place) => Math.floor(q.socket / spec.socketsPerBook!);
        const drawerOf = (q: Place) => Math.floor(bookOf(q) / (spec.booksPerDrawer ?? Number.MAX_SAFE_INTEGER));
        const book = online.filter((q) => bookOf(q) === bookOf(p)).map((q) => q.cpu);
        put(join(t, 'book_id'), String(bookOf(p)));
        put(join(t, 'book_siblings'), hexMask(book, nbits));
        put(join(t, 'book_siblings_list'), formatKernelCpuList(book));
        if (spec.booksPerDrawer) {
          const drawer = online.filter((q) => drawerOf(q) === drawerOf(p)).map((q) => q.cpu);
          put(join(t, 'drawer_id'), String(drawerOf(p)));
          put(join(t, 'drawer_siblings'), hexMask(drawer, nbits));
          put(join(t, 'drawer_siblings_list'), formatKernelCpuList(drawer));
        }
      }
      const caches: [number, string, string, number[], number][] = [
        [1, 'Data', '48K', threads, p.core],
        [1, 'Instruction', '32K', threads, p.core],
        [2, 'Unified', '1280K', threads, p.core],
        [3, 'Unified', `${l3KiB}K`, pkg, p.socket],
      ];
      caches.forEach(([level, type, size, shared, id], i) => {
        const c = join(dir, `cache/index${i}`);
        put(join(c, 'level'), String(level));
        put(join(c, 'type'), type);
        put(join(c, 'size'), size);
        put(join(c, 'id'), String(id));
        put(join(c, 'shared_cpu_list'), formatKernelCpuList(shared));
        put(join(c, 'shared_cpu_map'), hexMask(shared, nbits));
        put(join(c, 'coherency_line_size'), '64');
        put(join(c, 'ways_of_associativity'), '8');
        put(join(c, 'number_of_sets'), '64');
      });
    }
    const nodes = spec.nodes ?? 1;
    for (let n = 0; n < nodes; n++) {
      const cpus = online.filter((p) => p.node === n).map((p) => p.cpu);
      if (spec.nodeFiles !== 'cpumap-only') put(join(sys, `node/node${n}/cpulist`), formatKernelCpuList(cpus));
      put(join(sys, `node/node${n}/cpumap`), hexMask(cpus, nbits));
    }
    if (nodes > 0) {
      put(join(sys, 'node/online'), formatKernelCpuList([...Array(nodes).keys()]));
      put(join(sys, 'node/possible'), formatKernelCpuList([...Array(nodes).keys()]));
    }
    this.writeCpuinfo(online, put);
    for (const [rel, content] of Object.entries(spec.extraFiles ?? {})) {
      mkdirSync(dirname(join(this.root, rel)), { recursive: true });
      writeFileSync(join(this.root, rel), content);
    }
  }

  /**
   * Plays the kernel's part for writes to cpuN/online made by the code under
   * test: polls the files and re-derives the tree when one changes.
   * Returns a function that stops it.
   */
  simulateKernel(intervalMs = 5): () => void {
    const timer = setInterval(() => {
      for (const cpu of this.present) {
        const file = join(this.cpuDir, `cpu${cpu}/online`);
        let regular = false;
        try {
          regular = lstatSync(file).isFile();
        } catch {
          // not there: CPU0 without hotplug
        }
        if (!regular) continue; // a test put a device node here to make the kernel refuse
        const wanted = readFileSync(file, 'utf8').trim() === '1';
        if (wanted !== this.online.has(cpu)) this.setOnline(cpu, wanted);
      }
    }, intervalMs);
    return () => clearInterval(timer);
  }

  /** CPUs the kernel lists as online now (read back from the tree). */
  onlineCpus(): number[] {
    return [...this.online].sort((a, b) => a - b);
  }

  /** Names of the files in the tree's cpu directory, for assertions that nothing changed. */
  listCpuDir(): string[] {
    return readdirSync(this.cpuDir).sort();
  }

  private writeCpuinfo(online: Place[], put: (path: string, text: string) => void): void {
    const { spec } = this;
    const vendor = spec.vendor ?? 'GenuineIntel';
    const intel = vendor === 'GenuineIntel';
    const blocks = online.map((p) => {
      const pkg = online.filter((q) => q.socket === p.socket);
      const cores = new Set(pkg.map((q) => q.core)).size;
      return [
        `processor\t: ${p.cpu}`,
        `vendor_id\t: ${vendor}`,
        `cpu family\t: ${intel ? 6 : 25}`,
        `model\t\t: ${intel ? 143 : 17}`,
        `model name\t: ${spec.modelName ?? (intel ? 'Intel(R) Xeon(R) Platinum 8480+' : 'AMD EPYC 9654 96-Core Processor')}`,
        `stepping\t: ${intel ? 8 : 1}`,
        'microcode\t: 0x2b000461',
        'cpu MHz\t\t: 2000.000',
        `cache size\t: ${spec.l3PerSocketKiB ?? 16384} KB`,
        `physical id\t: ${p.socket}`,
        `siblings\t: ${pkg.length}`,
        `core id\t\t: ${(p.core % spec.coresPerSocket) * (spec.coreIdStride ?? 1)}`,
        `cpu cores\t: ${cores}`,
        `apicid\t\t: ${p.cpu * 2}`,
        `initial apicid\t: ${p.cpu * 2}`,
        'fpu\t\t: yes',
        'fpu_exception\t: yes',
        'cpuid level\t: 31',
        'wp\t\t: yes',
        `flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology cpuid pni pclmulqdq ${intel ? 'vmx' : 'svm'} ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm`,
        'bugs\t\t: spectre_v1 spectre_v2',
        'bogomips\t: 4000.00',
        'clflush size\t: 64',
        'cache_alignment\t: 64',
        'address sizes\t: 46 bits physical, 57 bits virtual',
        'power management:',
        '',
      ].join('\n');
    });
    put(join(this.root, 'proc/cpuinfo'), spec.cpuinfo ?? blocks.join('\n'));
  }

  /** Gives the tree a DMI identity, as libvirt gives a guest its domain UUID. */
  setProductUuid(uuid: string): void {
    const path = join(this.root, 'sys/class/dmi/id/product_uuid');
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${uuid}\n`);
  }

  /**
   * An SMBIOS table as the kernel exports it (/sys/firmware/dmi/tables/DMI):
   * a BIOS structure (type 0) naming `biosVendor`, a system structure
   * (type 1) naming `manufacturer` and `product`, and the end marker.
   */
  static dmiTable(t: { biosVendor: string; manufacturer: string; product: string }): Buffer {
    const struct = (type: number, handle: number, formatted: number[], strings: string[]) => {
      const head = Buffer.from([type, 4 + formatted.length, handle & 0xff, handle >> 8, ...formatted]);
      const tail = strings.length ? Buffer.from(`${strings.join('\0')}\0\0`, 'latin1') : Buffer.from([0, 0]);
      return Buffer.concat([head, tail]);
    };
    return Buffer.concat([
      // type 0: vendor = string 1, version = string 2, then BIOS fields we leave zero
      struct(0, 0, [1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [t.biosVendor, '1.16.3']),
      // type 1: manufacturer = 1, product = 2, version = 3, serial = 0, then a zero UUID
      struct(1, 0x100, [1, 2, 3, 0, ...new Array(16).fill(0), 6, 0, 0], [t.manufacturer, t.product, '1.0']),
      struct(127, 0x7f00, [], []),
    ]);
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
