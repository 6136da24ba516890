/**
 * Notices CPUs being hot-added, removed, onlined and offlined. sysfs has no
 * inotify, so the two small list files `present` and `online` are read on a
 * short timer and compared as strings; only a difference costs more work.
 */
import { join } from 'node:path';
import { parseCpuList } from '../sysfs/cpulist';
import { readTrimmed } from '../sysfs/read';
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

export function readLists(paths: TreePaths): ListsState | undefined {
  const present = readTrimmed(join(paths.cpuDir, 'present'));
  const online = readTrimmed(join(paths.cpuDir, 'online'));
  // Either file missing or empty means a torn read; the kernel never writes them empty.
  if (!present || !online) return undefined;
  return { present, online };
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

export class CpuPoller {
  private last: ListsState | undefined;

  constructor(private readonly paths: TreePaths) {
    this.last = readLists(paths);
  }

  get state(): ListsState | undefined {
    return this.last;
  }

  /** Changes since the previous call; empty when nothing moved (the common, cheap case). */
  check(): CpuChangeInfo[] {
    const now = readLists(this.paths);
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
