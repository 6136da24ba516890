/**
 * The agent's transport: a WebSocket server carrying one binary protobuf
 * Envelope per frame. It authenticates, bounds and decodes; it knows nothing
 * of commands (those come through `onRequest`).
 */
import { createServer as createHttpServer, IncomingMessage, Server } from 'node:http';
import { Duplex } from 'node:stream';
import { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import {
  Envelope,
  EnvelopeInit,
  IDLE_TIMEOUT_MS,
  MAX_BUFFERED_BYTES,
  MAX_CONNECTIONS,
  MAX_REQUEST_BYTES,
  MAX_REQUESTS_PER_SECOND,
  PING_INTERVAL_MS,
  VcpuctlError,
  decodeEnvelope,
  encodeEnvelope,
  toVcpuctlError,
} from '@vcpuctl/proto';
import { TokenCheck } from './auth';
import { Peer, PeerLimits } from './peer-limits';

/** Timings a test may shorten; the limits themselves stay the named constants. */
export interface TransportTimings {
  idleTimeoutMs: number;
  pingIntervalMs: number;
}

export interface TransportOptions {
  host: string;
  port: number;
  /** undefined only with --insecure-no-auth. */
  token: TokenCheck | undefined;
  tls?: { cert: Buffer; key: Buffer };
  log: (line: string) => void;
  /** The first frame on every connection. */
  hello: () => EnvelopeInit;
  onRequest: (conn: Connection, env: Envelope) => void;
  onClose?: (conn: Connection) => void;
  timings?: Partial<TransportTimings>;
}

/**
 * Frames pushed to every subscriber are one object: encode it once, not once
 * per connection (a 256-CPU snapshot is ~40 KiB).
 */
const encoded = new WeakMap<EnvelopeInit, Uint8Array>();
function encodeOnce(env: EnvelopeInit): Uint8Array {
  let bytes = encoded.get(env);
  if (!bytes) {
    bytes = encodeEnvelope(env);
    encoded.set(env, bytes);
  }
  return bytes;
}

/** One controller's connection, as the rest of the agent sees it. */
export class Connection {
  private closed = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private ponged = true;
  private working = 0;

  constructor(
    private readonly ws: WebSocket,
    /** "address:port", for log lines. */
    readonly peer: string,
    /** The limits this connection's remote address shares with its other connections. */
    readonly origin: Peer,
    private readonly log: (line: string) => void,
    private readonly timings: TransportTimings,
  ) {
    this.idleTimer = setTimeout(() => {
      // A request waiting or being carried out (onlining many CPUs can take long) is not idleness.
      if (this.working > 0) this.idleTimer?.refresh();
      else this.drop(`idle for ${timings.idleTimeoutMs} ms`);
    }, timings.idleTimeoutMs);
    ws.on('pong', () => (this.ponged = true));
    // ws answers every ping with a pong by itself: a peer that pings and
    // never reads would grow our queue through that door. Pings count as
    // requests, and the queue bound holds for pongs too.
    ws.on('ping', () => {
      if (!this.takeToken()) this.fail(new VcpuctlError('RATE_LIMITED', `more than ${MAX_REQUESTS_PER_SECOND} frames per second from this peer`));
      else if (this.ws.bufferedAmount > MAX_BUFFERED_BYTES) this.drop(`RATE_LIMITED: peer is not reading (${this.ws.bufferedAmount} bytes queued)`);
    });
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === WebSocket.OPEN;
  }

  send(env: EnvelopeInit): void {
    if (!this.isOpen) return;
    // A peer that stops reading must not make us buffer without end. Its
    // queue is full, so no error frame could reach it: drop it, once.
    if (this.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.drop(`RATE_LIMITED: peer is not reading (${this.ws.bufferedAmount} bytes queued)`);
      return;
    }
    this.ws.send(encodeOnce(env), { binary: true });
  }

  /** Sends an Error frame (when it can) and closes with the error's close code, once. */
  fail(err: VcpuctlError, id = 0): void {
    if (this.closed) return;
    this.log(`${this.peer}: closing: ${err.code}: ${err.message}`);
    if (this.ws.readyState === WebSocket.OPEN && this.ws.bufferedAmount <= MAX_BUFFERED_BYTES) {
      this.ws.send(encodeEnvelope({ id, error: { code: err.code, message: err.message } }), { binary: true });
    }
    this.shut();
    this.ws.close(err.closeCode, err.message.slice(0, 120));
  }

  /** Ends the connection at once, without a close handshake the peer would have to read. */
  drop(why: string): void {
    if (this.closed) return;
    this.log(`${this.peer}: closing: ${why}`);
    this.shut();
    this.ws.terminate();
  }

  /** Closes with 1001 "going away", as a server that stops does. */
  goAway(): void {
    if (this.closed) return;
    this.shut();
    this.ws.close(1001, 'agent shutting down');
  }

  /** Marks it closed and stops its timers (also when the peer closed it). */
  shut(): void {
    this.closed = true;
    clearTimeout(this.idleTimer);
    clearInterval(this.pingTimer);
  }

  /** A request arrived: the connection is in use. */
  touch(): void {
    this.idleTimer?.refresh();
  }

  /** Brackets one request from its arrival to its answer, so the idle timeout never cuts one short. */
  begin(): void {
    this.working++;
  }

  end(): void {
    this.working = Math.max(0, this.working - 1);
    this.touch();
  }

  /**
   * The peer waits for pushes (a subscription): silence is expected, so the
   * idle timeout gives way to pings, and a peer that stops answering them is
   * dropped.
   */
  holdOpen(): void {
    if (this.closed || this.pingTimer) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.pingTimer = setInterval(() => {
      if (!this.ponged) {
        this.drop('no pong since the last ping');
        return;
      }
      this.ponged = false;
      this.ws.ping();
    }, this.timings.pingIntervalMs);
  }

  takeToken(): boolean {
    return this.origin.requests.take();
  }
}

export class Transport {
  private server: Server | undefined;
  private wss: WebSocketServer | undefined;
  /** Adopted streams and their peer names: trusted, no token asked. */
  private readonly adopted = new WeakMap<Duplex, string>();
  private streamServer: Server | undefined;
  private readonly connections = new Set<Connection>();
  private readonly peers = new PeerLimits();
  private readonly timings: TransportTimings;

  constructor(private readonly opts: TransportOptions) {
    this.timings = { idleTimeoutMs: IDLE_TIMEOUT_MS, pingIntervalMs: PING_INTERVAL_MS, ...opts.timings };
  }

  async listen(): Promise<AddressInfo> {
    const { opts } = this;
    // https is loaded only when TLS is configured.
    this.server = this.handle(opts.tls ? (await import('node:https')).createServer({ cert: opts.tls.cert, key: opts.tls.key }) : createHttpServer());
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(opts.port, opts.host, () => resolve());
    });
    return this.server.address() as AddressInfo;
  }

  private handle(server: Server): Server {
    this.wss ??= new WebSocketServer({ noServer: true, maxPayload: MAX_REQUEST_BYTES, perMessageDeflate: false });
    server.on('request', (_req, res) => {
      res.writeHead(426, { 'Content-Type': 'text/plain' }).end('vcpuctl-agent speaks WebSocket only\n');
    });
    server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    return server;
  }

  /**
   * Serves a byte stream that is a connection of its own (a virtio-serial
   * channel session) through the same HTTP/WebSocket path as TCP, so every
   * limit applies; `peer` names it in logs. Such a stream is trusted (no
   * token): only root on the host can reach it. Plain HTTP even with --tls:
   * the channel is not a network. The server for it never listens.
   */
  adopt(stream: Duplex, peer: string): void {
    this.adopted.set(stream, peer);
    (this.streamServer ??= this.handle(createHttpServer())).emit('connection', stream);
  }

  private refuse(socket: Duplex, status: number, text: string): void {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const adoptedAs = this.adopted.get(socket);
    // An adopted stream (the channel's host) is one peer of its own for the per-peer limits.
    const address = adoptedAs ?? req.socket.remoteAddress ?? 'unknown';
    const peer = adoptedAs ?? `${address}:${req.socket.remotePort}`;
    if (adoptedAs === undefined && this.opts.token && !this.opts.token.accepts(req.headers.authorization)) {
      this.opts.log(`${peer}: refused: bad or missing token`);
      this.refuse(socket, 401, 'Unauthorized');
      return;
    }
    if (this.connections.size >= MAX_CONNECTIONS) {
      this.opts.log(`${peer}: refused: ${MAX_CONNECTIONS} connections already open`);
      this.refuse(socket, 503, 'Service Unavailable');
      return;
    }
    const admitted = this.peers.check(address);
    if (!admitted.ok) {
      this.opts.log(`${peer}: refused: ${admitted.why}`);
      this.refuse(socket, admitted.status, admitted.status === 429 ? 'Too Many Requests' : 'Service Unavailable');
      return;
    }
    this.wss!.handleUpgrade(req, socket, head, (ws) => this.accept(ws, peer, admitted.peer));
  }

  private accept(ws: WebSocket, peer: string, origin: Peer): void {
    const conn = new Connection(ws, peer, origin, this.opts.log, this.timings);
    this.peers.attach(origin);
    this.connections.add(conn);
    this.opts.log(`${peer}: connected`);
    ws.on('message', (data, isBinary) => this.receive(conn, data as Buffer, isBinary));
    ws.on('error', (err) => this.opts.log(`${peer}: ${err.message}`));
    ws.on('close', () => {
      conn.shut();
      this.peers.release(origin);
      this.connections.delete(conn);
      this.opts.onClose?.(conn);
      this.opts.log(`${peer}: disconnected`);
    });
    conn.send(this.opts.hello());
  }

  private receive(conn: Connection, data: Buffer, isBinary: boolean): void {
    conn.touch();
    if (!conn.takeToken()) {
      conn.fail(new VcpuctlError('RATE_LIMITED', `more than ${MAX_REQUESTS_PER_SECOND} requests per second from this peer`));
      return;
    }
    if (!isBinary) {
      conn.fail(new VcpuctlError('PROTOCOL', 'text frame received; the protocol is binary protobuf'));
      return;
    }
    let env: Envelope;
    try {
      env = decodeEnvelope(data, MAX_REQUEST_BYTES);
    } catch (err) {
      const e = toVcpuctlError(err);
      // A well-formed frame of a type this agent does not know (a newer
      // peer's): answer it and carry on, as with any request it refuses.
      if (e.details?.unknownType) conn.send({ id: Number(e.details.id ?? 0), error: { code: e.code, message: e.message } });
      else conn.fail(e);
      return;
    }
    this.opts.onRequest(conn, env);
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.goAway();
    this.wss?.close();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
  }
}
