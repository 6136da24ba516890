/**
 * Runs virsh with LC_ALL=C (error texts are matched) and counts the spawns.
 * Several commands share one process: virsh runs a ';'-separated list, and
 * `echo` between them marks where each one's output ends.
 */
import { spawn } from 'node:child_process';
import { VcpuctlError } from '@vcpuctl/proto';

export interface VirshResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** virsh's own timeouts (e.g. 5 s for an unplug) are far below this; it bounds a hung daemon. */
export const VIRSH_TIMEOUT_MS = 120_000;

const MARK = '@@vcpuctl-end-of-command@@';

/** virsh's `--live`/`--config` for where a change applies: the words of its commands, and of the RPC's errors that name them. */
export function virshAffectWords(where: { live: boolean; config: boolean }): string {
  return [where.live ? '--live' : '', where.config ? '--config' : ''].filter(Boolean).join(' ');
}

/** Quotes one word for virsh's command parser. */
export function virshQuote(word: string): string {
  if (/['\\\n]/.test(word)) throw new VcpuctlError('USAGE', `unsupported character in "${word}"`);
  return `'${word}'`;
}

export class Virsh {
  spawns = 0;

  constructor(
    readonly uri: string,
    private readonly binary = 'virsh',
  ) {}

  run(args: string[], timeoutMs = VIRSH_TIMEOUT_MS): Promise<VirshResult> {
    this.spawns++;
    return new Promise((resolve, reject) => {
      const child = spawn(this.binary, ['-q', '-c', this.uri, ...args], {
        env: { ...process.env, LC_ALL: 'C' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new VcpuctlError('LIBVIRT_UNREACHABLE', `cannot run virsh: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (signal === 'SIGKILL') {
          reject(new VcpuctlError('TIMEOUT', `virsh ${args.join(' ')} did not finish within ${timeoutMs / 1000} s`));
          return;
        }
        resolve({ stdout, stderr, code: code ?? 1 });
      });
    });
  }

  /** Runs commands in one virsh process; returns each one's stdout, and the shared stderr. */
  async batch(commands: string[], timeoutMs?: number): Promise<{ outputs: string[]; stderr: string }> {
    const script = commands.join(` ; echo ${MARK} ; `);
    const r = await this.run([script], timeoutMs);
    // echo does not always end its line; the next command may follow at once.
    const outputs = r.stdout.split(MARK).map((o, i) => (i > 0 ? o.replace(/^\n/, '') : o));
    while (outputs.length < commands.length) outputs.push('');
    return { outputs, stderr: r.stderr };
  }
}
