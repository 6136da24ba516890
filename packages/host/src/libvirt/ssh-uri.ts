/**
 * A libvirt `+ssh` URI read the way libvirt 9.0's own ssh transport reads it
 * (src/rpc/virnetsocket.c, virNetSocketNewConnectSSH; docs/uri.rst), so the
 * ssh that vcpuctl starts to reach a guest's channel socket is the one
 * libvirt starts to reach libvirtd: same binary, user, port, key, host-key
 * policy. Observed here, with `command=` pointing at a logging wrapper:
 *   qemu+ssh://root@H:P/system?keyfile=K&no_verify=1&no_tty=1
 *   -> ssh -p P -l root -i K -T -e none -o BatchMode=yes -o StrictHostKeyChecking=no -- H <remote command>
 * `known_hosts`/`known_hosts_verify` belong to the libssh/libssh2 transports
 * (qemu+libssh://); the ssh transport leaves host keys to ssh's own config.
 * Pure: parsing and argv only, no process.
 */
import { hostname } from 'node:os';
import { VcpuctlError } from '@vcpuctl/proto/errors';

/** The longest URI read: a libvirt URI is a host, a path and a few parameters; anything longer is not one. */
export const MAX_URI_CHARS = 4096;
const MAX_PORT = 65535;

export interface SshTransport {
  /** The ssh program: `command=`, else `ssh` from PATH (as libvirt). */
  binary: string;
  host: string;
  user: string | undefined;
  port: number | undefined;
  keyfile: string | undefined;
  noVerify: boolean;
  noTty: boolean;
}

function bad(uri: string, why: string): VcpuctlError {
  return new VcpuctlError('USAGE', `bad libvirt URI "${uri.slice(0, 200)}": ${why}`);
}

/** libvirt reads these flags as integers: 0 is off, anything else on, a non-number an error. */
function flag(uri: string, q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null) return false;
  if (!/^-?\d+$/.test(v)) throw bad(uri, `${name} wants 0 or 1, not "${v}"`);
  return Number(v) !== 0;
}

/** A value that ssh would read as an option if it came first. */
function noDash(uri: string, what: string, v: string): string {
  if (v.startsWith('-')) throw bad(uri, `the ${what} "${v}" starts with "-"`);
  return v;
}

/**
 * The ssh transport a `driver+ssh://` URI names; undefined for any other
 * transport. A URI libvirt would refuse (no host, a bad port) is a USAGE error.
 */
export function sshTransportOf(uri: string): SshTransport | undefined {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri)?.[1];
  if (!scheme || !/\+ssh$/i.test(scheme)) return undefined;
  if (uri.length > MAX_URI_CHARS) throw bad(uri, `longer than ${MAX_URI_CHARS} characters`);
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw bad(uri, 'not a URI');
  }
  const host = decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, '$1');
  if (!host) throw bad(uri, 'a +ssh URI names the host to reach (qemu+ssh://[user@]host[:port]/system)');
  let port: number | undefined;
  if (url.port !== '') {
    port = Number(url.port);
    if (!Number.isInteger(port) || port < 1 || port > MAX_PORT) throw bad(uri, `port ${url.port} is not 1-${MAX_PORT}`);
  }
  const q = url.searchParams;
  const user = url.username ? noDash(uri, 'user', decodeURIComponent(url.username)) : undefined;
  const keyfile = q.get('keyfile');
  if (keyfile === '') throw bad(uri, 'keyfile= is empty');
  const command = q.get('command');
  if (command === '') throw bad(uri, 'command= is empty');
  return {
    binary: command ?? 'ssh',
    host: noDash(uri, 'host', host),
    user,
    port,
    keyfile: keyfile ?? undefined,
    noVerify: flag(uri, q, 'no_verify'),
    noTty: flag(uri, q, 'no_tty'),
  };
}

/**
 * The options libvirt passes before `--`, in libvirt's order. What follows
 * `--` is the host, then the remote command (libvirt: its proxy to
 * libvirtd; vcpuctl: none, it asks for a streamlocal forward instead).
 */
export function sshOptions(t: SshTransport): string[] {
  const argv: string[] = [];
  if (t.port !== undefined) argv.push('-p', String(t.port));
  if (t.user !== undefined) argv.push('-l', t.user);
  if (t.keyfile !== undefined) argv.push('-i', t.keyfile);
  argv.push('-T', '-e', 'none');
  if (t.noTty) argv.push('-o', 'BatchMode=yes');
  if (t.noVerify) argv.push('-o', 'StrictHostKeyChecking=no');
  return argv;
}

/** Bytes of ssh's stderr kept (the tail): its reasons are one line; a chatty ssh must not grow our memory. */
export const MAX_SSH_STDERR_BYTES = 8192;

/** ssh's last line that says something (not the "Permanently added" notice of a first connection). */
export function sshReason(stderr: string): string | undefined {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !/^Warning: Permanently added/.test(l));
  return lines.at(-1);
}

/**
 * The argv libvirt itself runs for this transport, remote command included;
 * `extra` options (connection sharing: ssh-share.ts) go after libvirt's.
 */
export function libvirtSshArgv(t: SshTransport, remoteCommand: string[], extra: string[] = []): string[] {
  return [t.binary, ...sshOptions(t), ...extra, '--', t.host, ...remoteCommand];
}

/**
 * The machine a URI's domains live on, for reports: the URI's host for a
 * remote transport, this machine's hostname for a local one
 * (qemu:///system, test:///default, qemu+unix://...).
 */
export function hostOfUri(uri: string, localHostname: string = hostname()): string {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return localHostname;
  }
  const host = decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, '$1');
  return host || localHostname;
}
