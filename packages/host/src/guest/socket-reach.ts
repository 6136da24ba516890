/**
 * How a channel's host socket is opened: libvirt names it in the live XML,
 * on the machine libvirtd runs on. For a local URI that is this machine
 * (net.connect); for a `+ssh` URI it is the remote host, reached through
 * the same ssh libvirt itself uses (guest/ssh-forward.ts). channel.ts and
 * discover.ts see only this interface.
 */
import { existsSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { Duplex } from 'node:stream';
import { VcpuctlError } from '@vcpuctl/proto';
import { hostOfUri, sshTransportOf } from '../libvirt/ssh-uri';
import { openSshForward } from './ssh-forward';

/** One channel socket made reachable; connect() may be called more than once (a retry). */
export interface ChannelSocket {
  /** A new connection to the socket, synchronously (what ws's createConnection wants). */
  connect(): Duplex;
  /** Why connections failed, in the transport's own words (ssh's stderr), when it said. */
  reason(): string | undefined;
  /** Lets go of the transport: the ssh child is ended and reaped, its temp dir removed. */
  close(): Promise<void>;
}

export interface SocketReach {
  /** The host the sockets are on, for messages and reports. */
  readonly host: string;
  /** How they are reached: 'local' or 'ssh'. */
  readonly transport: 'local' | 'ssh';
  /** Within timeoutMs, or AGENT_UNREACHABLE with the reason. */
  open(path: string, timeoutMs: number): Promise<ChannelSocket>;
}

class LocalReach implements SocketReach {
  readonly transport = 'local';
  constructor(readonly host: string) {}

  async open(path: string): Promise<ChannelSocket> {
    if (!existsSync(path)) throw new VcpuctlError('AGENT_UNREACHABLE', `the channel's socket ${path} is not on this machine`);
    return { connect: () => netConnect(path), reason: () => undefined, close: async () => undefined };
  }
}

/** The reach for a libvirt URI's channel sockets: over its ssh for `+ssh`, else on this machine. */
export function socketReachFor(uri: string): SocketReach {
  const ssh = sshTransportOf(uri);
  if (!ssh) return new LocalReach(hostOfUri(uri));
  return { host: ssh.host, transport: 'ssh', open: (path, timeoutMs) => openSshForward(ssh, path, timeoutMs) };
}
