/**
 * Bounded fuzzing of the real agent process over loopback: at least 10,000
 * generated frames (random bytes, mutated valid envelopes, boundary sizes,
 * huge and negative numbers, text frames) from many peers, while a
 * subscriber that stopped reading sits on a stream of CPU events. Afterwards
 * the agent must be alive, its memory within what its limits allow, and a
 * fresh controller must still get a snapshot. Seeded: a failure prints the
 * seed, and FUZZ_SEED=N replays it.
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { MAX_BUFFERED_BYTES, MAX_CONNECTIONS, MAX_REQUEST_BYTES } from '@vcpuctl/proto';
import { AgentProcess, logLine, rawPeer, sendEnvelope } from '../helpers/agent-process';
import { rewriteInPlace } from '../helpers/cpu-tree-builder';
import { fieldKey, lengthDelimited, varint } from '../helpers/raw-protobuf';
import { seeded } from '../helpers/seeded';

const FRAMES = 10_000;
/** Connections fuzzing at once; below MAX_CONNECTIONS so the slow reader and the final check fit. */
const WORKERS = 8;
/** Frames sent on one connection before the next (many are refused at the first). */
const FRAMES_PER_CONNECTION = 16;
/** Source addresses the fuzzing peers rotate over (127.3.0.1 ... 127.3.0.200). */
const PEER_ADDRESSES = 200;

const tag = fieldKey;
const sub = lengthDelimited;

const HUGE: bigint[] = [0n, 1n, 8191n, 8192n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 32n + 1n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, -1n, -(2n ** 31n)];

class FrameMaker {
  constructor(private readonly rand: () => number) {}

  private int(n: number): number {
    return Math.floor(this.rand() * n);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  private bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  private valid(): Buffer {
    const id = this.int(5) === 0 ? this.pick(HUGE) : BigInt(1 + this.int(1000));
    const kind = this.int(7);
    let body: number[];
    if (kind === 0)
      body = sub(11, []); // snapshot
    else if (kind === 1)
      body = sub(13, []); // subscribe
    else if (kind === 2)
      body = sub(10, [...sub(1, [...Buffer.from('1.0')])]); // a hello from a controller
    else if (kind === 3)
      body = sub(99, [...this.bytes(this.int(20))]); // a type from the future
    else if (kind === 4)
      body = sub(19, [...sub(1, [...Buffer.from('INTERNAL')])]); // an error sent to the agent
    else {
      // set-online with numbers from the edges of every integer width
      const cpus: number[] = [];
      for (let i = 0, n = 1 + this.int(4); i < n; i++) cpus.push(...sub(1, [...tag(1, 0), ...varint(this.pick(HUGE)), ...tag(2, 0), this.int(2)]));
      body = sub(15, cpus);
    }
    return Buffer.from([...tag(1, 0), ...varint(id), ...body]);
  }

  private mutate(b: Buffer): Buffer {
    const out = Buffer.from(b);
    const how = this.int(5);
    if (how === 0 && out.length) out[this.int(out.length)] = this.int(256);
    if (how === 1) return out.subarray(0, this.int(out.length + 1));
    if (how === 2) return Buffer.concat([out, this.bytes(1 + this.int(8))]);
    if (how === 3) return Buffer.concat([out.subarray(0, this.int(out.length + 1)), Buffer.from(varint(this.pick(HUGE))), out]);
    if (how === 4) return Buffer.concat([out, out]);
    return out;
  }

  /** One frame: [payload, text?]. */
  next(): [Buffer | string, boolean] {
    const r = this.int(100);
    if (r < 30) return [this.bytes(this.int(200)), false];
    if (r < 50) return [this.valid(), false];
    if (r < 85) return [this.mutate(this.valid()), false];
    if (r < 90) return [this.bytes(this.int(32)).toString('latin1'), true];
    if (r < 97) return [Buffer.alloc(this.int(3)), false]; // empty and near-empty
    // Boundary sizes around the frame limit (ws refuses the last from its header).
    return [this.bytes(this.pick([MAX_REQUEST_BYTES - 1, MAX_REQUEST_BYTES, MAX_REQUEST_BYTES + 1])), false];
  }
}

/** Sends up to FRAMES_PER_CONNECTION frames on one connection; resolves with how many went out. */
function fuzzConnection(url: string, token: string, localAddress: string, frames: FrameMaker): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` }, localAddress, maxPayload: 16 * 1024 * 1024 });
    let sent = 0;
    const done = () => {
      clearTimeout(timer);
      ws.terminate();
      resolve(sent);
    };
    // A connection the agent keeps open is closed by us after a short while.
    const timer = setTimeout(done, 300);
    ws.on('error', done);
    ws.on('close', done);
    ws.on('unexpected-response', done);
    ws.once('open', () => {
      for (let i = 0; i < FRAMES_PER_CONNECTION && ws.readyState === WebSocket.OPEN; i++) {
        const [payload, text] = frames.next();
        ws.send(payload, { binary: !text });
        sent++;
      }
    });
  });
}

describe('agent fuzzing (real agent process, loopback)', function () {
  this.timeout(60_000);
  const agent = new AgentProcess({ sockets: 1, coresPerSocket: 4, threadsPerCore: 2, cpu0Hotplug: true });
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
  const stops: (() => void)[] = [];
  before(async () => {
    await agent.start(['--poll-interval', '10']);
    stops.push(agent.tree.simulateKernel());
  });
  after(async () => {
    for (const s of stops) s();
    await agent.stop();
  });

  it(`survives ${FRAMES} generated frames and a subscriber that stopped reading (seed ${seed})`, async () => {
    const baseline = agent.rssMiB();
    // The slow reader: subscribed, then never reads while CPUs keep changing
    // and the kernel logs about them.
    const stuck = await rawPeer(agent.port, agent.token, '127.0.0.3');
    sendEnvelope(stuck, { id: 1, subscribeRequest: {} });
    await new Promise((r) => setTimeout(r, 200));
    stuck.pause();
    const online = join(agent.tree.cpuDir, 'online');
    let down = false;
    const flip = setInterval(() => {
      down = !down;
      rewriteInPlace(online, down ? '0-6\n' : '0-7\n'); // in place, never empty (see rewriteInPlace)
    }, 50);
    const noise = setInterval(() => agent.kernelSays(...Array.from({ length: 16 }, (_, i) => `smpboot: CPU ${i} is now offline ${'x'.repeat(950)}`)), 10);
    stops.push(() => clearInterval(noise));
    stops.push(() => clearInterval(flip));
    let peak = baseline;
    const sampler = setInterval(() => {
      if (agent.alive) peak = Math.max(peak, agent.rssMiB());
    }, 250);
    stops.push(() => clearInterval(sampler));

    const frames = new FrameMaker(seeded(seed));
    let sent = 0;
    let connections = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: WORKERS }, async () => {
        while (sent < FRAMES && agent.alive) {
          const address = `127.3.0.${(connections++ % PEER_ADDRESSES) + 1}`;
          const n = await fuzzConnection(agent.url, agent.token, address, frames);
          sent += n;
        }
      }),
    );
    const fuzzSeconds = (Date.now() - started) / 1000;

    assert.ok(agent.alive, `seed ${seed}: ${agent.describeDeath()}`);
    assert.ok(sent >= FRAMES, `seed ${seed}: only ${sent} frames sent`);
    // The slow reader was dropped, once: for not reading, or (on a machine so
    // loaded that its queue grows slowly) for not answering pings.
    const peer = `127.0.0.3:${stuck.localPort}`;
    await logLine(agent, (l) => l.includes(`${peer}: closing`), 30_000, 'the slow reader to be dropped');
    const closing = agent.log.filter((l) => l.includes(`${peer}: closing`));
    assert.equal(closing.length, 1);
    assert.match(closing[0]!, /not reading|no pong/);
    clearInterval(flip);
    clearInterval(noise);

    // Memory: every connection may queue MAX_BUFFERED_BYTES, and no more than
    // MAX_CONNECTIONS are open; 32 MiB more covers the heap's own slack.
    const bound = baseline + (MAX_CONNECTIONS * MAX_BUFFERED_BYTES) / 2 ** 20 + 32;
    peak = Math.max(peak, agent.rssMiB());
    assert.ok(peak < bound, `seed ${seed}: RSS peaked at ${peak.toFixed(0)} MiB (baseline ${baseline.toFixed(0)} MiB, bound ${bound.toFixed(0)} MiB)`);

    const fresh = await agent.connect(10_000);
    const snap = await fresh.snapshot(10_000);
    assert.ok(snap.online, 'a fresh controller gets a snapshot');
    await fresh.close();
    stuck.destroy();
    process.stdout.write(
      `      fuzz: ${sent} frames on ${connections} connections in ${fuzzSeconds.toFixed(1)} s; RSS ${baseline.toFixed(0)} -> peak ${peak.toFixed(0)} MiB; slow reader: ${closing[0]!.replace(/^.*closing: /, '')}\n`,
    );
  });
});
