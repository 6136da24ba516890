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
  Envelope, EnvelopeInit, MAX_BUFFERED_BYTES, MAX_CONNECTIONS, MAX_REQUEST_BYTES, MAX_REQUESTS_PER_SECOND,
  REQUEST_BURST, VcpuctlError, decodeEnvelope, encodeEnvelope, toVcpuctlError,
} from '@vcpuctl/proto';
import { TokenCheck } from './auth';
import { TokenBucket } from './token-bucket';

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
}

/** One controller's connection, as the rest of the agent sees it. */
export class Connection {
  private readonly bucket = new TokenBucket(MAX_REQUESTS_PER_SECOND, REQUEST_BURST);
  private closed = false;

  constructor(private readonly ws: WebSocket, readonly peer: string, private readonly log: (line: string) => void) {}

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === WebSocket.OPEN;
  }

  send(env: EnvelopeInit): void {
    if (!this.isOpen) return;
    // A peer that stops reading must not make us buffer without end.
    if (this.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.fail(new VcpuctlError('RATE_LIMITED', `peer is not reading (${this.ws.bufferedAmount} bytes queued)`));
      return;
    }
    this.ws.send(encodeEnvelope(env), { binary: true });
  }

  /** Sends an Error frame (when it can) and closes with the error's close code, once. */
  fail(err: VcpuctlError, id = 0): void {
    if (this.closed) return;
    this.log(`${this.peer}: closing: ${err.code}: ${err.message}`);
    this.send({ id, error: { code: err.code, message: err.message } });
    this.closed = true;
    this.ws.close(err.closeCode, err.message.slice(0, 120));
  }

  /** Closes with 1001 "going away", as a server that stops does. */
  goAway(): void {
    if (this.closed) return;
    this.closed = true;
    this.ws.close(1001, 'agent shutting down');
  }

  takeToken(): boolean {
    return this.bucket.take();
  }
}

export class Transport {
  private server: Server | undefined;
  private wss: WebSocketServer | undefined;
  /** Adopted streams and their peer names: trusted, no token asked. */
  private readonly adopted = new WeakMap<Duplex, string>();
  private streamServer: Server | undefined;
  private readonly connections = new Set<Connection>();

  constructor(private readonly opts: TransportOptions) {}

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
    const peer = adoptedAs ?? `${req.socket.remoteAddress}:${req.socket.remotePort}`;
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
    this.wss!.handleUpgrade(req, socket, head, (ws) => this.accept(ws, peer));
  }

  private accept(ws: WebSocket, peer: string): void {
    const conn = new Connection(ws, peer, this.opts.log);
    this.connections.add(conn);
    this.opts.log(`${peer}: connected`);
    ws.on('message', (data, isBinary) => this.receive(conn, data as Buffer, isBinary));
    ws.on('error', (err) => this.opts.log(`${peer}: ${err.message}`));
    ws.on('close', () => {
      this.connections.delete(conn);
      this.opts.onClose?.(conn);
      this.opts.log(`${peer}: disconnected`);
    });
    conn.send(this.opts.hello());
  }

  private receive(conn: Connection, data: Buffer, isBinary: boolean): void {
    if (!conn.takeToken()) {
      conn.fail(new VcpuctlError('RATE_LIMITED', `more than ${MAX_REQUESTS_PER_SECOND} requests per second`));
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
      conn.fail(toVcpuctlError(err));
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
