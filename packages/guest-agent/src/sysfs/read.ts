import { closeSync, openSync, readSync, readdirSync } from 'node:fs';

/**
 * Most a sysfs attribute can hold: one page for plain attributes; cpulists
 * of very large machines are binary attributes and may pass a page, but a
 * list naming all 8192 possible CPUs one by one is under 40 KiB. A file that
 * goes on (a device node put where an attribute should be) is cut here.
 */
export const MAX_SYSFS_FILE_BYTES = 64 * 1024;

const scratch = Buffer.alloc(MAX_SYSFS_FILE_BYTES);

/** Contents of a small sysfs/procfs file without the trailing newline, or undefined when absent or unreadable. */
export function readTrimmed(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    let total = 0;
    while (total < scratch.length) {
      const n = readSync(fd, scratch, total, scratch.length - total, null);
      if (n <= 0) break;
      total += n;
    }
    return scratch.toString('utf8', 0, total).trim();
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

export function readInt(path: string): number | undefined {
  const text = readTrimmed(path);
  if (text === undefined || !/^-?\d+$/.test(text)) return undefined;
  return Number(text);
}

/** Names in a directory matching `re`, sorted by the number the pattern captures. */
export function listNumbered(dir: string, re: RegExp): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const name of names) {
    const m = re.exec(name);
    if (m) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}
