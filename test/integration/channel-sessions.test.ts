/**
 * The channel's sessions over a real unix socket standing in for the port
 * (test/helpers/port-stand-in.ts), with the real agent's transport behind
 * them and the real AgentClient (ws over the unix socket) in front: each
 * host connection is a fresh session, no token is asked, and a host that
 * vanishes mid-frame, with or without the agent seeing it go, never
 * corrupts the next session.
 */
import { strict as assert } from 'node:assert';
import { connect } from 'node:net';
import { AgentClient } from '@vcpuctl/host';
import { SESSION_STALL_MS } from '@vcpuctl/guest-agent';
import { AgentHarness } from '../helpers/agent-harness';
import { PortStandIn } from '../helpers/port-stand-in';

const UPGRADE = 'GET / HTTP/1.1\r\nHost: channel\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

/** A masked binary frame header announcing `len` payload bytes (RFC 6455), as a client sends. */
function frameHeader(len: number): Buffer {
  const h = Buffer.alloc(8);
  h[0] = 0x82;
  h[1] = 0x80 | 126;
  h.writeUInt16BE(len, 2);
  h.writeUInt32BE(0x01020304, 4);
  return h;
}

/** A raw host: connects, sends `first`, waits for `until` in the reply (or `ms`), and returns what came. */
function rawHost(path: string, first: Buffer | string, until: RegExp, ms: number): Promise<{ reply: string; end: (last?: Buffer) => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let reply = '';
    const timer = setTimeout(() => done(), ms);
    const done = () => {
      clearTimeout(timer);
      sock.removeAllListeners('data');
      resolve({
        reply,
        end: (last) =>
          new Promise((r) => {
            sock.once('close', () => r());
            if (last) sock.write(last);
            sock.end();
          }),
      });
    };
    sock.on('error', reject);
    sock.on('data', (d: Buffer) => {
      reply += d.toString('latin1');
      if (until.test(reply)) done();
    });
    sock.write(first);
  });
}

async function snapshotOver(stand: PortStandIn, timeoutMs = 3000): Promise<string> {
  const c = await AgentClient.connect({ url: stand.url, token: undefined }, { timeoutMs });
  try {
    return (await c.snapshot(timeoutMs)).online;
  } finally {
    await c.close();
  }
}

describe('channel sessions (a unix socket standing in for the virtio-serial port)', function () {
  this.timeout(20_000);
  let h: AgentHarness;
  let stand: PortStandIn;
  beforeEach(async () => {
    h = new AgentHarness({ sockets: 1, coresPerSocket: 2, threadsPerCore: 1 });
    await h.start();
    stand = new PortStandIn(h.dir, h.running!, (line) => h.log.push(line));
    await stand.start();
  });
  afterEach(async () => {
    await stand.stop();
    await h.stop();
  });

  const sessionLines = () => h.log.filter((l) => /^channel org\.vcpuctl\.agent\.0 #\d+: (dis)?connected/.test(l));

  it('serves each host connection as a fresh session, with no token', async () => {
    for (let i = 0; i < 3; i++) assert.equal(await snapshotOver(stand), '0-1');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(sessionLines(), [1, 2, 3].flatMap((n) => [`channel org.vcpuctl.agent.0 #${n}: connected`, `channel org.vcpuctl.agent.0 #${n}: disconnected`]));
  });

  it('applies the same limits as TCP: a text frame is refused with a protocol error', async () => {
    const c = await AgentClient.connect({ url: stand.url, token: undefined }, { timeoutMs: 3000 });
    const closed = new Promise<string>((resolve) => c.once('close', (e) => resolve(e.message)));
    c.sendRaw('not protobuf');
    assert.match(await closed, /\(1002/);
    assert.ok(h.log.some((l) => /^channel org\.vcpuctl\.agent\.0 #1: closing: PROTOCOL: text frame/.test(l)), h.log.join('\n'));
    assert.equal(await snapshotOver(stand), '0-1');
  });

  it('a host that disconnects mid-frame: the next session is clean', async () => {
    const a = await rawHost(stand.socketPath, UPGRADE, /\r\n\r\n[\s\S]{10,}/, 3000);
    assert.match(a.reply, /^HTTP\/1\.1 101 /);
    await a.end(Buffer.concat([frameHeader(500), Buffer.alloc(20, 0x55)]));
    assert.equal(await snapshotOver(stand), '0-1');
  });

  it('a host that vanishes mid-frame and reconnects before the agent sees it go: the stalled session is reset, and a retry gets through', async () => {
    const a = await rawHost(stand.socketPath, UPGRADE, /\r\n\r\n[\s\S]{10,}/, 3000);
    assert.match(a.reply, /^HTTP\/1\.1 101 /);
    // The frame announces more bytes than the next host's whole request: that request is swallowed as payload.
    stand.missNextDeparture = true;
    await a.end(Buffer.concat([frameHeader(4000), Buffer.alloc(20, 0x55)]));
    const t0 = Date.now();
    const first = await AgentClient.connect({ url: stand.url, token: undefined }, { timeoutMs: SESSION_STALL_MS + 1000 }).then(
      (c) => c,
      (e: Error) => e,
    );
    assert.ok(first instanceof Error, 'the first try cannot get through: its request went into the old frame');
    assert.ok(h.log.some((l) => /#1: session ended: no progress inside a request or frame for 1000 ms; reset/.test(l)), h.log.join('\n'));
    assert.ok(Date.now() - t0 >= SESSION_STALL_MS);
    // The host's retry, as the contract asks of it.
    assert.equal(await snapshotOver(stand), '0-1');
  });

  it('a new host right after a whole frame, its arrival unseen: the old session ends there and the new one works first time', async () => {
    const a = await rawHost(stand.socketPath, UPGRADE, /\r\n\r\n[\s\S]{10,}/, 3000);
    assert.match(a.reply, /^HTTP\/1\.1 101 /);
    // A whole frame (a masked ping), then the host is gone without a close handshake, unseen by the agent.
    stand.missNextDeparture = true;
    await a.end(Buffer.from([0x89, 0x80, 1, 2, 3, 4]));
    assert.equal(await snapshotOver(stand), '0-1');
    assert.ok(h.log.some((l) => /#1: session ended: a new request followed a whole frame: the host reconnected/.test(l)), h.log.join('\n'));
  });

  it('bytes between sessions that are not a request are discarded', async () => {
    const junk = await rawHost(stand.socketPath, Buffer.from('\x00\x01garbage from nowhere GE'), /$^/, 200);
    assert.equal(junk.reply, '', 'nothing answers bytes that are not a request');
    await junk.end(); // its last "GE" could have begun a request; it goes with the host
    assert.equal(await snapshotOver(stand), '0-1');
    assert.ok(h.log.some((l) => /discarded 23 bytes between sessions/.test(l)), h.log.join('\n'));
  });
});
