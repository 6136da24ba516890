/**
 * A guest's channel socket on a remote libvirt host, reached through the
 * ssh its `+ssh` URI names: same binary (command=), user, port, key and
 * host-key policy as libvirt's own connection, so no extra port and no
 * second credential. ssh forwards a private local unix socket to the
 * remote one (`-L local:remote`, OpenSSH's direct-streamlocal channel); the
 * agent's WebSocket then runs over a local connection as for a local
 * channel. (`ssh -W /path` would be simpler, but OpenSSH 9.2 here opens no
 * channel for a path given to -W; checked by hand.) The remote sshd needs
 * AllowStreamLocalForwarding (its default, yes); nothing else on the remote.
 *
 * The ssh child is always reaped: on close(), on a failed open, and when
 * vcpuctl exits without closing.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, watch } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VcpuctlError } from '@vcpuctl/proto';
import { MAX_SSH_STDERR_BYTES, SshTransport, sshOptions, sshReason } from '../libvirt/ssh-uri';
import type { ChannelSocket } from './socket-reach';

/** How long ssh gets to go after SIGTERM before SIGKILL: it exits at once on TERM; this only bounds a stuck one. */
const SSH_KILL_GRACE_MS = 2000;

/** __SO_ACCEPTCON in /proc/net/unix's Flags column: listen() was called on the socket. */
const SO_ACCEPTCON = 0x10000;

/** How soon to look again at a socket ssh has bound and not yet listens on: it calls listen() right after bind(). */
const LISTEN_POLL_MS = 5;

/**
 * Whether the unix socket at `path` listens. ssh's socket file appears at
 * bind(), and listen() comes a moment later (strace: ~0.3 ms, longer on a
 * loaded machine); a connect in between is refused by the kernel, and ssh,
 * never hearing of it, has no reason to give. /proc/net/unix shows the listen
 * without connecting: a probe connection would make ssh open a channel to the
 * guest's socket. Without /proc, the file is all there is to go by.
 */
function unixSocketListening(path: string): boolean {
  let table: string;
  try {
    table = readFileSync('/proc/net/unix', 'utf8');
  } catch {
    return existsSync(path);
  }
  // Num RefCount Protocol Flags Type St Inode Path; the path last, after one space.
  for (const line of table.split('\n')) {
    if (line.endsWith(` ${path}`) && Number.parseInt(line.trim().split(/\s+/)[3] ?? '', 16) & SO_ACCEPTCON) return true;
  }
  return false;
}

/** Live forwards, ended together if vcpuctl exits without closing them (one 'exit' listener, however many). */
const live = new Set<ChildProcess>();
let exitHook = false;
function track(child: ChildProcess): void {
  live.add(child);
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

/** Ends ssh and resolves on 'close': it has exited and its stderr has been read to the end (the reason is whole). */
function stop(child: ChildProcess): Promise<void> {
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  if (exited() && (!child.stderr || child.stderr.destroyed)) return Promise.resolve();
  return new Promise((resolve) => {
    const hard = setTimeout(() => child.kill('SIGKILL'), SSH_KILL_GRACE_MS);
    child.once('close', () => {
      clearTimeout(hard);
      resolve();
    });
    if (!exited()) child.kill('SIGTERM');
  });
}

export function sshForwardArgv(t: SshTransport, localPath: string, remotePath: string): string[] {
  return [
    ...sshOptions(t),
    '-N',
    // Fail rather than run without the forward; the local socket is ours alone (0600), replacing nothing else.
    '-o',
    'ExitOnForwardFailure=yes',
    '-o',
    'StreamLocalBindMask=0177',
    '-o',
    'StreamLocalBindUnlink=yes',
    '-L',
    `${localPath}:${remotePath}`,
    '--',
    t.host,
  ];
}

export async function openSshForward(t: SshTransport, remotePath: string, timeoutMs: number): Promise<ChannelSocket> {
  // -L splits its argument on ':'; libvirt's channel paths have none, a path that does is not one.
  if (remotePath.includes(':')) throw new VcpuctlError('AGENT_UNREACHABLE', `cannot forward the channel socket ${remotePath} over ssh: its path has a ':'`);
  const dir = mkdtempSync(join(tmpdir(), 'vcpuctl-ssh-'));
  const local = join(dir, 'channel.sock');
  const where = `${t.user ? `${t.user}@` : ''}${t.host}${t.port ? `:${t.port}` : ''}`;
  let stderr = '';
  const child = spawn(t.binary, sshForwardArgv(t, local, remotePath), { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-MAX_SSH_STDERR_BYTES);
  });
  // vcpuctl exiting without close() (an error path, a signal handler's exit) still ends the child.
  track(child);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await stop(child);
    live.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      // Ready when ssh listens, not when its socket file appears (see unixSocketListening).
      let poll: NodeJS.Timeout | undefined;
      const check = () => {
        if (!existsSync(local)) return;
        if (unixSocketListening(local)) done();
        else poll ??= setInterval(check, LISTEN_POLL_MS);
      };
      const watcher = watch(dir, check);
      const timer = setTimeout(() => done(new VcpuctlError('AGENT_UNREACHABLE', `ssh to ${where} did not forward the channel socket within ${timeoutMs} ms${sshReason(stderr) ? `: ${sshReason(stderr)}` : ''}`)), timeoutMs);
      const onChildExit = () => done(new VcpuctlError('AGENT_UNREACHABLE', `ssh to ${where} failed: ${sshReason(stderr) ?? `it exited with ${child.exitCode ?? child.signalCode}`}`));
      const onSpawnError = (err: NodeJS.ErrnoException) => done(new VcpuctlError('AGENT_UNREACHABLE', `cannot run ${t.binary} to reach ${where}: ${err.code ?? err.message}`));
      // 'close', not 'exit': stderr has then been read to its end.
      child.once('close', onChildExit);
      child.once('error', onSpawnError);
      function done(err?: VcpuctlError) {
        watcher.close();
        clearTimeout(timer);
        clearInterval(poll);
        child.off('close', onChildExit);
        child.off('error', onSpawnError);
        if (err) reject(err);
        else resolve();
      }
      check();
    });
  } catch (err) {
    // stderr is complete once ssh has exited: read the reason after the reap.
    await close();
    throw err;
  }
  const mark = stderr.length;
  return {
    connect: () => netConnect(local),
    reason: () => {
      const why = sshReason(stderr.slice(Math.min(mark, stderr.length)));
      return why ? `ssh to ${where} could not open ${remotePath}: ${why}` : child.exitCode !== null ? `ssh to ${where} exited` : undefined;
    },
    close,
  };
}
