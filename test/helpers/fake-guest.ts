/**
 * A programmable guest agent for the hostile-guest suite: what a guest's root
 * user could put in place of vcpuctl-agent. It speaks the real protocol on a
 * real WebSocket (loopback) and answers from a script, so a test can send the
 * host anything: amplifying lists, control characters, Markdown, floods,
 * forged error codes, raw bytes no encoder would produce.
 */
import { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { Envelope, EnvelopeInit, MAX_REQUEST_BYTES, PROTOCOL_VERSION, decodeEnvelope, encodeEnvelope, v1 } from '@vcpuctl/proto';

export { seeded } from './seeded';

/** The seed of this run: HOSTILE_SEED to replay one, else fixed, so CI always sends the same bytes. */
export const HOSTILE_SEED = Number(process.env.HOSTILE_SEED ?? 20261205);

export interface FakeSession {
  ws: WebSocket;
  /** Sends a frame: an envelope to encode, or raw bytes as they are. */
  send(frame: EnvelopeInit | Uint8Array): void;
}

export interface FakeScript {
  /** The snapshot this guest claims (per request: it may change over time). */
  snapshot(): v1.ISnapshot;
  /** The hello; defaults to a truthful-looking one. */
  hello?: v1.IHello;
  /** Overrides the answer to a request; return true when it answered. */
  answer?(env: Envelope, s: FakeSession): boolean;
  /** Called once a session subscribed: start pushing. Return a stop function. */
  subscribed?(s: FakeSession): (() => void) | void;
}

export class FakeGuest {
  private readonly stops = new Set<() => void>();
  sessions = 0;

  private constructor(
    private readonly server: WebSocketServer,
    readonly url: string,
  ) {}

  static async start(productUuid: string, script: FakeScript): Promise<FakeGuest> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: MAX_REQUEST_BYTES });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const guest = new FakeGuest(server, url);
    server.on('connection', (ws) => {
      guest.sessions++;
      const s: FakeSession = {
        ws,
        send: (frame) => {
          if (ws.readyState !== ws.OPEN) return;
          ws.send(frame instanceof Uint8Array ? frame : encodeEnvelope(frame), { binary: true });
        },
      };
      s.send({ id: 0, hello: script.hello ?? { protocolVersion: PROTOCOL_VERSION, agentVersion: 'fake', productUuid, hostname: 'fake-guest', kernel: '6.1.0', autoOnline: true } });
      ws.on('message', (data) => {
        let env: Envelope;
        try {
          env = decodeEnvelope(data as Buffer, MAX_REQUEST_BYTES);
        } catch {
          return;
        }
        if (script.answer?.(env, s)) return;
        if (env.snapshotRequest) s.send({ id: env.id, snapshotReply: { snapshot: script.snapshot() } });
        else if (env.subscribeRequest) {
          s.send({ id: env.id, subscribeReply: { snapshot: script.snapshot() } });
          const stop = script.subscribed?.(s);
          if (stop) {
            guest.stops.add(stop);
            ws.once('close', () => {
              stop();
              guest.stops.delete(stop);
            });
          }
        } else if (env.setOnlineRequest) {
          s.send({ id: env.id, setOnlineReply: { results: [], processed: 0, snapshot: script.snapshot() } });
        }
      });
      ws.on('error', () => undefined);
    });
    return guest;
  }

  async close(): Promise<void> {
    for (const stop of this.stops) stop();
    this.stops.clear();
    for (const c of this.server.clients) c.terminate();
    await new Promise((r) => this.server.close(r));
  }
}

/** A truthful-looking snapshot of `present` CPUs, all online. */
export function honestSnapshot(present: number, online = present): v1.ISnapshot {
  const list = (n: number) => (n === 1 ? '0' : `0-${n - 1}`);
  return {
    takenAtMs: Date.now(),
    possible: list(Math.max(present, 8)),
    present: list(present),
    online: list(online),
    offline: online < present ? (online + 1 === present ? `${online}` : `${online}-${present - 1}`) : '',
    cpus: Array.from({ length: present }, (_, i) => ({ index: i, present: true, online: i < online, offlinable: i > 0, offlineCause: i < online ? 0 : 2 })),
    lscpu: 'Architecture:            x86_64\nCPU(s):                  1\n',
    system: { hostname: 'fake-guest', kernel: '6.1.0' },
  };
}
