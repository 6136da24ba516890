/**
 * The kernel's cpulist format ("0-3,8,10-11"), used by present, online,
 * thread_siblings_list, node cpulists and lscpu's output.
 *
 * A list that does not parse is data from a guest (its kernel, or an agent's
 * snapshot), never a vcpuctl bug: it is a PROTOCOL error naming the text.
 * Lists are parsed into merged ranges first and never expanded beyond
 * MAX_CPU_INDEX + 1 numbers, so "0-8191,0-8191,..." costs what its text does.
 */
import { VcpuctlError } from './errors';

/** Bound on a parsed list: x86's NR_CPUS ceiling (8192 CPUs). A larger index is corrupt or hostile. */
export const MAX_CPU_INDEX = 8191;

/**
 * Longest cpulist text accepted. The longest list a kernel writes names every
 * other CPU of 8192 ("0,2,4,...,8190": 4096 numbers of up to 4 digits and a
 * comma, about 20 KiB); 32 KiB leaves room and refuses padding before any work.
 */
export const MAX_CPULIST_CHARS = 32 * 1024;

/** An inclusive run of CPU numbers. */
export type CpuRange = readonly [first: number, last: number];

/** Printable in a message whatever it holds: control characters as \xNN, cut at 100 characters. */
function shown(text: string): string {
  const cut = text.length > 100 ? `${text.slice(0, 100)}...` : text;
  return cut.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function malformed(text: string, why: string): VcpuctlError {
  return new VcpuctlError('PROTOCOL', `malformed cpulist "${shown(text)}" (${why})`);
}

/**
 * Sorted, merged runs of the list, without expanding any of them. Only digits,
 * commas and hyphens are accepted, with spaces around the whole list and one
 * trailing newline (as sysfs files end): a CR, a tab or an escape inside is
 * refused, so a list that parsed is safe to print.
 */
export function parseCpuRanges(text: string): CpuRange[] {
  if (text.length > MAX_CPULIST_CHARS) throw malformed(text, `${text.length} characters; at most ${MAX_CPULIST_CHARS}`);
  const trimmed = text.replace(/^ +/, '').replace(/ *\n?$/, '');
  if (trimmed === '') return [];
  const parts: [number, number][] = [];
  for (const part of trimmed.split(',')) {
    // At most 4 digits per number: MAX_CPU_INDEX has 4, so nothing longer is valid or loses precision.
    const m = /^(\d{1,4})(?:-(\d{1,4}))?$/.exec(part);
    if (!m) throw malformed(trimmed, `"${shown(part.slice(0, 20))}" is not a CPU number or range`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw malformed(trimmed, `range ${from}-${to} runs backwards`);
    if (to > MAX_CPU_INDEX) throw malformed(trimmed, `CPU ${to} is above ${MAX_CPU_INDEX}`);
    parts.push([from, to]);
  }
  parts.sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [from, to] of parts) {
    const last = out[out.length - 1];
    if (last && from <= last[1] + 1) last[1] = Math.max(last[1], to);
    else out.push([from, to]);
  }
  return out;
}

/** Every CPU of the list, sorted, once each: at most MAX_CPU_INDEX + 1 numbers whatever the text. */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const [from, to] of parseCpuRanges(text)) for (let cpu = from; cpu <= to; cpu++) out.push(cpu);
  return out;
}

/** How many CPUs the list names, without listing them. */
export function cpuListCount(text: string): number {
  let n = 0;
  for (const [from, to] of parseCpuRanges(text)) n += to - from + 1;
  return n;
}

/** Runs as the kernel writes them in sysfs: every run of two or more is "a-b". */
function kernelSpelling(ranges: readonly CpuRange[]): string {
  return ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',');
}

/** The list as the kernel would write it ("0-3,8"): one spelling per set of CPUs. */
export function canonicalCpuList(text: string): string {
  return kernelSpelling(parseCpuRanges(text));
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
  return runs(cpus)
    .map(([a, b]) => (a === b ? `${a}` : b === a + 1 ? `${a},${b}` : `${a}-${b}`))
    .join(',');
}

/** Formats as the kernel writes its cpulists in sysfs: every run of two or more is "a-b". */
export function formatKernelCpuList(cpus: Iterable<number>): string {
  return kernelSpelling(runs(cpus));
}
