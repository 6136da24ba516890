/**
 * Checks on every value an operator types, applied where it enters (the CLI)
 * so a bad one is refused with USAGE before libvirt or an agent is touched.
 * Shared by all commands: a new command takes its numbers and names from here.
 */
import { VcpuctlError } from '@vcpuctl/proto/errors';
import { MAX_CPU_INDEX } from '@vcpuctl/proto/cpulist';
import { MAX_CPUS_PER_REQUEST } from '@vcpuctl/proto/limits';
import { sshTransportOf } from '../libvirt/ssh-uri';

/**
 * Most vCPUs a domain can be asked for. No guest kernel can use more CPUs than
 * x86_64's largest NR_CPUS (8192, MAX_CPUS_PER_REQUEST); QEMU's machine types
 * allow far fewer (q35 on QEMU 7.2: 288), and libvirt names the real limit of
 * a domain. A larger number is a typo, never a request to pass on.
 */
export const MAX_VCPUS = MAX_CPUS_PER_REQUEST;

/** Longest wait a flag may ask for: a day. Longer is a mistake, not a plan. */
export const MAX_WAIT_SECONDS = 86_400;

/**
 * Longest domain name accepted, in characters. libvirt itself has no limit,
 * but the qemu driver stores NAME.xml and NAME.log, so its names stay under
 * NAME_MAX (255); other drivers (test:///) take longer ones. 1024 leaves them
 * room while bounding what goes into virsh's command line and our reports.
 */
export const MAX_DOMAIN_NAME_CHARS = 1024;

/**
 * Digits accepted before converting: 2^53 has 16 digits, so up to 15 digits a
 * number converts exactly, and every bound here is far below 10^15.
 */
const MAX_DIGITS = 15;

/** A whole number in [min, max], written as decimal digits only ("1e3", "0x10", " 2", "1.0" are refused). */
export function wholeNumber(text: string, what: string, min: number, max: number): number {
  const n = /^\d+$/.test(text) && text.length <= MAX_DIGITS ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new VcpuctlError('USAGE', `${what} must be a whole number from ${min} to ${max}, got "${printable(text)}"`);
  }
  return n;
}

/** A vCPU count or maximum: 1..MAX_VCPUS. */
export function vcpuCount(text: string, what = 'the vCPU count'): number {
  return wholeNumber(text, what, 1, MAX_VCPUS);
}

/** A guest CPU number: 0..MAX_CPU_INDEX (the agent wraps larger ones to 32 bits, so they must never be sent). */
export function cpuIndex(text: string): number {
  return wholeNumber(text, 'a CPU number', 0, MAX_CPU_INDEX);
}

/** A list of guest CPU numbers for one request: bounded like the agent's own limit. */
export function cpuIndexes(texts: string[]): number[] {
  if (texts.length > MAX_CPUS_PER_REQUEST) throw new VcpuctlError('USAGE', `at most ${MAX_CPUS_PER_REQUEST} CPUs per request, got ${texts.length}`);
  return texts.map(cpuIndex);
}

/** Seconds (a fraction allowed, "2.5") from 0 to MAX_WAIT_SECONDS, returned in milliseconds. */
export function seconds(text: string, flag: string): number {
  const n = /^\d{1,6}(\.\d{1,3})?$/.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(n) || n > MAX_WAIT_SECONDS) throw new VcpuctlError('USAGE', `${flag} wants seconds (0..${MAX_WAIT_SECONDS}), got "${printable(text)}"`);
  return Math.round(n * 1000);
}

/**
 * A domain name, UUID or id as given. virsh receives it as the value of
 * `--domain`, so a leading "-" cannot turn it into an option; what is refused
 * here is what virsh's command parser cannot carry (control characters,
 * quotes and backslashes) and names beyond MAX_DOMAIN_NAME_CHARS.
 */
export function domainName(text: string): string {
  if (text.length === 0) throw new VcpuctlError('USAGE', 'the domain name is empty');
  if (text.length > MAX_DOMAIN_NAME_CHARS) throw new VcpuctlError('USAGE', `the domain name is ${text.length} characters long; at most ${MAX_DOMAIN_NAME_CHARS} are accepted`);
  if (/[\x00-\x1f\x7f'\\]/.test(text)) throw new VcpuctlError('USAGE', `the domain name "${printable(text)}" holds a control character, a quote or a backslash`);
  return text;
}

/** A libvirt URI for -c/--connect: an empty one would silently mean virsh's default. */
export function connectUri(text: string): string {
  if (text.trim() === '' || /[\x00-\x1f\x7f]/.test(text)) throw new VcpuctlError('USAGE', `-c/--connect wants a libvirt URI (e.g. qemu:///system), got "${printable(text)}"`);
  // A +ssh URI libvirt would refuse (no host, a bad port or flag) is refused here, before any process starts.
  sshTransportOf(text);
  return text;
}

/** For error messages: one line, bounded, control characters shown as escapes. */
export function printable(text: string, max = 80): string {
  const shown = text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return shown.length > max ? `${shown.slice(0, max)}...` : shown;
}
