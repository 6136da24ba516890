/**
 * The kernel's CPU bitmap format ("00000000,000000ff"): hex words of 32 bits,
 * most significant first, separated by commas. lscpu reads NUMA nodes
 * (nodeN/cpumap), sibling sets and cache sharing from these maps, and some
 * kernels and dumps have the map without the matching *_list file.
 */
import { MAX_CPU_INDEX } from '@vcpuctl/proto';
import { guestDataError } from './guest-data';

/** Hex digits a map may hold: one bit per CPU up to the largest index we accept (8192 CPUs = 2048 digits). */
const MAX_MASK_DIGITS = (MAX_CPU_INDEX + 1) / 4;

export function parseCpuMask(text: string, where = 'cpumap'): number[] {
  const digits = text.trim().replace(/,/g, '');
  if (!/^[0-9a-fA-F]*$/.test(digits)) throw guestDataError(`${where}: malformed CPU mask "${text.trim().slice(0, 80)}"`);
  const cpus: number[] = [];
  // Walk from the least significant digit; leading zero digits beyond the bound are harmless padding.
  for (let i = digits.length - 1, base = 0; i >= 0; i--, base += 4) {
    const nibble = Number.parseInt(digits[i]!, 16);
    if (nibble === 0) continue;
    if (base / 4 >= MAX_MASK_DIGITS) throw guestDataError(`${where}: CPU mask names a CPU above ${MAX_CPU_INDEX}`);
    for (let bit = 0; bit < 4; bit++) if (nibble & (1 << bit)) cpus.push(base + bit);
  }
  return cpus;
}
