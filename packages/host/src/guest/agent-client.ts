/**
 * The controller's side of the agent protocol: connect with a bearer token
 * (TCP) or over the domain's virtio-serial channel (a unix socket on this
 * host), check the Hello, send requests and match replies by id, and surface
 * pushed CpuEvents and KernelLogs as events. Both transports carry the same
 * WebSocket stream; only how the socket is opened differs.
 */
import { EventEmitter } from 'node:events';
import { connect as netConnect } from 'node:net';
import { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import {
  Envelope,
  EnvelopeInit,
  GUEST_BYTES_BURST,
  GUEST_FRAME_BURST,
  MAX_GUEST_BYTES_PER_SECOND,
  MAX_GUEST_FRAMES_PER_SECOND,
  MAX_REPLY_BYTES,
  PROTOCOL_VERSION,
  TokenBucket,
  VcpuctlError,
  decodeGuestFrame,
  encodeEnvelope,
  isCompatible,
  isPushedFrame,
  v1,
} from '@vcpuctl/proto';
import { CheckedHello, checkCpuEvent, checkHello, checkKernelLines, checkSetOnlineReply, checkSnapshot, checkWantedOfflineReply, guestError, isMisbehaviour } from './guest-input';
import { GuestReach, GuestSession, GuestSessionEvents } from './source';

/** ws is loaded on the first connection: a command that reaches no agent (a fleet of bare domains) starts without it. */
let wsLoaded: typeof import('ws') | undefined;
function wsModule(): typeof import('ws') {
  return (wsLoaded ??= require('ws') as typeof import('ws'));
}

export interface AgentEndpoint {
  /** ws://127.0.0.1:PORT or wss://...; for a channel, a name for messages (the URL's host is not used). */
  url: string;
  token: string | undefined;
  /** PEM CA certificate for wss:// agents with their own certificate. */
  ca?: Buffer;
  /** The host side of the domain's virtio-serial channel: the WebSocket runs over this unix socket. */
  socketPath?: string;
  /** Opens the channel's stream when the socket is not simply on this machine (guest/socket-reach.ts). */
  createConnection?: () => Duplex;
}

export interface ConnectOptions {
  timeoutMs: number;
}

interface Waiter {
  resolve: (env: Envelope) => void;
  reject: (err: VcpuctlError) => void;
  timer: NodeJS.Timeout;
  what: string;
}

/**
 * Keepalive of a long-lived session (watch, the exporter): a ping every
 * 500 ms, and the session given up when nothing (pong or frame) has come for
 * 2 s, so a dead agent shows within 2.5 s. QEMU keeps the host end of a channel open across an agent restart
 * and a guest reset, so silence is the only sign; a channel round trip under
 * TCG on a loaded host is 135 ms median, 544 ms p95 (README, channel bench),
 * so 2 s is not a slow guest. A restarted agent discards the pings as bytes
 * between sessions; the session is then reopened at once.
 */
export const KEEPALIVE_INTERVAL_MS = 500;
export const KEEPALIVE_TIMEOUT_MS = 2000;

/**
 * How long close() waits for the agent's half of the closing handshake before
 * dropping the connection: one round trip on a loaded TCG guest, with room.
 * ws alone would wait 30 s for a peer that is gone, holding the channel.
 */
export const CLOSE_GRACE_MS = 300;

/** Ids wrap before 2^32 (the schema's uint32). */
const MAX_REQUEST_ID = 0xffffffff;

export type AgentClientEvents = GuestSessionEvents;

export class AgentClient extends EventEmitter<AgentClientEvents> implements GuestSession {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiter>();
  private closedWith: VcpuctlError | undefined;
  /** The full agent: topology, lscpu view, kernel lines, pushed events. */
  readonly reduced = undefined;
  /** The guest's budget for pushed frames (events, kernel lines): a flood costs the host this much and no more. */
  private readonly pushedFrames = new TokenBucket(MAX_GUEST_FRAMES_PER_SECOND, GUEST_FRAME_BURST);
  private readonly pushedBytes = new TokenBucket(MAX_GUEST_BYTES_PER_SECOND, GUEST_BYTES_BURST);
  /** Pushed frames dropped over the budget, for the metric and the view. */
  droppedFrames = 0;
  /** After drops, one fresh snapshot is asked for once the budget refills, so the view ends up true. */
  private resync: NodeJS.Timeout | undefined;

  private constructor(
    private readonly ws: WebSocket,
    readonly hello: CheckedHello,
    readonly url: string,
    readonly via: GuestReach,
  ) {
    super();
    ws.on('message', (data) => this.receive(data as Buffer));
    ws.on('close', (code, reason) => {
      const err = this.closedWith ?? new VcpuctlError('AGENT_UNREACHABLE', `agent at ${url} closed the connection (${code}${reason.length ? `: ${reason}` : ''})`);
      this.closedWith = err;
      if (this.resync) clearTimeout(this.resync);
      for (const w of this.waiting.values()) {
        clearTimeout(w.timer);
        // A session we closed for what the guest sent says so; otherwise the guest went away.
        w.reject(isMisbehaviour(err) ? err : new VcpuctlError('AGENT_UNREACHABLE', `agent at ${url} went away while waiting for ${w.what}`));
      }
      this.waiting.clear();
      this.emit('close', err);
    });
    ws.on('error', () => undefined); // 'close' follows and reports
  }

  static connect(endpoint: AgentEndpoint, opts: ConnectOptions): Promise<AgentClient> {
    // Messages name the channel's socket, not the placeholder URL ws needs.
    const where = endpoint.socketPath ? `channel ${endpoint.socketPath}` : endpoint.url;
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      if (endpoint.token !== undefined) headers.Authorization = `Bearer ${endpoint.token}`;
      let ws: WebSocket;
      try {
        const socketPath = endpoint.socketPath;
        ws = new (wsModule().WebSocket)(endpoint.url, {
          headers,
          maxPayload: MAX_REPLY_BYTES,
          perMessageDeflate: false,
          handshakeTimeout: opts.timeoutMs,
          ca: endpoint.ca,
          ...(endpoint.createConnection ? { createConnection: endpoint.createConnection } : socketPath ? { createConnection: () => netConnect(socketPath) } : {}),
        });
      } catch (err) {
        reject(new VcpuctlError('USAGE', `bad agent URL "${endpoint.url}": ${(err as Error).message}`));
        return;
      }
      let settled = false;
      const fail = (err: VcpuctlError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.terminate();
        reject(err);
      };
      const timer = setTimeout(() => fail(new VcpuctlError('AGENT_UNREACHABLE', `no answer from the agent at ${where} within ${opts.timeoutMs} ms`, { silent: true })), opts.timeoutMs);
      ws.once('unexpected-response', (_req, res) => {
        if (res.statusCode === 401) fail(new VcpuctlError('AUTH_FAILED', `the agent at ${where} refused the token`));
        else fail(new VcpuctlError('AGENT_UNREACHABLE', `the agent at ${where} answered HTTP ${res.statusCode}`));
      });
      ws.once('error', (err) => fail(new VcpuctlError('AGENT_UNREACHABLE', `cannot reach the agent at ${where}: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
      ws.once('close', () => fail(new VcpuctlError('AGENT_UNREACHABLE', `the agent at ${where} closed before its hello`)));
      ws.once('message', (data) => {
        let env: Envelope;
        let hello: CheckedHello;
        try {
          env = decodeGuestFrame(data as Buffer);
          if (!env.hello) throw new VcpuctlError('PROTOCOL', `the agent at ${where} did not start with a hello`);
          hello = checkHello(env.hello);
          // The guest's uptime against this host's clock: when it booted, whatever the guest's clock says.
          if (hello.uptimeMs > 0) hello.bootedAtMs = Date.now() - hello.uptimeMs;
        } catch (err) {
          fail(err as VcpuctlError);
          return;
        }
        const version = hello.protocolVersion;
        if (!isCompatible(version)) {
          fail(new VcpuctlError('PROTOCOL', `the agent speaks protocol ${version}; this vcpuctl speaks ${PROTOCOL_VERSION}`));
          return;
        }
        settled = true;
        clearTimeout(timer);
        ws.removeAllListeners('close');
        ws.removeAllListeners('error');
        resolve(new AgentClient(ws, hello, where, endpoint.socketPath ? 'channel' : 'websocket'));
      });
    });
  }

  private receive(data: Buffer): void {
    // Replies answer our requests; events and kernel lines are pushed at the
    // guest's will, so they are paid for from its budget before they are used.
    let pushed: { event: v1.CpuEvent } | { kernelLog: v1.KernelLog } | undefined;
    try {
      // Pushed frames are paid for before they cost a decode: a flood is dropped for the price of a peek.
      if (isPushedFrame(data) && !this.withinBudget(data.length)) return;
      const env = decodeGuestFrame(data);
      if (env.cpuEvent || env.kernelLog) {
        pushed = env.cpuEvent ? { event: checkCpuEvent(env.cpuEvent) } : { kernelLog: v1.KernelLog.create({ lines: checkKernelLines(env.kernelLog!.lines) }) };
      } else {
        const waiter = this.waiting.get(env.id);
        if (!waiter) return; // a reply to a request we gave up on
        // Checked before the waiter is taken: if this throws, the close below rejects it.
        const refusal = env.error ? guestError(env.error.code, env.error.message) : undefined;
        this.waiting.delete(env.id);
        clearTimeout(waiter.timer);
        if (refusal) waiter.reject(refusal);
        else waiter.resolve(env);
        return;
      }
    } catch (err) {
      // A frame no real agent sends: this guest's session ends here, named; nothing else is touched.
      this.closedWith = err instanceof VcpuctlError ? err : new VcpuctlError('PROTOCOL', (err as Error).message);
      // terminate, not close: a closing handshake would wait on the same guest (ws gives it 30 s).
      this.ws.terminate();
      return;
    }
    // Outside the guard: a listener's own failure is the host's bug, not the guest's frame.
    if ('event' in pushed) this.emit('event', pushed.event);
    else this.emit('kernelLog', pushed.kernelLog);
  }

  private withinBudget(bytes: number): boolean {
    this.pushedBytes.charge(bytes);
    if (this.pushedFrames.take() && this.pushedBytes.msUntil(0) === 0) return true;
    this.droppedFrames++;
    this.resync ??= setTimeout(
      () => {
        this.resync = undefined;
        // What the dropped frames said is replaced by the guest's state now, delivered as one event.
        this.snapshot().then(
          (snapshot) => this.emit('event', v1.CpuEvent.create({ snapshot, detectedAtMs: Date.now() })),
          () => undefined, // a closed or silent session reports itself through 'close' or the next request
        );
      },
      Math.max(this.pushedFrames.msUntil(1), this.pushedBytes.msUntil(0)),
    );
    return false;
  }

  /** Sends one request and resolves with its reply; an Error reply rejects with its code. */
  request(body: Omit<EnvelopeInit, 'id'>, what: string, timeoutMs: number): Promise<Envelope> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = this.nextId;
    this.nextId = this.nextId >= MAX_REQUEST_ID ? 1 : this.nextId + 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new VcpuctlError('TIMEOUT', `the agent did not answer ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, { resolve, reject, timer, what });
      this.ws.send(encodeEnvelope({ id, ...body }), { binary: true });
    });
  }

  async snapshot(timeoutMs = 10_000): Promise<v1.Snapshot> {
    const env = await this.request({ snapshotRequest: {} }, 'a snapshot request', timeoutMs);
    return checkSnapshot(env.snapshotReply?.snapshot);
  }

  async subscribe(timeoutMs = 10_000): Promise<v1.Snapshot> {
    const env = await this.request({ subscribeRequest: {} }, 'a subscribe request', timeoutMs);
    return checkSnapshot(env.subscribeReply?.snapshot);
  }

  async setOnline(cpus: { cpu: number; online: boolean }[], timeoutMs = 30_000): Promise<v1.SetOnlineReply> {
    const env = await this.request({ setOnlineRequest: { cpus } }, 'a set-online request', timeoutMs);
    return checkSetOnlineReply(env.setOnlineReply);
  }

  /**
   * Tells the agent which CPUs the host wants offline (its recorded
   * guest-side offline), so its auto-online leaves them offline; "" clears.
   */
  async setWantedOffline(cpus: string, timeoutMs = 10_000): Promise<{ cpus: string; persisted: boolean }> {
    const env = await this.request({ setWantedOfflineRequest: { cpus } }, 'a wanted-offline request', timeoutMs);
    return checkWantedOfflineReply(env.setWantedOfflineReply);
  }

  /** For tests of the agent's defences: raw bytes, as a hostile peer would send them. */
  sendRaw(data: Uint8Array | string): void {
    this.ws.send(data);
  }

  get isOpen(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  /** The transport to a channel's socket when it is not on this machine ("ssh to HOST"). */
  through: string | undefined = undefined;

  /** True once the session was closed to let another vcpuctl have a one-at-a-time channel. */
  yielded = false;

  /** Closes the session because another vcpuctl asked for the channel (see guest/channel.ts). */
  yieldSession(): Promise<void> {
    this.yielded = true;
    return this.close();
  }

  close(): Promise<void> {
    if (this.ws.readyState === this.ws.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const drop = setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
      this.ws.once('close', () => {
        clearTimeout(drop);
        resolve();
      });
      this.ws.close(1000);
    });
  }

  /** Pings the agent from now on and ends the session when it stops answering (KEEPALIVE_TIMEOUT_MS). */
  keepalive(intervalMs = KEEPALIVE_INTERVAL_MS, timeoutMs = KEEPALIVE_TIMEOUT_MS): void {
    let heard = Date.now();
    const alive = () => (heard = Date.now());
    this.ws.on('pong', alive);
    this.ws.on('message', alive);
    const timer = setInterval(() => {
      if (Date.now() - heard > timeoutMs) {
        clearInterval(timer);
        this.closedWith ??= new VcpuctlError('AGENT_UNREACHABLE', `the agent at ${this.url} stopped answering (nothing for ${timeoutMs} ms): restarted, or the guest was reset`);
        this.ws.terminate();
        return;
      }
      if (this.ws.readyState === this.ws.OPEN) this.ws.ping();
    }, intervalMs);
    timer.unref();
    this.ws.once('close', () => clearInterval(timer));
  }
}
