/**
 * libvirt's RPC wire protocol (src/rpc/virnetprotocol.x), client side, over any
 * byte stream: a length word, a six-word header, an XDR payload. Calls are
 * pipelined: each carries a serial, replies are matched by it, so many reads
 * are in flight on one connection instead of one process per read. This file
 * knows framing only; which procedures exist is rpc-procedures.ts, what an
 * error reply means is rpc-errors.ts. Messages the daemon sends unasked (type
 * MESSAGE: events, keepalive) go to the one handler that asked for them
 * (rpc-events.ts, rpc-keepalive.ts).
 */
import { Duplex } from 'node:stream';
import { VcpuctlError } from '@vcpuctl/proto';
import { unexpectedOutput } from './virsh-errors';
import { readRemoteError, rpcError } from './rpc-errors';
import { Keepalive } from './rpc-keepalive';
import { KEEPALIVE, REMOTE, VIR_NET } from './rpc-protocol';
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
  /** Users that keep the connection (and the process) alive while no call is pending: an event subscription. */
  private holds = 0;
  private readonly failed: ((err: Error) => void)[] = [];
  /** Remote-program messages (domain events); one that cannot be decoded throws, and the connection is closed. */
  onRemoteMessage: ((procedure: number, payload: XdrReader) => void) | undefined;
  readonly keepalive = new Keepalive(
    (procedure) => this.send(KEEPALIVE.PROGRAM, KEEPALIVE.PROTOCOL_VERSION, procedure),
    (why) => {
      this.fail(new VcpuctlError('LIBVIRT_UNREACHABLE', `${why} (${this.transport.describe})`));
      this.close();
    },
  );

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
    const header = new XdrWriter()
      .uint(LENGTH_WORD + HEADER_BYTES + args.length)
      .uint(program)
      .uint(version)
      .int(procedure)
      .int(VIR_NET.CALL)
      .uint(serial)
      .int(VIR_NET.OK)
      .bytes();
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0 && this.holds === 0) this.transport.ref();
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

  /** A message that expects no reply (keepalive's PING and PONG): type MESSAGE, serial 0, no payload. */
  private send(program: number, version: number, procedure: number): void {
    if (this.failure) return;
    const frame = new XdrWriter()
      .uint(LENGTH_WORD + HEADER_BYTES)
      .uint(program)
      .uint(version)
      .int(procedure)
      .int(VIR_NET.MESSAGE)
      .uint(0)
      .int(VIR_NET.OK)
      .bytes();
    if (this.outgoing.length === 0) process.nextTick(() => this.flush());
    this.outgoing.push(frame);
  }

  close(): void {
    this.keepalive.stop();
    this.transport.stream.destroy();
  }

  /** Keeps the event loop alive until release(), whether or not calls are pending. */
  hold(): void {
    if (this.holds++ === 0 && this.pending.size === 0) this.transport.ref();
  }

  release(): void {
    if (this.holds === 0) return;
    if (--this.holds === 0 && this.pending.size === 0) this.transport.unref();
  }

  /** Called once, with the reason, when the connection fails or closes (at once if it already has). */
  onFailure(cb: (err: Error) => void): void {
    if (this.failure) cb(this.failure);
    else this.failed.push(cb);
  }

  private settle(serial: number): Pending | undefined {
    const p = this.pending.get(serial);
    this.pending.delete(serial);
    if (p && this.pending.size === 0 && this.holds === 0) this.transport.unref();
    return p;
  }

  private fail(err: Error): void {
    const first = !this.failure;
    if (first) this.failure = err;
    this.keepalive.stop();
    for (const serial of [...this.pending.keys()]) this.settle(serial)?.reject(this.failure!);
    if (first) for (const cb of this.failed.splice(0)) cb(err);
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
    this.keepalive.heard();
    const r = new XdrReader(message.subarray(LENGTH_WORD));
    const program = r.uint();
    r.uint(); // version
    const procedure = r.int();
    const type = r.int();
    const serial = r.uint();
    const status = r.int();
    if (type === VIR_NET.MESSAGE && program === KEEPALIVE.PROGRAM) return this.keepalive.message(procedure);
    if (type === VIR_NET.MESSAGE && program === REMOTE.PROGRAM && status === VIR_NET.OK) {
      try {
        this.onRemoteMessage?.(procedure, new XdrReader(message.subarray(LENGTH_WORD + HEADER_BYTES)));
      } catch (err) {
        // Closed once, cleanly: whoever listens re-reads everything on the next connection, so nothing is lost.
        this.fail(err as Error);
        this.close();
      }
      return;
    }
    if (type !== VIR_NET.REPLY) return; // streams: vcpuctl asks for none
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
