import { readFileSync, readdirSync } from 'node:fs';

/** Contents of a small sysfs/procfs file without the trailing newline, or undefined when absent or unreadable. */
export function readTrimmed(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
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
