/**
 * Where libvirt's RPC is reached for a URI, natively. Local QEMU URIs are the
 * daemon's unix socket (the modular virtqemud's when it runs, else
 * libvirtd's), as libvirt's own client picks it; `socket=` names another.
 * `qemu+ssh://host/system` goes through the ssh the URI names, to
 * virt-ssh-helper on the remote host, exactly as libvirt's own ssh transport
 * does, on a connection shared between commands (ssh-share.ts). Every other URI (tls, tcp, libssh, the in-process test driver, or
 * parameters vcpuctl does not interpret) gives undefined, and the caller keeps
 * using virsh for it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { Duplex } from 'node:stream';
import { RpcTransport } from './rpc-client';
import { sshShareOptions } from './ssh-share';
import { libvirtSshArgv, SshTransport, sshReason, sshTransportOf } from './ssh-uri';

export type NativeTarget = { kind: 'unix'; name: string; socket: string } | { kind: 'ssh'; name: string; ssh: SshTransport };

const RUN_DIR = '/run/libvirt';
/** The URI parameters libvirt's ssh transport reads and vcpuctl reproduces (ssh-uri.ts). */
const SSH_PARAMS = new Set(['keyfile', 'no_verify', 'no_tty', 'command']);
/** ssh's stderr kept for the error message: one ssh, one connection, its reason is one line; the tail is enough. */
const MAX_SSH_STDERR_CHARS = 4096;

export function nativeTarget(uri: string, runDir = RUN_DIR): NativeTarget | undefined {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return undefined;
  }
  if (u.pathname !== '/system') return undefined;
  const params = [...u.searchParams.keys()];
  if ((u.protocol === 'qemu:' || u.protocol === 'qemu+unix:') && u.host === '') {
    if (params.some((k) => k !== 'socket')) return undefined;
    const modular = `${runDir}/virtqemud-sock`;
    const socket = u.searchParams.get('socket') ?? (existsSync(modular) ? modular : `${runDir}/libvirt-sock`);
    return { kind: 'unix', name: 'qemu:///system', socket };
  }
  if (u.protocol === 'qemu+ssh:') {
    if (params.some((k) => !SSH_PARAMS.has(k))) return undefined;
    try {
      const ssh = sshTransportOf(uri);
      return ssh && { kind: 'ssh', name: 'qemu:///system', ssh };
    } catch {
      return undefined; // a URI libvirt would refuse: virsh says why
    }
  }
  return undefined;
}

export function transportFor(target: NativeTarget): RpcTransport {
  return target.kind === 'unix' ? unixTransport(target.socket) : sshTransport(target.ssh, target.name);
}

export function unixTransport(path: string): RpcTransport {
  const socket = connect(path);
  return { stream: socket, ref: () => socket.ref(), unref: () => socket.unref(), describe: `socket ${path}` };
}

/**
 * The RPC through ssh: ssh runs virt-ssh-helper (part of libvirt-daemon on
 * every libvirt host) on the remote side, which joins its stdin and stdout
 * to the daemon's socket there. The ssh child ends with the stream.
 */
export function sshTransport(t: SshTransport, name: string): RpcTransport {
  const [binary, ...args] = libvirtSshArgv(t, ['virt-ssh-helper', name], sshShareOptions(t));
  const child = spawn(binary!, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-MAX_SSH_STDERR_CHARS);
  });
  const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
  child.once('error', (err) => stream.destroy(err));
  // 'close' comes once ssh has exited and its stderr has been read to the end ('exit' may come before the last of it).
  child.once('close', (code) => stream.destroy(new Error(sshReason(stderr) ?? `ssh exited with status ${code}`)));
  stream.once('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  const handles = [child, child.stdout, child.stdin, child.stderr] as unknown as { ref?(): void; unref?(): void }[];
  return {
    stream,
    ref: () => handles.forEach((h) => h.ref?.()),
    unref: () => handles.forEach((h) => h.unref?.()),
    describe: `ssh to ${t.host}`,
  };
}
