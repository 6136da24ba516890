/**
 * A real vcpuctl-agent as a child process (the CLI a service manager runs),
 * on a kernel-shaped tree, listening on 127.0.0.1. Used where the agent may
 * crash or grow (an in-process agent would take the test runner with it) and
 * where its own RSS and CPU time are measured from /proc/PID.
 * Also: raw WebSocket peers that misbehave below the level ws lets a client.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentClient } from '@vcpuctl/host';
import { WebSocket } from 'ws';
import { Envelope, EnvelopeInit, MAX_REPLY_BYTES, decodeEnvelope, encodeEnvelope } from '@vcpuctl/proto';
import { CpuTreeBuilder, TreeSpec } from './cpu-tree-builder';
import { AGENT_BIN } from './lscpu';

/** Linux USER_HZ: the unit of utime/stime in /proc/PID/stat. */
const CLK_TCK = 100;

export class AgentProcess {
  readonly tree: CpuTreeBuilder;
  readonly dir: string;
  readonly token = `proc-token-${process.pid}-0123456789abcdef`;
  readonly tokenFile: string;
  /** A FIFO standing in for /dev/kmsg. */
  readonly kmsgFifo: string;
  private kmsgWriter: number | undefined;
  private kmsgSeq = 1000;
  /** Every stderr line (the agent's log). */
  readonly log: string[] = [];
  port = 0;
  private child: ChildProcess | undefined;
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private stderrTail = '';

  constructor(spec: TreeSpec) {
    this.tree = new CpuTreeBuilder(spec);
    this.dir = mkdtempSync(join(tmpdir(), `vcpuctl-agent-proc-${process.pid}-`));
    this.tokenFile = join(this.dir, 'token');
    writeFileSync(this.tokenFile, `${this.token}\n`, { mode: 0o600 });
    this.kmsgFifo = join(this.dir, 'kmsg');
    execFileSync('mkfifo', [this.kmsgFifo]);
    // Held open for writing, so the agent's open does not wait for a writer.
    this.kmsgWriter = openSync(this.kmsgFifo, constants.O_RDWR | constants.O_NONBLOCK);
  }

  /** Writes /dev/kmsg records as the guest kernel would log them (false when the FIFO is full). */
  kernelSays(...messages: string[]): boolean {
    const text = messages.map((m) => `6,${this.kmsgSeq++},4717095,-;${m}\n`).join('');
    try {
      writeSync(this.kmsgWriter!, text);
      return true;
    } catch {
      return false; // EAGAIN: the agent is not reading that fast
    }
  }

  async start(args: string[] = []): Promise<void> {
    const child = spawn(process.execPath, [AGENT_BIN, 'run', '--listen', '127.0.0.1:0', '--token-file', this.tokenFile, '--sysroot', this.tree.root, '--kmsg', this.kmsgFifo, '--no-auto-online', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.once('exit', (code, signal) => (this.exited = { code, signal }));
    let partial = '';
    child.stderr!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString('utf8')).split('\n');
      partial = lines.pop()!;
      this.log.push(...lines);
      this.stderrTail = (this.stderrTail + d.toString('utf8')).slice(-4000);
    });
    this.port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('agent did not start listening within 15 s')), 15_000);
      child.stdout!.on('data', (d: Buffer) => {
        const m = /listening on .*:(\d+)/.exec(d.toString('utf8'));
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`agent exited ${code} before listening: ${this.stderrTail}`));
      });
    });
  }

  get pid(): number {
    return this.child!.pid!;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** Alive, or why not (exit status and the end of its log), for assertion messages. */
  get alive(): boolean {
    return this.exited === undefined;
  }

  describeDeath(): string {
    return `agent exited (${JSON.stringify(this.exited)}); log ends: ${this.stderrTail.slice(-1500)}`;
  }

  private status(field: string): number {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return Number(m![1]) / 1024;
  }

  /** Resident memory now, MiB. */
  rssMiB(): number {
    return this.status('VmRSS');
  }

  /** Peak resident memory, MiB. */
  peakRssMiB(): number {
    return this.status('VmHWM');
  }

  /** CPU seconds used so far (user + system). */
  cpuSeconds(): number {
    const fields = readFileSync(`/proc/${this.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  }

  connect(timeoutMs = 5000): Promise<AgentClient> {
    return AgentClient.connect({ url: this.url, token: this.token }, { timeoutMs });
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && this.exited === undefined) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(timer);
    }
    if (this.kmsgWriter !== undefined) closeSync(this.kmsgWriter);
    this.kmsgWriter = undefined;
    this.tree.cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One client frame as RFC 6455 wants it: FIN, binary, masked. */
export function clientFrame(payload: Uint8Array, opcode = 0x2): Buffer {
  const mask = randomBytes(4);
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([0x80 | opcode, 0x80 | len])
      : len < 65536
        ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff])
        : Buffer.concat([
            Buffer.from([0x80 | opcode, 0x80 | 127]),
            (() => {
              const b = Buffer.alloc(8);
              b.writeBigUInt64BE(BigInt(len));
              return b;
            })(),
          ]);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= mask[i % 4]!;
  return Buffer.concat([head, mask, body]);
}

/**
 * A peer below ws: a TCP socket that completes the WebSocket upgrade with the
 * token, can send any frame, and can stop reading altogether, as a stuck
 * controller does. Resolves once the agent has answered 101.
 */
export function rawPeer(port: number, token: string, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port, localAddress });
    sock.once('error', reject);
    sock.once('connect', () => {
      sock.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
          `Authorization: Bearer ${token}\r\n\r\n`,
      );
    });
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      sock.off('data', onData);
      if (!head.startsWith('HTTP/1.1 101')) reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
      else resolve(sock);
    };
    sock.on('data', onData);
  });
}

export function sendEnvelope(sock: Socket, env: EnvelopeInit): void {
  sock.write(clientFrame(encodeEnvelope(env)));
}

/** Resolves once `pick` accepts a line of the agent's log, or rejects after `ms`. */
export async function logLine(agent: AgentProcess, pick: (line: string) => boolean, ms: number, what: string): Promise<string> {
  const until = Date.now() + ms;
  for (;;) {
    const hit = agent.log.find(pick);
    if (hit) return hit;
    if (!agent.alive) throw new Error(`waiting for ${what}: ${agent.describeDeath()}`);
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A well-behaved controller bound to a chosen loopback source address (the
 * agent tells peers apart by address; AgentClient cannot choose one).
 */
export class WsPeer {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (env: Envelope) => void; reject: (err: Error) => void }>();
  readonly closed: Promise<number>;
  readonly pushes: Envelope[] = [];

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((r) =>
      ws.on('close', (code) => {
        for (const w of this.waiting.values()) w.reject(new Error(`closed (${code})`));
        this.waiting.clear();
        r(code);
      }),
    );
    ws.on('error', () => undefined); // 'close' follows
    ws.on('message', (d) => {
      const env = decodeEnvelope(d as Buffer, MAX_REPLY_BYTES);
      const w = this.waiting.get(env.id);
      if (env.id && w) {
        this.waiting.delete(env.id);
        w.resolve(env);
      } else this.pushes.push(env);
    });
  }

  /** Resolves after the hello; rejects with the HTTP status when the upgrade is refused. */
  static open(url: string, token: string, localAddress = '127.0.0.1'): Promise<WsPeer> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` }, localAddress, maxPayload: MAX_REPLY_BYTES });
      ws.once('unexpected-response', (_req, res) => {
        ws.terminate();
        reject(new Error(`HTTP ${res.statusCode}`));
      });
      ws.once('error', reject);
      ws.once('message', () => resolve(new WsPeer(ws)));
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** The reply to one request, or a rejection after `ms`. */
  request(body: Omit<EnvelopeInit, 'id'>, ms = 5000): Promise<Envelope> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no reply within ${ms} ms`));
      }, ms);
      this.waiting.set(id, {
        resolve: (env) => {
          clearTimeout(timer);
          resolve(env);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeEnvelope({ id, ...body }));
    });
  }

  close(): void {
    this.ws.terminate();
  }
}
