/**
 * /proc/cpuinfo read the way util-linux lscpu reads it (lscpu-cputype.c):
 * one parser for every architecture, driven by a table of field names.
 *
 * - A "type" field (vendor, model name, flags...) fills the current CPU
 *   type; when that field is already set, a new type begins. So each
 *   processor block of x86, ARM or RISC-V starts a type, and s390's shared
 *   fields before its per-CPU lines make one type for all.
 * - A "processor" line (or s390's "processor N:" and "cpu number:") switches
 *   the current CPU; the type in force when the next CPU begins is its type.
 * - Identical types (same vendor, model, model name, stepping) are merged
 *   after sorting on those fields, so a heterogeneous ARM system shows one
 *   block per kind of core, in that order; the first is the default type.
 * - ppc prints machine fields after the last CPU; a type holding only a
 *   subset of another's fields is folded into it.
 */

export interface CpuType {
  vendor?: string;
  model?: string;
  modelName?: string;
  stepping?: string;
  family?: string;
  revision?: string;
  flags?: string;
  bogomips?: string;
  addressSizes?: string;
  /** s390: highest thread id in a core; threads per core is this plus one. */
  maxThreadId?: string;
  isa?: string;
  mmu?: string;
  microcode?: string;
  /** s390, from the first CPU of the type. */
  dynamicMhz?: string;
  staticMhz?: string;
}

export interface CpuTypes {
  /** Distinct CPU types, the default (lscpu's "Vendor ID" comes from it) first; empty when cpuinfo names none (lscpu then prints no type block). */
  types: CpuType[];
  /** Index into `types` of each CPU cpuinfo describes. CPUs it does not (offline ones) have the default type. */
  typeOf: Map<number, number>;
  /** First CPU's "cpu MHz" (x86, LoongArch "CPU MHz"). */
  mhz: string;
  /**
   * s390's shared caches, which sysfs does not show (under layers of
   * hypervisors nobody knows which CPUs share them): cpuinfo's "cacheN"
   * lines whose scope is not Private, sorted by name.
   */
  extraCaches: { name: string; bytes: number }[];
}

/** "level=2 type=Unified scope=Shared size=32768K line_size=256 associativity=8" -> L2, bytes; undefined for private or malformed lines, as lscpu skips them. */
function parseCacheLine(value: string): { name: string; bytes: number } | undefined {
  const scope = /scope=(\S*)/.exec(value);
  if (!scope || scope[1]!.startsWith('Private')) return undefined;
  const level = /level=(\d+)/.exec(value);
  const type = /type=(\S+)/.exec(value);
  const size = /size=(\d+)/.exec(value);
  if (!level || !type || !size || !/line_size=\d+/.test(value) || !/associativity=\d+/.test(value)) return undefined;
  const suffix = type[1]!.startsWith('Data') ? 'd' : type[1]!.startsWith('Instruction') ? 'i' : '';
  return { name: `L${level[1]}${suffix}`, bytes: Number(size[1]) * 1024 };
}

type TypeField = keyof CpuType;

/** cpuinfo field name -> the type member it fills (lscpu's type_patterns). */
const TYPE_FIELDS: Record<string, TypeField> = {
  'ASEs implemented': 'flags', // mips
  'Address Sizes': 'addressSizes', // loongarch
  BogoMIPS: 'bogomips', // aarch64
  'CPU Family': 'family', // loongarch
  'CPU Revision': 'revision', // loongarch
  'CPU implementer': 'vendor', // arm, aarch64
  'CPU part': 'model', // arm, aarch64
  'CPU revision': 'revision', // arm, aarch64
  'CPU variant': 'stepping', // arm, aarch64
  Features: 'flags', // arm, aarch64, loongarch
  ISA: 'isa', // loongarch
  'Model Name': 'modelName', // loongarch
  'address sizes': 'addressSizes', // x86
  'bogomips per cpu': 'bogomips', // s390
  cpu: 'modelName', // ppc, sparc
  'cpu family': 'family',
  'cpu model': 'model', // mips
  family: 'family',
  features: 'flags', // s390
  flags: 'flags', // x86
  isa: 'isa', // riscv
  marchid: 'family', // riscv
  'max thread id': 'maxThreadId', // s390
  microcode: 'microcode',
  mimpid: 'model', // riscv
  mmu: 'mmu', // riscv
  model: 'model',
  'model name': 'modelName',
  mvendorid: 'vendor', // riscv
  revision: 'revision',
  stepping: 'stepping',
  type: 'flags', // sparc64
  uarch: 'modelName', // riscv
  vendor: 'vendor',
  vendor_id: 'vendor',
};

type CpuField = 'processor' | 'mhz' | 'bogomips' | 'dynamicMhz' | 'staticMhz';

/** Per-CPU fields (lscpu's cpu_patterns). */
const CPU_FIELDS: Record<string, CpuField> = {
  'CPU MHz': 'mhz', // loongarch
  bogomips: 'bogomips',
  'cpu MHz': 'mhz',
  'cpu MHz dynamic': 'dynamicMhz', // s390
  'cpu MHz static': 'staticMhz', // s390
  'cpu number': 'processor', // s390
  processor: 'processor',
};

/** lscpu copies a field name into 128 bytes; a longer name is cut, and then matches nothing. */
const MAX_KEY_CHARS = 127;

/** "processor 5" -> ["processor", 5]: lscpu strips a trailing number from a key. */
function splitKey(raw: string): [string, number] {
  const key = raw.slice(0, MAX_KEY_CHARS).trimEnd();
  const m = /^(.*?)(\d+)$/.exec(key);
  if (!m || m[1] === '') return [key, -1];
  return [m[1]!.trimEnd(), Number(m[2])];
}

const SORT_FIELDS: TypeField[] = ['vendor', 'model', 'modelName', 'stepping'];

/** lscpu's strcmp_offsets: a missing value sorts first. */
function cmpField(a: string | undefined, b: string | undefined): number {
  if (a === undefined && b === undefined) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpType(a: CpuType, b: CpuType): number {
  for (const f of SORT_FIELDS) {
    const c = cmpField(a[f], b[f]);
    if (c !== 0) return c;
  }
  return 0;
}

/** Fields that decide whether a lone leading type is a subset of the second (the ppc trailer case). */
const SUBSET_FIELDS: TypeField[] = ['model', 'modelName', 'vendor', 'bogomips', 'revision'];

/**
 * @param possible CPUs the kernel can have: lines for other ids are dropped, as lscpu drops them.
 */
export function parseCpuTypes(text: string, possible?: ReadonlySet<number>): CpuTypes {
  const raw: CpuType[] = [];
  const rawTypeOf = new Map<number, CpuType>();
  let currType: CpuType | undefined;
  let currCpu: number | undefined;
  let mhz = '';
  const extraCaches: { name: string; bytes: number }[] = [];

  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const value = line.slice(colon + 1).trim();
    if (value === '') continue;
    const [key, keynum] = splitKey(line.slice(0, colon).trim());

    const typeField = TYPE_FIELDS[key];
    if (typeField) {
      if (!currType || currType[typeField] !== undefined) {
        currType = {};
        raw.push(currType);
      }
      currType[typeField] = value;
      continue;
    }
    if (key === 'cache') {
      const cache = parseCacheLine(value);
      if (cache) extraCaches.push(cache);
      continue;
    }
    const cpuField = CPU_FIELDS[key];
    if (!cpuField) continue;
    if (cpuField === 'processor') {
      if (currCpu !== undefined && currType) rawTypeOf.set(currCpu, currType);
      const id = keynum >= 0 ? keynum : /^\d+/.test(value) ? Number.parseInt(value, 10) : 0;
      currCpu = !possible || possible.has(id) ? id : undefined;
      continue;
    }
    if (currCpu === undefined) continue;
    if (cpuField === 'mhz') {
      if (mhz === '') mhz = value;
    } else if (currType && currType[cpuField] === undefined) {
      currType[cpuField] = value;
    }
  }
  if (currCpu !== undefined && !rawTypeOf.has(currCpu) && currType) rawTypeOf.set(currCpu, currType);

  // Sort (stable, as glibc's merge sort) and merge identical types.
  const sorted = [...raw].sort(cmpType);
  const merged: CpuType[] = [];
  const canonical = new Map<CpuType, CpuType>();
  for (const t of sorted) {
    const last = merged[merged.length - 1];
    if (last && cmpType(last, t) === 0) canonical.set(t, last);
    else {
      merged.push(t);
      canonical.set(t, t);
    }
  }
  if (merged.length === 2) {
    const [sub, main] = merged as [CpuType, CpuType];
    if (SUBSET_FIELDS.every((f) => sub[f] === undefined || sub[f] === main[f])) {
      for (const [t, c] of canonical) if (c === sub) canonical.set(t, main);
      merged.shift();
    }
  }
  const types = merged;
  const typeOf = new Map<number, number>();
  for (const [cpu, t] of rawTypeOf) typeOf.set(cpu, Math.max(0, types.indexOf(canonical.get(t)!)));
  extraCaches.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { types, typeOf, mhz, extraCaches };
}
