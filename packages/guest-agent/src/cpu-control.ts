/**
 * Onlining and offlining CPUs by writing their sysfs `online` files, with
 * the guards qemu-guest-agent's guest-set-vcpus has and a few more. Every
 * guard is checked for the whole request, and for each state the writes pass
 * through, before anything is written, so a refused request changes nothing.
 */
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
}

export interface SetOnlineResult {
  results: CpuOutcome[];
  processed: number;
}

/** Throws CPU_REFUSED/USAGE/TOO_BIG, before any write, when the request cannot be carried out whole. */
export function checkRequest(paths: TreePaths, requests: CpuRequest[]): void {
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
}

/**
 * Applies the requests in order; stops at the first the kernel refuses
 * (EBUSY, EIO, ...), reporting that one FAILED and the rest NOT_ATTEMPTED.
 * `log` receives one line per write: these are privileged actions.
 */
export async function setCpusOnline(paths: TreePaths, requests: CpuRequest[], log: (line: string) => void): Promise<SetOnlineResult> {
  checkRequest(paths, requests);
  const results: CpuOutcome[] = [];
  let processed = 0;
  let failed = false;
  for (const r of requests) {
    const base = { cpu: r.cpu, online: r.online, errorCode: '', message: '', durationMs: 0 };
    if (failed) {
      results.push({ ...base, outcome: 'NOT_ATTEMPTED' });
      continue;
    }
    const file = cpuPath(paths, r.cpu, 'online');
    const current = readTrimmed(file);
    // No online file means always online (checkRequest allowed only that case).
    if (current === undefined || (current === '1') === r.online) {
      results.push({ ...base, outcome: 'ALREADY' });
      processed++;
      continue;
    }
    const started = performance.now();
    try {
      await writeFile(file, r.online ? '1' : '0');
      const durationMs = performance.now() - started;
      log(`cpu${r.cpu}: set ${r.online ? 'online' : 'offline'} (${durationMs.toFixed(1)} ms)`);
      results.push({ ...base, outcome: 'CHANGED', durationMs });
      processed++;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      log(`cpu${r.cpu}: kernel refused ${r.online ? 'online' : 'offline'}: ${e.code ?? e.message}`);
      results.push({ ...base, outcome: 'FAILED', errorCode: e.code ?? 'EIO', message: e.message, durationMs: performance.now() - started });
      failed = true;
    }
  }
  return { results, processed };
}
