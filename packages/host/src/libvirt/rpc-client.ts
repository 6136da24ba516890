/**
 * libvirt's RPC wire protocol (src/rpc/virnetprotocol.x), client side, over any
 * byte stream: a length word, a six-word header, an XDR payload. Calls are
 * pipelined: each carries a serial, replies are matched by it, so many reads
 * are in flight on one connection instead of one process per read. This file
 * knows framing only; which procedures exist is rpc-procedures.ts, what an
 * error reply means is rpc-errors.ts.
 */
import { Duplex } from 'node:stream';
import { VcpuctlError } from '@vcpuctl/proto';
import { unexpectedOutput } from './virsh-errors';
import { readRemoteError, rpcError } from './rpc-errors';
import { VIR_NET } from './rpc-protocol';
import { XdrReader, XdrWriter } from './rpc-xdr';

/**
 * libvirt's VIR_NET_MESSAGE_MAX (32 MiB, the length word not counted): no
 * reply is larger, so a longer length word is a broken peer and is refused
 * before anything is buffered for it.
 */
export const RPC_MESSAGE_MAX = VIR_NET.MESSAGE_MAX;
const LENGTH_WORD = VIR_NET.MESSAGE_LEN_MAX;
const HEADER_BYTES = VIR_NET.MESSAGE_HEADER_MAX;

/** The byte stream and how to let the process exit while it is idle (a socket, an ssh child's pipes). */
export interface RpcTransport {
  stream: Duplex;
  /** Keeps the event loop alive while calls are pending. */
  ref(): void;
  /** Lets the process exit while nothing is pending. */
  unref(): void;
  /** Says what was being reached, for errors ("socket /run/libvirt/libvirt-sock"). */
  describe: string;
}

interface Pending {
  resolve(r: XdrReader): void;
  reject(e: Error): void;
  what: string;
}

export class RpcClient {
  private serial = 0;
  private readonly pending = new Map<number, Pending>();
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private failure: Error | undefined;
  /** Calls made in this tick, written together at its end (see flush). */
  private outgoing: Buffer[] = [];

  constructor(private readonly transport: RpcTransport) {
    const { stream } = transport;
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', (err: NodeJS.ErrnoException) => this.fail(new VcpuctlError('LIBVIRT_UNREACHABLE', `cannot reach libvirt (${transport.describe}): ${err.code ?? err.message}`)));
    stream.on('close', () => this.fail(new VcpuctlError('LIBVIRT_UNREACHABLE', `libvirt closed the connection (${transport.describe})`)));
    transport.unref();
  }

  /** Sends one call; resolves with a reader over the reply's payload. */
  call(program: number, version: number, procedure: number, args: Buffer, what: string): Promise<XdrReader> {
    if (this.failure) return Promise.reject(this.failure);
    const serial = ++this.serial;
    const header = new XdrWriter().uint(LENGTH_WORD + HEADER_BYTES + args.length).uint(program).uint(version).int(procedure).int(VIR_NET.CALL).uint(serial).int(VIR_NET.OK).bytes();
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.transport.ref();
      this.pending.set(serial, { resolve, reject, what });
      if (this.outgoing.length === 0) process.nextTick(() => this.flush());
      this.outgoing.push(header, args);
    });
  }

  /**
   * One write for every call made in the same tick: `status --all` issues
   * about a hundred pipelined calls at once, and writing each on its own cost
   * 73 ms in the socket's writeBuffer over 20 domains (a syscall, and over ssh
   * a pipe write, apiece); together they are one.
   */
  private flush(): void {
    const chunks = this.outgoing;
    this.outgoing = [];
    if (this.failure || chunks.length === 0) return; // the calls were rejected with it
    this.transport.stream.write(Buffer.concat(chunks));
  }

  close(): void {
    this.transport.stream.destroy();
  }

  private settle(serial: number): Pending | undefined {
    const p = this.pending.get(serial);
    this.pending.delete(serial);
    if (p && this.pending.size === 0) this.transport.unref();
    return p;
  }

  private fail(err: Error): void {
    if (!this.failure) this.failure = err;
    for (const serial of [...this.pending.keys()]) this.settle(serial)?.reject(this.failure);
  }

  private onData(chunk: Buffer): void {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    for (;;) {
      if (this.bufferedBytes < LENGTH_WORD) return;
      const head = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
      this.buffered = [head];
      const length = head.readUInt32BE(0);
      if (length < LENGTH_WORD + HEADER_BYTES || length > RPC_MESSAGE_MAX + LENGTH_WORD) {
        this.fail(unexpectedOutput('libvirt RPC', `a message length of ${length} bytes`));
        this.close();
        return;
      }
      if (this.bufferedBytes < length) return;
      const message = head.subarray(0, length);
      const rest = head.subarray(length);
      this.buffered = rest.length ? [rest] : [];
      this.bufferedBytes = rest.length;
      this.onMessage(message);
    }
  }

  private onMessage(message: Buffer): void {
    const r = new XdrReader(message.subarray(LENGTH_WORD));
    r.uint(); // program
    r.uint(); // version
    r.int(); // procedure
    const type = r.int();
    const serial = r.uint();
    const status = r.int();
    if (type !== VIR_NET.REPLY) return; // events and streams: vcpuctl asks for none
    const p = this.settle(serial);
    if (!p) return;
    const payload = new XdrReader(message.subarray(LENGTH_WORD + HEADER_BYTES));
    try {
      if (status === VIR_NET.OK) p.resolve(payload);
      else if (status === VIR_NET.ERROR) p.reject(rpcError(readRemoteError(payload), p.what));
      else p.reject(unexpectedOutput('libvirt RPC', `reply status ${status}`));
    } catch (err) {
      p.reject(err as Error);
    }
  }
}
