/**
 * The channel's sessions over a real unix socket standing in for the port
 * (test/helpers/port-stand-in.ts), with the real agent's transport behind
 * them and the real AgentClient (ws over the unix socket) in front: each
 * host connection is a fresh session, no token is asked, and a host that
 * vanishes mid-frame, with or without the agent seeing it go, never
 * corrupts the next session.
 */
import { strict as assert } from 'node:assert';
import { AgentClient } from '@vcpuctl/host';
import { MAX_REPLAY_BYTES, SESSION_STALL_MS } from '@vcpuctl/guest-agent';
import { AgentHarness } from '../helpers/agent-harness';
import { PortStandIn } from '../helpers/port-stand-in';
import { UPGRADE, frameHeader, rawHost } from '../helpers/raw-ws-host';

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
    assert.deepEqual(
      sessionLines(),
      [1, 2, 3].flatMap((n) => [`channel org.vcpuctl.agent.0 #${n}: connected`, `channel org.vcpuctl.agent.0 #${n}: disconnected`]),
    );
  });

  it('applies the same limits as TCP: a text frame is refused with a protocol error', async () => {
    const c = await AgentClient.connect({ url: stand.url, token: undefined }, { timeoutMs: 3000 });
    const closed = new Promise<string>((resolve) => c.once('close', (e) => resolve(e.message)));
    c.sendRaw('not protobuf');
    assert.match(await closed, /\(1002/);
    assert.ok(
      h.log.some((l) => /^channel org\.vcpuctl\.agent\.0 #1: closing: PROTOCOL: text frame/.test(l)),
      h.log.join('\n'),
    );
    assert.equal(await snapshotOver(stand), '0-1');
  });

  it('a host that disconnects mid-frame: the next session is clean', async () => {
    const a = await rawHost(stand.socketPath, UPGRADE, /\r\n\r\n[\s\S]{10,}/, 3000);
    assert.match(a.reply, /^HTTP\/1\.1 101 /);
    await a.end(Buffer.concat([frameHeader(500), Buffer.alloc(20, 0x55)]));
    assert.equal(await snapshotOver(stand), '0-1');
  });

  it('a host that vanishes mid-frame and the next connects before the agent sees it go: the stalled session is reset and the next host is served', async () => {
    const a = await rawHost(stand.socketPath, UPGRADE, /\r\n\r\n[\s\S]{10,}/, 3000);
    assert.match(a.reply, /^HTTP\/1\.1 101 /);
    // The frame announces more bytes than the next host's whole request: that request is read as its payload.
    stand.missNextDeparture = true;
    await a.end(Buffer.concat([frameHeader(4000), Buffer.alloc(20, 0x55)]));
    const t0 = Date.now();
    const c = await AgentClient.connect({ url: stand.url, token: undefined }, { timeoutMs: SESSION_STALL_MS + 3000 });
    const waited = Date.now() - t0;
    try {
      assert.equal((await c.snapshot()).online, '0-1');
    } finally {
      await c.close();
    }
    assert.ok(waited >= SESSION_STALL_MS, `answered after ${waited} ms: before the reset, the request was inside the old frame`);
    assert.ok(
      h.log.some((l) => /#1: session ended: no progress inside a request or frame for 1000 ms; reset/.test(l)),
      h.log.join('\n'),
    );
    assert.ok(
      h.log.some((l) => /a request was inside the unfinished frame: serving it as a new session/.test(l)),
      h.log.join('\n'),
    );
    assert.equal(await snapshotOver(stand), '0-1');
  });

  it('a whole frame of garbage, then a new host unseen: the session closes on the garbage and the next host is served', async () => {
    const a = await rawHost(stand.socketPath, UPGRADE, /\r\n\r\n[\s\S]{10,}/, 3000);
    stand.missNextDeparture = true;
    await a.end(Buffer.concat([frameHeader(65535), Buffer.alloc(MAX_REPLAY_BYTES, 0x55)]));
    assert.equal(await snapshotOver(stand), '0-1');
    assert.ok(
      h.log.some((l) => /#1: closing: PROTOCOL: malformed frame/.test(l)),
      h.log.join('\n'),
    );
  });

  it('a new host right after a whole frame, its arrival unseen: the old session ends there and the new one works first time', async () => {
    const a = await rawHost(stand.socketPath, UPGRADE, /\r\n\r\n[\s\S]{10,}/, 3000);
    assert.match(a.reply, /^HTTP\/1\.1 101 /);
    // A whole frame (a masked ping), then the host is gone without a close handshake, unseen by the agent.
    stand.missNextDeparture = true;
    await a.end(Buffer.from([0x89, 0x80, 1, 2, 3, 4]));
    assert.equal(await snapshotOver(stand), '0-1');
    assert.ok(
      h.log.some((l) => /#1: session ended: a new request followed a whole frame: the host reconnected/.test(l)),
      h.log.join('\n'),
    );
  });

  it('bytes between sessions that are not a request are discarded', async () => {
    const junk = await rawHost(stand.socketPath, Buffer.from('\x00\x01garbage from nowhere GE'), /$^/, 200);
    assert.equal(junk.reply, '', 'nothing answers bytes that are not a request');
    await junk.end(); // its last "GE" could have begun a request; it goes with the host
    assert.equal(await snapshotOver(stand), '0-1');
    assert.ok(
      h.log.some((l) => /discarded 23 bytes between sessions/.test(l)),
      h.log.join('\n'),
    );
  });
});
