/**
 * Where the guest's cpuset controller is mounted, from the mount table of
 * the agent's own mount namespace (<root>/proc/self/mountinfo, else
 * <root>/proc/mounts). The cpuset controller lives in one hierarchy: a v1
 * `cgroup` mount with the `cpuset` option (bound there, it is absent from
 * cgroup2, as on systemd's hybrid layout), else the `cgroup2` mount whose
 * root lists `cpuset` in cgroup.controllers.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { readTrimmed } from '../sysfs/read';

/**
 * Most of the mount table read. A Kubernetes node has a mount per secret,
 * config map and projected volume of every pod (110 pods: a few thousand
 * lines of ~200 bytes); 4 MiB is about 20000 mounts. It is read in 64 KiB
 * pieces, so the bound is on time, not memory. The cgroup mounts are made
 * by systemd at boot and come first; a table longer than this is named.
 */
export const MAX_MOUNT_TABLE_BYTES = 4 * 1024 * 1024;

const CHUNK_BYTES = 64 * 1024;

export interface CpusetHierarchy {
  /** 1: a v1 cpuset hierarchy; 2: the unified hierarchy. */
  version: 1 | 2;
  /** Where it is mounted, in the guest's namespace: /sys/fs/cgroup, /sys/fs/cgroup/cpuset. */
  mountPoint: string;
  /** The same directory under the root the agent reads. */
  dir: string;
}

export type Discovery =
  | { state: 'found'; hierarchy: CpusetHierarchy }
  /** No cgroup file system with the cpuset controller is mounted. */
  | { state: 'none' }
  /** The mount table could not be read whole (absent, or past MAX_MOUNT_TABLE_BYTES). */
  | { state: 'unreadable'; why: string };

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  /** Super-block options: for a v1 cgroup mount, its controllers ("rw,cpuset"). */
  options: string[];
}

/** The kernel writes space, tab, newline and backslash in mount paths as octal escapes (\040 ...). */
function unescapeMountPath(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** One line of /proc/PID/mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...] - FSTYPE SOURCE SUPEROPTS". */
export function parseMountinfoLine(line: string): MountEntry | undefined {
  const fields = line.split(' ');
  const dash = fields.indexOf('-', 6);
  if (dash < 0 || fields.length < dash + 4) return undefined;
  return { mountPoint: unescapeMountPath(fields[4]!), fsType: fields[dash + 1]!, options: fields[dash + 3]!.split(',') };
}

/** One line of /proc/mounts: "SOURCE MOUNTPOINT FSTYPE OPTS 0 0" (options and super options merged). */
export function parseMountsLine(line: string): MountEntry | undefined {
  const fields = line.split(' ');
  if (fields.length < 4) return undefined;
  return { mountPoint: unescapeMountPath(fields[1]!), fsType: fields[2]!, options: fields[3]!.split(',') };
}

/**
 * Every line of a file, read in pieces; false when the file is absent or
 * unreadable, 'too-long' when it goes past `maxBytes` (the lines before are seen).
 */
function eachLine(path: string, maxBytes: number, onLine: (line: string) => void): boolean | 'too-long' {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false;
  }
  const buf = Buffer.alloc(CHUNK_BYTES);
  // A character cut between two pieces is joined, not replaced.
  const text = new StringDecoder('utf8');
  let rest = '';
  let total = 0;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      total += n;
      const lines = (rest + text.write(buf.subarray(0, n))).split('\n');
      rest = lines.pop()!;
      for (const l of lines) onLine(l);
      if (total > maxBytes) return 'too-long';
    }
    rest += text.end();
    if (rest) onLine(rest);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/** The cpuset hierarchy among mount entries: a v1 cpuset mount first, else cgroup2 with the controller available. */
export function chooseHierarchy(root: string, mounts: readonly MountEntry[]): CpusetHierarchy | undefined {
  const v1 = mounts.find((m) => m.fsType === 'cgroup' && m.options.includes('cpuset'));
  if (v1) return { version: 1, mountPoint: v1.mountPoint, dir: join(root, v1.mountPoint) };
  for (const m of mounts) {
    if (m.fsType !== 'cgroup2') continue;
    const dir = join(root, m.mountPoint);
    const controllers = readTrimmed(join(dir, 'cgroup.controllers'))?.split(/\s+/) ?? [];
    if (controllers.includes('cpuset')) return { version: 2, mountPoint: m.mountPoint, dir };
  }
  return undefined;
}

/** Finds the cpuset hierarchy from the mount table under `root` ("/" for the running guest). */
export function discoverCpuset(root: string, maxBytes = MAX_MOUNT_TABLE_BYTES): Discovery {
  const mounts: MountEntry[] = [];
  const keep = (parse: (l: string) => MountEntry | undefined) => (line: string) => {
    const m = parse(line);
    // Only cgroup mounts are kept: the table may have thousands of others.
    if (m && (m.fsType === 'cgroup' || m.fsType === 'cgroup2')) mounts.push(m);
  };
  let read = eachLine(join(root, 'proc/self/mountinfo'), maxBytes, keep(parseMountinfoLine));
  if (read === false) read = eachLine(join(root, 'proc/mounts'), maxBytes, keep(parseMountsLine));
  if (read === false && mounts.length === 0) return { state: 'none' };
  const hierarchy = chooseHierarchy(root, mounts);
  if (hierarchy) return { state: 'found', hierarchy };
  if (read === 'too-long') return { state: 'unreadable', why: `the mount table is longer than ${MAX_MOUNT_TABLE_BYTES} bytes` };
  return { state: 'none' };
}
