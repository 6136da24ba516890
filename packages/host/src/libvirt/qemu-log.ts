/**
 * The last lines of a domain's QEMU log, for crash reports. libvirt writes it
 * on the machine the domain runs on (/var/log/libvirt/qemu/NAME.log for
 * qemu:///system) and has no API to read it, so it is read where it is: from
 * this machine's disk for a local URI, through the URI's own ssh (the same
 * ssh, user and key libvirt's transport uses: ssh-uri.ts) for qemu+ssh://,
 * and not at all for other transports (the report then has no log section).
 * Best effort: a log that cannot be read gives no lines, never an error.
 */
import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import { homedir } from 'node:os';
import { sshShareOptions } from './ssh-share';
import { libvirtSshArgv, SshTransport, sshTransportOf } from './ssh-uri';

/** The end of the log that is read: a crash's lines are the last few; the log itself grows without bound. */
export const QEMU_LOG_TAIL_BYTES = 64 * 1024;
/** Characters kept of one line: QEMU's lines are short; a longer one is not what a report needs whole. */
export const QEMU_LOG_LINE_CHARS = 1000;
/** How long the remote read may take: one ssh connection and a `tail`; a report is not held up longer. */
export const QEMU_LOG_SSH_TIMEOUT_MS = 15_000;

const SYSTEM_LOG_DIR = '/var/log/libvirt/qemu';

export type QemuLogSource = { kind: 'local'; path: string } | { kind: 'ssh'; ssh: SshTransport; path: string };

/** Where the log of `domain` at `uri` is, and how to reach it; undefined when vcpuctl cannot know. */
export function qemuLogSource(uri: string, domain: string, home: string = homedir()): QemuLogSource | undefined {
  // A libvirt name never has a '/': anything else is not a file in the log directory.
  if (!domain || domain.includes('/') || domain.startsWith('.')) return undefined;
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return undefined;
  }
  const local = (u.protocol === 'qemu:' || u.protocol === 'qemu+unix:') && u.host === '';
  if (local && u.pathname === '/system') return { kind: 'local', path: `${SYSTEM_LOG_DIR}/${domain}.log` };
  if (local && u.pathname === '/session') return { kind: 'local', path: `${home}/.cache/libvirt/qemu/log/${domain}.log` };
  if (u.protocol === 'qemu+ssh:' && u.pathname === '/system') {
    try {
      const ssh = sshTransportOf(uri);
      return ssh && { kind: 'ssh', ssh, path: `${SYSTEM_LOG_DIR}/${domain}.log` };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The last `lines` lines of a log's end (`text` may start mid-line when it was cut: that line is dropped). */
export function lastLines(text: string, lines: number, cut: boolean): string[] {
  if (!text) return [];
  const all = text.replace(/\n+$/, '').split('\n');
  if (cut) all.shift();
  return all.slice(-lines).map((l) => (l.length > QEMU_LOG_LINE_CHARS ? `${l.slice(0, QEMU_LOG_LINE_CHARS)}…` : l));
}

async function localTail(path: string): Promise<{ text: string; cut: boolean }> {
  const f = await open(path, 'r');
  try {
    const { size } = await f.stat();
    const length = Math.min(size, QEMU_LOG_TAIL_BYTES);
    const buf = Buffer.alloc(length);
    await f.read(buf, 0, length, size - length);
    return { text: buf.toString('utf8'), cut: size > length };
  } finally {
    await f.close();
  }
}

/** A word for the remote shell, which reads ssh's command line: single-quoted, a ' closed and escaped. */
function shellWord(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

function sshTail(ssh: SshTransport, path: string): Promise<{ text: string; cut: boolean }> {
  // One byte more than kept says whether the log was longer (its first line is then partial).
  const [binary, ...args] = libvirtSshArgv(ssh, [`tail -c ${QEMU_LOG_TAIL_BYTES + 1} -- ${shellWord(path)}`], sshShareOptions(ssh));
  return new Promise((resolve, reject) => {
    execFile(binary!, args, { encoding: 'buffer', timeout: QEMU_LOG_SSH_TIMEOUT_MS, maxBuffer: QEMU_LOG_TAIL_BYTES + 1, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout) => {
      if (err) return reject(err);
      const cut = stdout.length > QEMU_LOG_TAIL_BYTES;
      resolve({ text: stdout.subarray(cut ? 1 : 0).toString('utf8'), cut });
    });
  });
}

export async function qemuLogTail(uri: string, domain: string, lines: number): Promise<string[]> {
  const source = qemuLogSource(uri, domain);
  if (!source) return [];
  try {
    const { text, cut } = source.kind === 'local' ? await localTail(source.path) : await sshTail(source.ssh, source.path);
    return lastLines(text, lines, cut);
  } catch {
    return [];
  }
}
