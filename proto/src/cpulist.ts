/**
 * The kernel's cpulist format ("0-3,8,10-11"), used by present, online,
 * thread_siblings_list, node cpulists and lscpu's output.
 *
 * A list that does not parse is data from a guest (its kernel, or an agent's
 * snapshot), never a vcpuctl bug: it is a PROTOCOL error naming the text.
 */
import { VcpuctlError } from './errors';

/** Bound on a parsed list: x86's NR_CPUS ceiling (8192 CPUs). A larger index is corrupt or hostile. */
export const MAX_CPU_INDEX = 8191;

function malformed(text: string, why: string): VcpuctlError {
  const shown = text.length > 100 ? `${text.slice(0, 100)}...` : text;
  return new VcpuctlError('PROTOCOL', `malformed cpulist "${shown}" (${why})`);
}

export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  const trimmed = text.trim();
  if (trimmed === '') return out;
  for (const part of trimmed.split(',')) {
    // At most 4 digits per number: MAX_CPU_INDEX has 4, so nothing longer is valid or loses precision.
    const m = /^(\d{1,4})(?:-(\d{1,4}))?$/.exec(part.trim());
    if (!m) throw malformed(trimmed, `"${part.trim().slice(0, 20)}" is not a CPU number or range`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw malformed(trimmed, `range ${from}-${to} runs backwards`);
    if (to > MAX_CPU_INDEX) throw malformed(trimmed, `CPU ${to} is above ${MAX_CPU_INDEX}`);
    for (let cpu = from; cpu <= to; cpu++) out.push(cpu);
  }
  return [...new Set(out)].sort((a, b) => a - b);
}

/** Runs of consecutive CPU numbers, sorted, duplicates dropped: [first, last] each. */
function runs(cpus: Iterable<number>): [number, number][] {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out.push([sorted[i]!, sorted[j]!]);
    i = j + 1;
  }
  return out;
}

/**
 * Formats as util-linux does (lib/cpuset.c): runs of three or more become
 * "a-b", a pair stays "a,b". The kernel itself writes pairs as "a-b", so
 * verbatim sysfs lists are kept as read and this is only for lscpu output.
 */
export function formatCpuList(cpus: Iterable<number>): string {
  return runs(cpus).map(([a, b]) => (a === b ? `${a}` : b === a + 1 ? `${a},${b}` : `${a}-${b}`)).join(',');
}

/** Formats as the kernel writes its cpulists in sysfs: every run of two or more is "a-b". */
export function formatKernelCpuList(cpus: Iterable<number>): string {
  return runs(cpus).map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',');
}
