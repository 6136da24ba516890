/**
 * One ssh connection to a libvirt host, shared by vcpuctl's commands for a
 * minute (OpenSSH's ControlMaster/ControlPersist, as ansible does by
 * default). An ssh handshake costs 0.6-0.9 s on this kind of machine
 * (measured: `ssh host true` to a loopback sshd), more than a whole local
 * `status` (0.25 s); with the connection kept, a later command opens a new
 * session on it in milliseconds. Used for the RPC (virt-ssh-helper) and the
 * QEMU log (`tail`): sessions that end with the command. Not for a guest's
 * channel forward (ssh-forward.ts): a forward asked of a shared master would
 * be the master's and outlive the command.
 *
 * The control sockets are in a directory of the caller's own, mode 0700,
 * one per transport (sshControlPath). Where that
 * directory cannot be made safe, or VCPUCTL_SSH_SHARE=off, each command makes
 * its own connection, as libvirt's transport does.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SshTransport } from './ssh-uri';

/** How long an idle shared connection stays up after the last command: long enough for an operator's next command, short enough not to linger. */
export const SSH_CONTROL_PERSIST_S = 60;

/**
 * The longest control directory used: a unix socket path has 108 bytes, and
 * the socket's name adds "/" + 24 hex, and ssh a temporary suffix of about
 * 20 while it binds.
 */
export const MAX_SSH_CONTROL_DIR_CHARS = 60;

/** Where the control sockets go: VCPUCTL_SSH_CONTROL_DIR, else $XDG_RUNTIME_DIR/vcpuctl-ssh, else ~/.cache/vcpuctl/ssh. */
export function sshControlDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  if (env.VCPUCTL_SSH_CONTROL_DIR) return env.VCPUCTL_SSH_CONTROL_DIR;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'vcpuctl-ssh');
  return join(home, '.cache/vcpuctl/ssh');
}

/** Whether `dir` is a directory only its owner, this process's user, can enter and change; made (0700) when missing. */
export function privateDir(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = statSync(dir);
    const uid = process.getuid?.();
    return st.isDirectory() && (uid === undefined || st.uid === uid) && (st.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

/**
 * The control socket of one transport. Named by everything the URI says
 * about the connection, key and ssh program included (ssh's own %C hashes
 * only host, port and user): a URI with another key must authenticate with
 * it, not ride on a connection another key opened.
 */
export function sshControlPath(t: SshTransport, dir: string): string {
  const id = createHash('sha256')
    .update(JSON.stringify([t.binary, t.user, t.host, t.port, t.keyfile, t.noVerify, t.noTty]))
    .digest('hex');
  return join(dir, id.slice(0, 24));
}

/** The ssh options that share the connection of `t`, or none (see above). */
export function sshShareOptions(t: SshTransport, env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.VCPUCTL_SSH_SHARE === 'off') return [];
  const dir = sshControlDir(env);
  if (dir.length > MAX_SSH_CONTROL_DIR_CHARS || !privateDir(dir)) return [];
  return ['-o', 'ControlMaster=auto', '-o', `ControlPath=${sshControlPath(t, dir)}`, '-o', `ControlPersist=${SSH_CONTROL_PERSIST_S}`];
}
