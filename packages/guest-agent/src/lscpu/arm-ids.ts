/**
 * ARM implementer and part ids (MIDR_EL1 fields, as /proc/cpuinfo prints
 * them: "CPU implementer : 0x41", "CPU part : 0xd4e") to the names current
 * util-linux lscpu prints (lscpu-arm.c). The ids are the vendors' own,
 * published in each core's Technical Reference Manual; this is the subset
 * that runs Linux guests and hosts, which is what this agent meets. An
 * unknown implementer keeps its raw id as the vendor and an unknown part
 * leaves the model name empty, exactly as lscpu does.
 *
 * Names follow current lscpu (2.40 onward), which renamed some of 2.38's
 * ("Cortex-510" became "Cortex-A510", "ThunderX 88XX" "ThunderX-88XX").
 */
import { CpuType } from '../proc/cpuinfo-types';

interface Implementer {
  name: string;
  parts: Record<number, string>;
  /** Phytium: lscpu keeps the kernel's model name when cpuinfo has one. */
  followKernel?: boolean;
}

const ARM_LTD: Record<number, string> = {
  0x810: 'ARM810',
  0x920: 'ARM920',
  0x922: 'ARM922',
  0x926: 'ARM926',
  0x940: 'ARM940',
  0x946: 'ARM946',
  0x966: 'ARM966',
  0xa20: 'ARM1020',
  0xa22: 'ARM1022',
  0xa26: 'ARM1026',
  0xb02: 'ARM11-MPCore',
  0xb36: 'ARM1136',
  0xb56: 'ARM1156',
  0xb76: 'ARM1176',
  0xc05: 'Cortex-A5',
  0xc07: 'Cortex-A7',
  0xc08: 'Cortex-A8',
  0xc09: 'Cortex-A9',
  0xc0d: 'Cortex-A17',
  0xc0f: 'Cortex-A15',
  0xc0e: 'Cortex-A17',
  0xc14: 'Cortex-R4',
  0xc15: 'Cortex-R5',
  0xc17: 'Cortex-R7',
  0xc18: 'Cortex-R8',
  0xc20: 'Cortex-M0',
  0xc21: 'Cortex-M1',
  0xc23: 'Cortex-M3',
  0xc24: 'Cortex-M4',
  0xc27: 'Cortex-M7',
  0xc60: 'Cortex-M0+',
  0xd01: 'Cortex-A32',
  0xd02: 'Cortex-A34',
  0xd03: 'Cortex-A53',
  0xd04: 'Cortex-A35',
  0xd05: 'Cortex-A55',
  0xd06: 'Cortex-A65',
  0xd07: 'Cortex-A57',
  0xd08: 'Cortex-A72',
  0xd09: 'Cortex-A73',
  0xd0a: 'Cortex-A75',
  0xd0b: 'Cortex-A76',
  0xd0c: 'Neoverse-N1',
  0xd0d: 'Cortex-A77',
  0xd0e: 'Cortex-A76AE',
  0xd13: 'Cortex-R52',
  0xd14: 'Cortex-R82AE',
  0xd15: 'Cortex-R82',
  0xd16: 'Cortex-R52+',
  0xd20: 'Cortex-M23',
  0xd21: 'Cortex-M33',
  0xd22: 'Cortex-M55',
  0xd23: 'Cortex-M85',
  0xd24: 'Cortex-M52',
  0xd40: 'Neoverse-V1',
  0xd41: 'Cortex-A78',
  0xd42: 'Cortex-A78AE',
  0xd43: 'Cortex-A65AE',
  0xd44: 'Cortex-X1',
  0xd46: 'Cortex-A510',
  0xd47: 'Cortex-A710',
  0xd48: 'Cortex-X2',
  0xd49: 'Neoverse-N2',
  0xd4a: 'Neoverse-E1',
  0xd4b: 'Cortex-A78C',
  0xd4c: 'Cortex-X1C',
  0xd4d: 'Cortex-A715',
  0xd4e: 'Cortex-X3',
  0xd4f: 'Neoverse-V2',
  0xd80: 'Cortex-A520',
  0xd81: 'Cortex-A720',
  0xd82: 'Cortex-X4',
  0xd83: 'Neoverse-V3AE',
  0xd84: 'Neoverse-V3',
  0xd85: 'Cortex-X925',
  0xd87: 'Cortex-A725',
  0xd88: 'Cortex-A520AE',
  0xd89: 'Cortex-A720AE',
  0xd8e: 'Neoverse-N3',
};

const IMPLEMENTERS: Record<number, Implementer> = {
  0x41: { name: 'ARM', parts: ARM_LTD },
  0x42: { name: 'Broadcom', parts: { 0x0f: 'Brahma-B15', 0x100: 'Brahma-B53', 0x516: 'ThunderX2' } },
  0x43: {
    name: 'Cavium',
    parts: { 0x0a0: 'ThunderX', 0x0a1: 'ThunderX-88XX', 0x0a2: 'ThunderX-81XX', 0x0a3: 'ThunderX-83XX', 0x0af: 'ThunderX2-99xx', 0x0b8: 'ThunderX3-T110' },
  },
  0x44: { name: 'DEC', parts: { 0xa10: 'SA110', 0xa11: 'SA1100' } },
  0x46: { name: 'FUJITSU', parts: { 0x001: 'A64FX', 0x003: 'MONAKA' } },
  0x48: { name: 'HiSilicon', parts: { 0xd01: 'Kunpeng-920', 0xd02: 'Kunpeng-920', 0xd03: 'Kunpeng-920', 0xd06: 'Kunpeng-950', 0xd22: 'Kunpeng-920', 0xd40: 'Cortex-A76', 0xd41: 'Cortex-A77' } },
  0x49: { name: 'Infineon', parts: {} },
  0x4d: { name: 'Motorola/Freescale', parts: {} },
  0x4e: { name: 'NVIDIA', parts: { 0x000: 'Denver', 0x003: 'Denver-2', 0x004: 'Carmel', 0x010: 'Olympus' } },
  0x50: { name: 'APM', parts: { 0x000: 'X-Gene' } },
  0x51: {
    name: 'Qualcomm',
    parts: {
      0x001: 'Oryon',
      0x00f: 'Scorpion',
      0x02d: 'Scorpion',
      0x04d: 'Krait',
      0x06f: 'Krait',
      0x201: 'Kryo',
      0x205: 'Kryo',
      0x211: 'Kryo',
      0x800: 'Falkor-V1/Kryo',
      0x801: 'Kryo-V2',
      0x802: 'Kryo-3XX-Gold',
      0x803: 'Kryo-3XX-Silver',
      0x804: 'Kryo-4XX-Gold',
      0x805: 'Kryo-4XX-Silver',
      0xc00: 'Falkor',
      0xc01: 'Saphira',
    },
  },
  0x53: { name: 'Samsung', parts: { 0x001: 'exynos-m1', 0x002: 'exynos-m3', 0x003: 'exynos-m4', 0x004: 'exynos-m5' } },
  0x56: { name: 'Marvell', parts: { 0x131: 'Feroceon-88FR131', 0x581: 'PJ4/PJ4b', 0x584: 'PJ4B-MP' } },
  0x61: {
    name: 'Apple',
    parts: {
      0x022: 'Icestorm-M1',
      0x023: 'Firestorm-M1',
      0x024: 'Icestorm-M1-Pro',
      0x025: 'Firestorm-M1-Pro',
      0x028: 'Icestorm-M1-Max',
      0x029: 'Firestorm-M1-Max',
      0x032: 'Blizzard-M2',
      0x033: 'Avalanche-M2',
      0x034: 'Blizzard-M2-Pro',
      0x035: 'Avalanche-M2-Pro',
      0x038: 'Blizzard-M2-Max',
      0x039: 'Avalanche-M2-Max',
    },
  },
  0x66: { name: 'Faraday', parts: { 0x526: 'FA526', 0x626: 'FA626' } },
  0x69: { name: 'Intel', parts: {} },
  0x6d: { name: 'Microsoft', parts: { 0xd49: 'Azure-Cobalt-100' } },
  0x70: { name: 'Phytium', parts: { 0x303: 'FTC310', 0x660: 'FTC660', 0x661: 'FTC661', 0x662: 'FTC662', 0x663: 'FTC663', 0x664: 'FTC664', 0x862: 'FTC862' }, followKernel: true },
  0xc0: { name: 'Ampere', parts: { 0xac3: 'Ampere-1', 0xac4: 'Ampere-1a' } },
};

/** lscpu accepts ids written "0x..." only. */
function parseId(text: string | undefined): number {
  if (!text || !text.startsWith('0x')) return -1;
  const n = Number.parseInt(text.slice(2), 16);
  return Number.isNaN(n) ? -1 : n;
}

/** Whether lscpu would take a dumped tree for ARM: some type's implementer is one it knows. */
export function looksLikeArm(types: CpuType[]): boolean {
  return types.some((t) => IMPLEMENTERS[parseId(t.vendor)] !== undefined);
}

/**
 * Names a type's vendor and model and writes ARM Ltd's variant/revision as
 * "rXpY", as lscpu's arm_decode does. `model` (the part id) and `revision`
 * stay as read: lscpu's "Model:" prints the revision.
 */
export function decodeArm(t: CpuType): CpuType {
  const implId = parseId(t.vendor);
  if (implId <= 0) return t;
  const impl = IMPLEMENTERS[implId];
  if (!impl) return t;
  const out: CpuType = { ...t };
  if (!(impl.followKernel && t.vendor)) out.vendor = impl.name;
  const part = parseId(t.model);
  if (part > 0 && impl.parts[part] !== undefined && !(impl.followKernel && t.modelName)) out.modelName = impl.parts[part];
  if (implId === 0x41 && t.revision !== undefined && t.stepping !== undefined) {
    const revision = Number.parseInt(t.revision, 10);
    const variant = Number(t.stepping.startsWith('0x') ? Number.parseInt(t.stepping.slice(2), 16) : Number.parseInt(t.stepping, 10));
    if (!Number.isNaN(revision) && !Number.isNaN(variant)) out.stepping = `r${variant}p${revision}`;
  }
  return out;
}
