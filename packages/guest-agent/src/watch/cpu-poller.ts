/**
 * Notices CPUs being hot-added, removed, onlined and offlined. sysfs has no
 * inotify, so the two small list files `present` and `online` are read on a
 * short timer and compared as strings; only a difference costs more work.
 * The files are held open and re-read from offset 0 (sysfs regenerates an
 * attribute on every read from the start): one syscall a file a tick.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { parseCpuList } from '@vcpuctl/proto';
import { TreePaths } from '../sysfs/paths';

export type ChangeKind = 'HOT_ADDED' | 'REMOVED' | 'ONLINED' | 'OFFLINED';

export interface CpuChangeInfo {
  cpu: number;
  kind: ChangeKind;
}

export interface ListsState {
  present: string;
  online: string;
}

export function diffLists(before: ListsState, after: ListsState): CpuChangeInfo[] {
  const changes: CpuChangeInfo[] = [];
  const p0 = new Set(parseCpuList(before.present));
  const p1 = new Set(parseCpuList(after.present));
  const o0 = new Set(parseCpuList(before.online));
  const o1 = new Set(parseCpuList(after.online));
  for (const c of p1) if (!p0.has(c)) changes.push({ cpu: c, kind: 'HOT_ADDED' });
  for (const c of o1) if (!o0.has(c)) changes.push({ cpu: c, kind: 'ONLINED' });
  for (const c of o0) if (!o1.has(c)) changes.push({ cpu: c, kind: 'OFFLINED' });
  for (const c of p0) if (!p1.has(c)) changes.push({ cpu: c, kind: 'REMOVED' });
  return changes;
}

/** An attribute file kept open and re-read in place. */
class HeldFile {
  private fd: number | undefined;
  private static readonly buf = Buffer.alloc(64 * 1024);

  constructor(private readonly path: string) {}

  read(): string | undefined {
    try {
      if (this.fd === undefined) this.fd = openSync(this.path, 'r');
      const n = readSync(this.fd, HeldFile.buf, 0, HeldFile.buf.length, 0);
      return HeldFile.buf.toString('utf8', 0, n).trim();
    } catch {
      this.close(); // reopened on the next read
      return undefined;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export class CpuPoller {
  private last: ListsState | undefined;
  private readonly presentFile: HeldFile;
  private readonly onlineFile: HeldFile;

  constructor(paths: TreePaths) {
    this.presentFile = new HeldFile(join(paths.cpuDir, 'present'));
    this.onlineFile = new HeldFile(join(paths.cpuDir, 'online'));
    this.last = this.read();
  }

  private read(): ListsState | undefined {
    const present = this.presentFile.read();
    const online = this.onlineFile.read();
    // Empty means a torn read (a test tree being rewritten); the kernel never writes them empty.
    if (!present || !online) return undefined;
    return { present, online };
  }

  close(): void {
    this.presentFile.close();
    this.onlineFile.close();
  }

  get state(): ListsState | undefined {
    return this.last;
  }

  /** Changes since the previous call; empty when nothing moved (the common, cheap case). */
  check(): CpuChangeInfo[] {
    const now = this.read();
    if (!now) return [];
    const before = this.last;
    this.last = now;
    if (!before || (before.present === now.present && before.online === now.online)) return [];
    try {
      return diffLists(before, now);
    } catch {
      return [];
    }
  }
}
