/**
 * One vcpuctl at a time per domain.
 *
 * Each domain has a lock directory holding numbered generation files; the
 * highest number is the lock's state: a pid (held by that process) or
 * "free". To take the lock, a process creates the next number, which the
 * file system lets exactly one process do (link() fails with EEXIST). A dead
 * holder is taken over the same way, so two waiters that both see the same
 * dead owner cannot both win: the one that creates the next number holds
 * the lock, the other finds it taken. (Deleting a stale lock file and
 * recreating it, as before, let a second waiter delete the first one's
 * fresh lock.) Numbers only grow; older files are removed by each new holder.
 *
 * The lock is named after the domain's UUID when the caller has it (a name,
 * a UUID and an id then share one lock), else after a hash of what was given:
 * never the literal text, so no name is too long or can escape the directory.
 */
import { createHash, randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VcpuctlError } from '@vcpuctl/proto/errors';

export const DEFAULT_LOCK_DIR = '/run/vcpuctl/locks';

/** How often a waiter looks again while a live process holds the lock. */
const POLL_MS = 200;

const FREE = 'free';

/** Whether a process exists (EPERM: it does, owned by another user). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface DomainLock {
  release(): void;
  /** The lock's directory, for messages. */
  readonly path: string;
}

/**
 * The lock directory's name for a domain key: the UUID itself (with a short
 * lower-case purpose prefix such as "channel-", for locks beside the
 * domain's own), or a hash of any other text.
 */
export function lockName(key: string): string {
  const k = key.toLowerCase();
  if (/^(?:[a-z]{1,16}-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(k)) return `${k}.lock`;
  return `name-${createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 32)}.lock`;
}

function generations(dir: string): number[] {
  return readdirSync(dir)
    .filter((n) => /^\d{1,15}$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
}

/** The highest generation and what it says: a live pid, or undefined when free, dead or unreadable. */
function current(dir: string): { gen: number; holder: number | undefined } | undefined {
  const gens = generations(dir);
  const gen = gens[gens.length - 1];
  if (gen === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(join(dir, String(gen)), 'utf8');
  } catch {
    return { gen, holder: undefined }; // replaced meanwhile: the caller's create of gen+1 will tell
  }
  const m = /^(\d{1,10})\n$/.exec(text);
  const pid = m ? Number(m[1]) : NaN;
  return { gen, holder: text !== `${FREE}\n` && Number.isInteger(pid) && alive(pid) ? pid : undefined };
}

/** Creates generation `gen` holding `text`, whole or not at all; false when it exists already. */
function create(dir: string, gen: number, text: string): boolean {
  const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  writeFileSync(tmp, text, { flag: 'wx' });
  try {
    linkSync(tmp, join(dir, String(gen)));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

export async function lockDomain(dir: string, key: string, waitMs: number, label = key): Promise<DomainLock> {
  const path = join(dir, lockName(key));
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new VcpuctlError('USAGE', `cannot create the lock directory ${path}: ${(err as NodeJS.ErrnoException).code ?? err} (set VCPUCTL_LOCK_DIR)`);
  }
  const deadline = Date.now() + waitMs;
  for (;;) {
    const now = current(path);
    if (now?.holder === undefined) {
      const gen = (now?.gen ?? -1) + 1;
      if (create(path, gen, `${process.pid}\n`)) {
        const gens = generations(path);
        if (gens[gens.length - 1] === gen) {
          for (const old of gens) if (old < gen) removeQuietly(join(path, String(old)));
          return { path, release: () => release(path, gen) };
        }
        // Created from a stale view, below the real state: not ours.
        removeQuietly(join(path, String(gen)));
      }
      continue; // someone else moved first: look again
    }
    if (Date.now() >= deadline) {
      throw new VcpuctlError('LOCKED', `domain ${label} is being changed by another vcpuctl (pid ${now.holder}); waited ${Math.round(waitMs / 1000)} s for its lock ${path}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function release(path: string, gen: number): void {
  try {
    // "free" goes in first, then ours goes: there is always a highest generation to read.
    create(path, gen + 1, `${FREE}\n`);
  } catch {
    /* the directory went away: nothing left to release */
  }
  removeQuietly(join(path, String(gen)));
}

/** The pid of a live vcpuctl holding the lock under `key` (a domain's UUID), if any: for watchers, a change is under way. */
export function lockHolder(dir: string, key: string): number | undefined {
  try {
    return current(join(dir, lockName(key)))?.holder;
  } catch {
    return undefined; // no lock directory yet: nobody holds it
  }
}
