/**
 * Onlining and offlining CPUs by writing their sysfs `online` files, with
 * the guards qemu-guest-agent's guest-set-vcpus has and a few more. Every
 * guard is checked for the whole request, and for each state the writes pass
 * through, before anything is written, so a refused request changes nothing.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { MAX_CPUS_PER_REQUEST, VcpuctlError, formatCpuList } from '@vcpuctl/proto';
import { readCpuTree } from './sysfs/cpu-tree';
import { TreePaths, cpuPath } from './sysfs/paths';
import { readTrimmed } from './sysfs/read';

export interface CpuRequest {
  cpu: number;
  online: boolean;
}

export type Outcome = 'CHANGED' | 'ALREADY' | 'FAILED' | 'NOT_ATTEMPTED';

export interface CpuOutcome {
  cpu: number;
  online: boolean;
  outcome: Outcome;
  errorCode: string;
  message: string;
  durationMs: number;
  /** Writes made (more than 1 when a late or busy kernel's refusal was retried); 0 when none was needed. */
  attempts: number;
  /** When the first write started (ms since the epoch): where the kernel lines of a failure begin. */
  startedAtMs: number;
}

/**
 * The errnos with which the kernel refuses an online while it is late or
 * busy, and that are retried: EIO when the new vCPU did not come up in time
 * (Kata Containers found QEMU may make a hot-added vCPU runnable seconds
 * late in nested setups, and retries; after a live migration the same EIO is
 * permanent, so the retry is bounded), EBUSY while another CPU hotplug holds
 * the hotplug lock or hotplug is disabled for a moment (suspend), EAGAIN
 * likewise. Any other errno (EINVAL, EPERM, ENOSPC, ...) is not the kernel
 * being late, and is reported at once.
 */
export const LATE_KERNEL_ERRNOS: ReadonlySet<string> = new Set(['EIO', 'EBUSY', 'EAGAIN']);

/**
 * Writes of one online at most, and the pause between them: 3 writes 1 s
 * apart give a late vCPU 2 s more, the order of what Kata waits, while a
 * permanent EIO (a migrated guest) holds the request up by 2 s only (plus
 * the kernel's own wait per write).
 */
export const ONLINE_ATTEMPTS = 3;
export const ONLINE_RETRY_DELAY_MS = 1000;

/**
 * No write is retried once this long has passed since the first: x86 Linux
 * waits up to 10 s for a new CPU to show signs of life before the write
 * fails with EIO, so three such writes would take over 30 s, past what a
 * controller waits for an answer (30 s). A write that failed that slowly
 * was not a kernel a second late.
 */
export const ONLINE_RETRY_WINDOW_MS = 5000;

export interface RetryPolicy {
  attempts: number;
  delayMs: number;
  windowMs: number;
}

export const ONLINE_RETRY: RetryPolicy = { attempts: ONLINE_ATTEMPTS, delayMs: ONLINE_RETRY_DELAY_MS, windowMs: ONLINE_RETRY_WINDOW_MS };

export interface SetOnlineResult {
  results: CpuOutcome[];
  processed: number;
}

/** Throws CPU_REFUSED/USAGE/TOO_BIG, before any write, when the request cannot be carried out whole; returns the CPUs online now. */
export function checkRequest(paths: TreePaths, requests: CpuRequest[]): ReadonlySet<number> {
  if (requests.length === 0) throw new VcpuctlError('USAGE', 'no CPUs named');
  if (requests.length > MAX_CPUS_PER_REQUEST) {
    throw new VcpuctlError('TOO_BIG', `${requests.length} CPUs in one request; the limit is ${MAX_CPUS_PER_REQUEST}`);
  }
  const tree = readCpuTree(paths);
  const byIndex = new Map(tree.cpus.map((c) => [c.index, c]));
  const seen = new Set<number>();
  const online = new Set(tree.onlineSet);
  for (const r of requests) {
    if (!Number.isInteger(r.cpu) || r.cpu < 0) throw new VcpuctlError('USAGE', `"${r.cpu}" is not a CPU number`);
    if (seen.has(r.cpu)) throw new VcpuctlError('USAGE', `CPU ${r.cpu} is named twice`);
    seen.add(r.cpu);
    const cpu = byIndex.get(r.cpu);
    if (!cpu || !cpu.present) {
      throw new VcpuctlError('CPU_REFUSED', `CPU ${r.cpu} does not exist in this guest (present: ${formatCpuList(tree.presentSet) || 'none'})`, { cpu: r.cpu });
    }
    if (!cpu.offlinable && !r.online) {
      throw new VcpuctlError('CPU_REFUSED', `CPU ${r.cpu} cannot be offlined: the kernel gives it no online file`, { cpu: r.cpu });
    }
    if (!cpu.offlinable && r.online && !cpu.online) {
      throw new VcpuctlError('CPU_REFUSED', `CPU ${r.cpu} cannot be onlined: the kernel gives it no online file`, { cpu: r.cpu });
    }
    if (r.online) online.add(r.cpu);
    else online.delete(r.cpu);
    // The writes happen in request order, so every state along the way must
    // keep a CPU online, not only the end state ("offline 1, online 0" with
    // only CPU 1 online would leave none for a moment).
    if (online.size === 0) {
      throw new VcpuctlError(
        'CPU_REFUSED',
        requests.length === 1 || r === requests[requests.length - 1] ? 'refusing to offline the last online CPU' : `refusing to offline the last online CPU: after CPU ${r.cpu} none would be online; name the CPUs to online first`,
        { cpu: r.cpu },
      );
    }
  }
  return new Set(tree.onlineSet);
}

/**
 * Applies the requests in order; stops at the first the kernel refuses
 * (EBUSY, EIO, ...), reporting that one FAILED and the rest NOT_ATTEMPTED.
 * `log` receives one line per write: these are privileged actions.
 */
export async function setCpusOnline(paths: TreePaths, requests: CpuRequest[], log: (line: string) => void, retry: RetryPolicy = ONLINE_RETRY): Promise<SetOnlineResult> {
  const onlineNow = checkRequest(paths, requests);
  const results: CpuOutcome[] = [];
  let processed = 0;
  let failed = false;
  for (const r of requests) {
    const base = { cpu: r.cpu, online: r.online, errorCode: '', message: '', durationMs: 0, attempts: 0, startedAtMs: Date.now() };
    if (failed) {
      results.push({ ...base, outcome: 'NOT_ATTEMPTED' });
      continue;
    }
    const file = cpuPath(paths, r.cpu, 'online');
    // An online file that exists but cannot be read is judged by the kernel's online list.
    const current = readTrimmed(file) ?? (existsSync(file) ? (onlineNow.has(r.cpu) ? '1' : '0') : undefined);
    // No online file means always online (checkRequest allowed only that case).
    if (current === undefined || (current === '1') === r.online) {
      results.push({ ...base, outcome: 'ALREADY' });
      processed++;
      continue;
    }
    const started = performance.now();
    const w = await writeOnline(file, r, retry, log);
    const durationMs = performance.now() - started;
    if (w.ok) {
      log(`cpu${r.cpu}: set ${r.online ? 'online' : 'offline'} (${durationMs.toFixed(1)} ms${w.attempts > 1 ? `, ${w.attempts} writes` : ''})`);
      results.push({ ...base, outcome: 'CHANGED', durationMs, attempts: w.attempts });
      processed++;
    } else {
      const e = w.error;
      log(`cpu${r.cpu}: kernel refused ${r.online ? 'online' : 'offline'}: ${e.code ?? e.message}${w.attempts > 1 ? ` (${w.attempts} writes)` : ''}`);
      results.push({ ...base, outcome: 'FAILED', errorCode: e.code ?? 'EIO', message: e.message, durationMs, attempts: w.attempts });
      failed = true;
    }
  }
  return { results, processed };
}

/**
 * One CPU's write, an online retried (bounded) while the kernel refuses it
 * with an errno of LATE_KERNEL_ERRNOS. A retry first looks whether the CPU
 * came online meanwhile (the kernel finished late): then it is done.
 */
async function writeOnline(file: string, r: CpuRequest, retry: RetryPolicy, log: (line: string) => void): Promise<{ ok: true; attempts: number } | { ok: false; attempts: number; error: NodeJS.ErrnoException }> {
  const most = r.online ? Math.max(1, retry.attempts) : 1;
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      await writeFile(file, r.online ? '1' : '0');
      return { ok: true, attempts: attempt };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const late = LATE_KERNEL_ERRNOS.has(e.code ?? '') && Date.now() + retry.delayMs - started <= retry.windowMs;
      if (attempt >= most || !late) return { ok: false, attempts: attempt, error: e };
      log(`cpu${r.cpu}: kernel refused online: ${e.code}; writing again in ${retry.delayMs} ms (${attempt} of ${most})`);
      await new Promise((resolve) => setTimeout(resolve, retry.delayMs));
      if (readTrimmed(file) === '1') return { ok: true, attempts: attempt };
    }
  }
}
