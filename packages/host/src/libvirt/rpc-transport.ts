/**
 * Where libvirt's RPC is reached for a URI, natively. Local QEMU URIs are the
 * daemon's unix socket (the modular virtqemud's when it runs, else
 * libvirtd's), as libvirt's own client picks it; `socket=` names another. Every
 * other URI (ssh, tls, tcp, the in-process test driver) gives undefined, and
 * the caller keeps using virsh for it.
 */
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { RpcTransport } from './rpc-client';

export interface NativeTarget {
  /** The URI the daemon is asked to open (qemu:///system). */
  name: string;
  socket: string;
}

const RUN_DIR = '/run/libvirt';

export function nativeTarget(uri: string, runDir = RUN_DIR): NativeTarget | undefined {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return undefined;
  }
  if ((u.protocol !== 'qemu:' && u.protocol !== 'qemu+unix:') || u.host !== '' || u.pathname !== '/system') return undefined;
  const params = [...u.searchParams.keys()];
  if (params.some((k) => k !== 'socket')) return undefined; // parameters vcpuctl does not interpret: leave them to virsh
  const modular = `${runDir}/virtqemud-sock`;
  const socket = u.searchParams.get('socket') ?? (existsSync(modular) ? modular : `${runDir}/libvirt-sock`);
  return { name: 'qemu:///system', socket };
}

export function unixTransport(path: string): RpcTransport {
  const socket = connect(path);
  return { stream: socket, ref: () => socket.ref(), unref: () => socket.unref(), describe: `socket ${path}` };
}
