/**
 * The CPUs the host wants offline inside the guest (a guest-side offline it
 * recorded as its intent), kept so that the agent's auto-online never brings
 * one of them back, and so that a restarted agent (a package upgrade) still
 * knows them. The set belongs to one boot: the kernel onlines every CPU when
 * the guest boots, so a set from an earlier boot describes nothing that is
 * true now; it is dropped (logged), and the host sends it again when it
 * re-applies the intent (`vcpuctl watch --reconcile`).
 *
 * The state file is written atomically (a temporary file in the same
 * directory, then rename) and read with a bound (MAX_WANTED_OFFLINE_STATE_BYTES).
 */
import { closeSync, fstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { MAX_WANTED_OFFLINE_STATE_BYTES, VcpuctlError, formatKernelCpuList, parseCpuList } from '@vcpuctl/proto';

/** Where the agent keeps the set unless told otherwise (`--state-file`). */
export const DEFAULT_STATE_FILE = '/var/lib/vcpuctl-agent/wanted-offline.json';

/** The state file's contents. */
interface StateFile {
  version: 1;
  /** The boot the set was given in. */
  bootId: string;
  /** Kernel cpulist. */
  cpus: string;
  /** When it was given (ms since the epoch, the guest's clock). */
  atMs: number;
}

/** The file's text, or why it cannot be used; never more than the bound is read. */
function readBounded(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_WANTED_OFFLINE_STATE_BYTES) throw new Error(`${size} bytes; at most ${MAX_WANTED_OFFLINE_STATE_BYTES}`);
    const buf = Buffer.alloc(Math.min(size, MAX_WANTED_OFFLINE_STATE_BYTES) + 1);
    const n = readSync(fd, buf, 0, buf.length, 0);
    if (n > MAX_WANTED_OFFLINE_STATE_BYTES) throw new Error(`more than ${MAX_WANTED_OFFLINE_STATE_BYTES} bytes`);
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

/** A cpulist as the host sent it: bounded and checked (proto's parser never expands past MAX_CPU_INDEX). */
export function parseWantedOffline(text: string): number[] {
  try {
    return parseCpuList(text);
  } catch (err) {
    throw new VcpuctlError('USAGE', `wanted offline CPUs: ${(err as Error).message}`);
  }
}

export class WantedOffline {
  private cpus = new Set<number>();

  /** `path` undefined: kept in memory only (tests, an agent with no state file). */
  constructor(
    private readonly path: string | undefined,
    private readonly bootId: string,
    private readonly log: (line: string) => void,
  ) {}

  /** Reads the state file; a missing file is an empty set, a bad or foreign one is logged and ignored. */
  load(): void {
    if (!this.path) return;
    let text: string;
    try {
      text = readBounded(this.path);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code !== 'ENOENT') this.log(`wanted offline: cannot read ${this.path}: ${e.code ?? e.message}; starting with none`);
      return;
    }
    try {
      const s = JSON.parse(text) as Partial<StateFile>;
      if (s.version !== 1 || typeof s.bootId !== 'string' || typeof s.cpus !== 'string') throw new Error('not a state file of this agent');
      const cpus = parseCpuList(s.cpus);
      if (s.bootId !== this.bootId) {
        if (cpus.length) this.log(`wanted offline: CPU ${formatKernelCpuList(cpus)} was wanted offline in an earlier boot (${s.bootId}); the guest rebooted since, so it is dropped until the host sends it again`);
        return;
      }
      this.cpus = new Set(cpus);
      if (cpus.length) this.log(`wanted offline: CPU ${formatKernelCpuList(cpus)} (from ${this.path}): auto-online leaves ${cpus.length === 1 ? 'it' : 'them'} offline`);
    } catch (err) {
      this.log(`wanted offline: ignoring ${this.path}: ${(err as Error).message}`);
    }
  }

  has(cpu: number): boolean {
    return this.cpus.has(cpu);
  }

  /** Kernel cpulist of the set ("" for none). */
  get list(): string {
    return formatKernelCpuList([...this.cpus].sort((a, b) => a - b));
  }

  /** Replaces the set; returns whether it reached the state file (it is kept in memory either way). */
  set(cpus: number[]): boolean {
    const before = this.list;
    this.cpus = new Set(cpus);
    if (this.list !== before) this.log(`wanted offline: ${this.list || 'none'} (was ${before || 'none'})`);
    if (!this.path) return false;
    const state: StateFile = { version: 1, bootId: this.bootId, cpus: this.list, atMs: Date.now() };
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 });
      writeFileSync(tmp, `${JSON.stringify(state)}\n`, { mode: 0o644 });
      renameSync(tmp, this.path);
      return true;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      try {
        rmSync(tmp, { force: true });
      } catch {
        // nothing was created
      }
      this.log(`wanted offline: cannot write ${this.path}: ${e.code ?? e.message}; kept in memory only (an agent restart forgets it)`);
      return false;
    }
  }
}
