/**
 * /proc/cpuinfo: the CPU types lscpu finds in it (cpuinfo-types.ts), ARM ids
 * decoded to names, and the default type flattened into the wire's CpuModel.
 */
import { machine } from 'node:os';
import { decodeArm, looksLikeArm } from '../lscpu/arm-ids';
import { CpuType, CpuTypes, parseCpuTypes } from './cpuinfo-types';

export interface CpuModelInfo {
  architecture: string;
  vendor: string;
  modelName: string;
  family: string;
  /** What lscpu prints as "Model:": the revision where cpuinfo has one (ARM, ppc, LoongArch), else the model. */
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

export function detectArchitecture(text: string): string {
  if (/^CPU implementer\s*:/m.test(text)) return /^CPU architecture\s*:\s*[0-7]\s*$/m.test(text) ? 'armv7l' : 'aarch64';
  if (/^vendor_id\s*:\s*IBM\/S390/m.test(text)) return 's390x';
  if (/^cpu\s*:\s*POWER/m.test(text)) return 'ppc64le';
  if (/^isa\s*:\s*rv/m.test(text)) return 'riscv64';
  if (/^ISA\s*:.*loongarch/m.test(text)) return 'loongarch64';
  if (/^vendor_id\s*:/m.test(text)) return 'x86_64';
  return machine();
}

export interface CpuinfoReading {
  model: CpuModelInfo;
  /** Every CPU type, ARM ids decoded; types[0] is the default that `model` describes. */
  cpuTypes: CpuTypes;
}

/**
 * @param live reading the running system: lscpu then decodes ARM ids only on
 *   an aarch64 kernel; for a dumped tree it decodes when an implementer id is known.
 */
export function readCpuinfoText(text: string, live = false, possible?: ReadonlySet<number>): CpuinfoReading {
  const parsed = parseCpuTypes(text, possible);
  const arm = live ? machine() === 'aarch64' : looksLikeArm(parsed.types);
  const types = arm ? parsed.types.map(decodeArm) : parsed.types;
  const cpuTypes: CpuTypes = { ...parsed, types };
  return { model: toModel(types[0] ?? {}, parsed.mhz, detectArchitecture(text)), cpuTypes };
}

function toModel(t: CpuType, mhz: string, architecture: string): CpuModelInfo {
  const flagsLine = t.flags ?? '';
  return {
    architecture,
    vendor: t.vendor ?? '',
    modelName: t.modelName ?? '',
    family: t.family ?? '',
    model: t.revision ?? t.model ?? '',
    stepping: t.stepping ?? '',
    mhz: t.dynamicMhz ?? mhz,
    bogomips: t.bogomips ?? '',
    flags: flagsLine.split(/\s+/).filter(Boolean),
    flagsLine,
    addressSizes: t.addressSizes ?? '',
  };
}

/** The default type of a dumped cpuinfo, for the wire and tests. */
export function parseCpuinfo(text: string): CpuModelInfo {
  return readCpuinfoText(text).model;
}
