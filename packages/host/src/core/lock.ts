/**
 * One vcpuctl at a time per domain: an exclusive lock file holding the
 * owner's pid. A lock whose owner is dead is taken over; a live owner is
 * waited for up to a timeout, then named in a LOCKED error.
 */
import { mkdirSync, openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { VcpuctlError } from '@vcpuctl/proto';

export const DEFAULT_LOCK_DIR = '/run/vcpuctl/locks';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface DomainLock {
  release(): void;
}

export async function lockDomain(dir: string, domain: string, waitMs: number): Promise<DomainLock> {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${domain.replace(/[^A-Za-z0-9_.-]/g, '_')}.lock`);
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return { release: () => { try { unlinkSync(path); } catch { /* already gone */ } } };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(path, 'utf8').trim());
    } catch {
      continue; // released between our open and read
    }
    if (!Number.isInteger(owner) || !alive(owner)) {
      try { unlinkSync(path); } catch { /* someone else took it over */ }
      continue;
    }
    if (Date.now() >= deadline) {
      throw new VcpuctlError('LOCKED', `domain ${domain} is being changed by another vcpuctl (pid ${owner}); waited ${Math.round(waitMs / 1000)} s for its lock ${path}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The pid of a live vcpuctl holding the domain's lock, if any (for watchers: a change is under way). */
export function lockHolder(dir: string, domain: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, `${domain.replace(/[^A-Za-z0-9_.-]/g, '_')}.lock`), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}
