/**
 * The page's only way to act: the installed `vcpuctl`, run by Cockpit's
 * bridge with `superuser: "try"` (as root when the user has administrative
 * access, as the user otherwise). No server of the page's own.
 */
import type { VcpuctlFailure } from './types';

const SPAWN: cockpit.SpawnOptions = { superuser: 'try', err: 'message' };

/**
 * A `watch --json` line is one domain's record; the agent's and libvirt's
 * strings in it are bounded by vcpuctl. A line longer than this is not a
 * record vcpuctl writes: dropped, so a broken stream cannot grow the buffer.
 */
export const MAX_WATCH_LINE_CHARS = 1024 * 1024;

/** vcpuctl's failure, as the CLI gives it: the JSON error on stdout, else its `vcpuctl: CODE: message` line. */
export function failureOf(ex: cockpit.SpawnFailure | Error, stdout: string | null): VcpuctlFailure {
  const json = parseJson(stdout ?? '') as { error?: VcpuctlFailure } | undefined;
  if (json?.error?.code) return { code: json.error.code, message: json.error.message, exit: json.error.exit };
  const text = ex.message ?? '';
  const line = /^vcpuctl: ([A-Z_]+): (.*)$/m.exec(text);
  if (line) return { code: line[1]!, message: line[2]!, exit: 'exit_status' in ex ? (ex.exit_status ?? undefined) : undefined };
  if ('problem' in ex && ex.problem === 'not-found') return { code: 'NOT_INSTALLED', message: 'vcpuctl is not installed on this host (the page runs /usr/bin/vcpuctl)' };
  if ('problem' in ex && ex.problem === 'access-denied') return { code: 'ACCESS_DENIED', message: text || 'not permitted' };
  return { code: 'FAILED', message: text || String(ex), exit: 'exit_status' in ex ? (ex.exit_status ?? undefined) : undefined };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export type Result<T> = { ok: true; value: T } | { ok: false; failure: VcpuctlFailure; value?: T };

/**
 * Runs `vcpuctl ARGS` and parses its JSON. A non-zero exit still hands back
 * what it printed (a dry run that would be refused prints its plan and exits 8).
 */
export function run<T>(args: string[]): Promise<Result<T>> {
  return new Promise((resolve) => {
    cockpit.spawn(['vcpuctl', ...args], SPAWN).then(
      (out) => {
        const value = parseJson(out) as T | undefined;
        resolve(value === undefined ? { ok: false, failure: { code: 'FAILED', message: 'vcpuctl printed no JSON' } } : { ok: true, value });
      },
      (ex, out) => resolve({ ok: false, failure: failureOf(ex, out), value: parseJson(out ?? '') as T | undefined }),
    );
  });
}

/** Runs `vcpuctl ARGS` for its text (report show without --json: the Markdown). */
export function runText(args: string[]): Promise<Result<string>> {
  return new Promise((resolve) => {
    cockpit.spawn(['vcpuctl', ...args], SPAWN).then(
      (out) => resolve({ ok: true, value: out }),
      (ex, out) => resolve({ ok: false, failure: failureOf(ex, out) }),
    );
  });
}

export interface WatchHandle {
  stop(): void;
}

/**
 * One `vcpuctl watch --all --json` for the page's whole life: each line is
 * handed on as it arrives (no polling). When it ends, `ended` is told why.
 */
export function watch(onRecord: (record: unknown) => void, ended: (failure: VcpuctlFailure) => void): WatchHandle {
  let partial = '';
  let stopped = false;
  const proc = cockpit.spawn(['vcpuctl', 'watch', '--all', '--json'], SPAWN);
  proc.stream((chunk) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      const record = line.length <= MAX_WATCH_LINE_CHARS ? parseJson(line) : undefined;
      if (record !== undefined) onRecord(record);
    }
    if (partial.length > MAX_WATCH_LINE_CHARS) partial = '';
  });
  proc.then(
    () => !stopped && ended({ code: 'WATCH_ENDED', message: 'vcpuctl watch ended' }),
    (ex) => !stopped && ended(failureOf(ex, null)),
  );
  return {
    stop() {
      stopped = true;
      proc.close('terminated');
    },
  };
}
