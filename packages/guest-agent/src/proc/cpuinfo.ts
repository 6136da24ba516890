/**
 * /proc/cpuinfo, per architecture. Each lays it out differently; lscpu reads
 * the first processor's block, and so do we.
 */
import { machine } from 'node:os';

export interface CpuModelInfo {
  architecture: string;
  vendor: string;
  modelName: string;
  family: string;
  model: string;
  stepping: string;
  mhz: string;
  bogomips: string;
  /** Flag names, for tests such as `lm` or `hypervisor`. */
  flags: string[];
  /**
   * The flags line as the kernel wrote it (ends trimmed, as lscpu trims):
   * kernels print blank names as runs of spaces ("pti        vmmcall"),
   * and lscpu shows them unchanged.
   */
  flagsLine: string;
  addressSizes: string;
}

type Fields = Map<string, string>;

/** The flags line as lscpu shows it, and the names in it. */
function flagFields(line: string | undefined): Pick<CpuModelInfo, 'flags' | 'flagsLine'> {
  const flagsLine = line ?? '';
  return { flagsLine, flags: flagsLine.split(/\s+/).filter(Boolean) };
}

/** Key/value pairs of the first block that has any of `keys` (blocks are separated by blank lines). */
function firstBlock(text: string): Fields {
  const fields: Fields = new Map();
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (fields.size > 0 && fields.has('processor')) break;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    if (!fields.has(key)) fields.set(key, line.slice(colon + 1).trim());
  }
  return fields;
}

/** s390 puts shared keys before the per-CPU lines; read every key once. */
function allFields(text: string): Fields {
  const fields: Fields = new Map();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    if (!fields.has(key)) fields.set(key, line.slice(colon + 1).trim());
  }
  return fields;
}

export function detectArchitecture(text: string): string {
  if (/^CPU implementer\s*:/m.test(text)) return 'aarch64';
  if (/^vendor_id\s*:\s*IBM\/S390/m.test(text)) return 's390x';
  if (/^cpu\s*:\s*POWER/m.test(text)) return 'ppc64le';
  if (/^vendor_id\s*:/m.test(text)) return 'x86_64';
  return machine();
}

// The handful of implementers and parts seen in clouds; lscpu's own table
// (lscpu-arm.c) is longer, and an unknown id is shown as lscpu shows it.
const ARM_IMPLEMENTERS: Record<string, string> = {
  '0x41': 'ARM', '0x42': 'Broadcom', '0x43': 'Cavium', '0x48': 'HiSilicon', '0x4e': 'NVIDIA',
  '0x50': 'APM', '0x51': 'Qualcomm', '0x61': 'Apple', '0xc0': 'Ampere',
};
const ARM_PARTS: Record<string, string> = {
  '0xd03': 'Cortex-A53', '0xd07': 'Cortex-A57', '0xd08': 'Cortex-A72', '0xd0b': 'Cortex-A76',
  '0xd0c': 'Neoverse-N1', '0xd40': 'Neoverse-V1', '0xd49': 'Neoverse-N2', '0xd4f': 'Neoverse-V2',
};

function parseX86(f: Fields): Omit<CpuModelInfo, 'architecture'> {
  return {
    vendor: f.get('vendor_id') ?? '',
    modelName: f.get('model name') ?? '',
    family: f.get('cpu family') ?? '',
    model: f.get('model') ?? '',
    stepping: f.get('stepping') ?? '',
    mhz: f.get('cpu MHz') ?? '',
    bogomips: f.get('bogomips') ?? '',
    ...flagFields(f.get('flags')),
    addressSizes: f.get('address sizes') ?? '',
  };
}

function parseArm64(f: Fields): Omit<CpuModelInfo, 'architecture'> {
  const impl = (f.get('CPU implementer') ?? '').toLowerCase();
  const part = (f.get('CPU part') ?? '').toLowerCase();
  const variant = Number.parseInt(f.get('CPU variant') ?? '0', 16);
  const revision = f.get('CPU revision') ?? '';
  return {
    vendor: ARM_IMPLEMENTERS[impl] ?? impl,
    modelName: ARM_PARTS[part] ?? part,
    family: '',
    model: revision,
    stepping: revision === '' ? '' : `r${Number.isNaN(variant) ? 0 : variant}p${revision}`,
    mhz: '',
    bogomips: f.get('BogoMIPS') ?? '',
    ...flagFields(f.get('Features')),
    addressSizes: '',
  };
}

function parseS390(f: Fields): Omit<CpuModelInfo, 'architecture'> {
  const proc0 = f.get('processor 0') ?? '';
  const machineType = /machine\s*=\s*(\w+)/.exec(proc0)?.[1] ?? '';
  return {
    vendor: f.get('vendor_id') ?? '',
    modelName: machineType,
    family: '',
    model: '',
    stepping: '',
    mhz: f.get('cpu MHz dynamic') ?? '',
    bogomips: f.get('bogomips per cpu') ?? '',
    ...flagFields(f.get('features')),
    addressSizes: '',
  };
}

function parsePpc64(f: Fields): Omit<CpuModelInfo, 'architecture'> {
  const cpu = f.get('cpu') ?? '';
  return {
    vendor: 'IBM',
    modelName: cpu.split(',')[0]?.trim() ?? cpu,
    family: '',
    model: f.get('revision') ?? '',
    stepping: '',
    mhz: (f.get('clock') ?? '').replace(/MHz$/, ''),
    bogomips: '',
    ...flagFields(undefined),
    addressSizes: '',
  };
}

export function parseCpuinfo(text: string): CpuModelInfo {
  const architecture = detectArchitecture(text);
  switch (architecture) {
    case 'aarch64':
      return { architecture, ...parseArm64(firstBlock(text)) };
    case 's390x':
      return { architecture, ...parseS390(allFields(text)) };
    case 'ppc64le':
      return { architecture, ...parsePpc64(firstBlock(text)) };
    default:
      return { architecture, ...parseX86(firstBlock(text)) };
  }
}
