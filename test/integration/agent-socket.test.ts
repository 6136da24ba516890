/**
 * The agent over a real socket: authentication, snapshot, subscription with
 * a simulated hot-add pushed as it happens, online/offline with every guard,
 * and the defences against malformed, oversized and flooding peers.
 */
import { strict as assert } from 'node:assert';
import { symlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { VcpuctlError, encodeEnvelope, v1 } from '@vcpuctl/proto';
import { AgentClient } from '@vcpuctl/host';
import { AgentHarness, TEST_UUID, waitFor } from '../helpers/agent-harness';
import { agentSnapshot } from '../helpers/lscpu';
import { fieldKey, lengthDelimited, varint } from '../helpers/raw-protobuf';

const Kind = v1.CpuChange.Kind;
const Outcome = v1.CpuResult.Outcome;

function events(client: AgentClient) {
  return (cb: (e: v1.CpuEvent) => void) => {
    client.on('event', cb);
    return () => client.off('event', cb);
  };
}

function rawSocket(h: AgentHarness, token = h.token, localAddress = '127.0.0.1'): Promise<{ ws: WebSocket; closed: Promise<{ code: number; frames: Buffer[] }> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(h.url, { headers: { Authorization: `Bearer ${token}` }, localAddress });
    const frames: Buffer[] = [];
    const closed = new Promise<{ code: number; frames: Buffer[] }>((res) => ws.on('close', (code) => res({ code, frames })));
    ws.on('message', (d) => frames.push(d as Buffer));
    ws.once('open', () => resolve({ ws, closed }));
    ws.once('error', reject);
  });
}

describe('agent over a real socket', function () {
  this.timeout(15000);

  describe('authentication', () => {
    const h = new AgentHarness({ sockets: 1, coresPerSocket: 2, threadsPerCore: 1 });
    before(() => h.start());
    after(() => h.stop());

    it('refuses a connection without a token', async () => {
      await assert.rejects(h.connect(null), (e: VcpuctlError) => e.code === 'AUTH_FAILED' && e.exitCode === 7);
    });

    it('refuses a wrong token', async () => {
      await assert.rejects(h.connect('wrong-token-0123456789abcdef'), (e: VcpuctlError) => e.code === 'AUTH_FAILED');
      assert.ok(h.log.some((l) => /refused: bad or missing token/.test(l)));
    });

    it('greets with identity and protocol version when the token is right', async () => {
      const c = await h.connect();
      assert.equal(c.hello.protocolVersion, '1.0');
      assert.equal(c.hello.productUuid, TEST_UUID);
      assert.equal(c.hello.autoOnline, true);
      assert.ok(c.hello.kernel && c.hello.hostname && c.hello.agentVersion);
    });

    it('reports an unreachable agent distinctly', async () => {
      await assert.rejects(AgentClient.connect({ url: 'ws://127.0.0.1:1', token: 'x' }, { timeoutMs: 2000 }), (e: VcpuctlError) => e.code === 'AGENT_UNREACHABLE' && e.exitCode === 6);
    });
  });

  describe('snapshot and hot-add events', () => {
    const h = new AgentHarness({ sockets: 1, coresPerSocket: 4, threadsPerCore: 1, present: 2, possible: 4 });
    before(() => h.start());
    after(() => h.stop());

    it('serves the same lscpu view as the command line', async () => {
      const c = await h.connect();
      const snap = await c.snapshot();
      assert.equal(snap.present, '0-1');
      assert.equal(snap.possible, '0-3');
      assert.equal(snap.lscpu, agentSnapshot(['--sysroot', h.tree.root]));
      assert.equal(snap.cpus.length, 2);
      assert.equal(snap.cpus[0]!.offlinable, false);
      assert.equal(snap.cpus[1]!.offlinable, true);
      assert.equal(snap.system?.productUuid, TEST_UUID);
    });

    it('pushes a hot-add with the kernel lines, then onlines the new CPU itself', async () => {
      const c = await h.connect();
      const start = await c.subscribe();
      assert.equal(start.online, '0-1');
      const added = waitFor(events(c), (e) => e.changes.some((x) => x.kind === Kind.HOT_ADDED), 3000, 'HOT_ADDED');
      const onlined = waitFor(events(c), (e) => e.changes.some((x) => x.kind === Kind.ONLINED), 3000, 'ONLINED');
      const kernelLines: string[] = [];
      c.on('event', (e) => kernelLines.push(...e.kernelLines.map((l) => l.message ?? '')));
      c.on('kernelLog', (k) => kernelLines.push(...k.lines.map((l) => l.message ?? '')));

      h.kernelSays(398, 'CPU2 has been hot-added');
      h.tree.hotAdd(2);
      const ev = await added;
      assert.deepEqual(
        ev.changes.map((x) => [x.cpu, x.kind]),
        [[2, Kind.HOT_ADDED]],
      );
      assert.equal(ev.snapshot?.present, '0-2');

      h.kernelSays(399, 'smpboot: Booting Node 0 Processor 2 APIC 0x2');
      const on = await onlined;
      const change = on.changes.find((x) => x.kind === Kind.ONLINED)!;
      assert.equal(change.cpu, 2);
      assert.equal(change.byAgent, true, 'the agent onlined it');
      assert.equal(on.snapshot?.online, '0-2');
      assert.deepEqual(h.tree.onlineCpus(), [0, 1, 2]);
      await new Promise((r) => setTimeout(r, 150)); // lines held for a later event are pushed on their own
      assert.ok(kernelLines.includes('CPU2 has been hot-added'), kernelLines.join('|'));
      assert.ok(kernelLines.includes('smpboot: Booting Node 0 Processor 2 APIC 0x2'), kernelLines.join('|'));
    });

    it('leaves a CPU the operator offlined alone', async () => {
      const c = await h.connect();
      await c.subscribe();
      const off = waitFor(events(c), (e) => e.changes.some((x) => x.kind === Kind.OFFLINED), 3000, 'OFFLINED');
      const reply = await c.setOnline([{ cpu: 2, online: false }]);
      assert.equal(reply.results[0]!.outcome, Outcome.CHANGED);
      await off;
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(h.tree.onlineCpus(), [0, 1]);
      assert.equal((await c.snapshot()).cpus.find((x) => x.index === 2)?.offlineCause, v1.OfflineCause.OFFLINED);
    });
  });

  describe('auto-online when the online file comes after present (the kernel may show a hot-add in that order)', () => {
    const h = new AgentHarness({ sockets: 1, coresPerSocket: 2, threadsPerCore: 1, present: 1, possible: 2 });
    before(() => h.start());
    after(() => h.stop());

    it('waits for the file and onlines the CPU, rather than giving up on it', async () => {
      const c = await h.connect();
      await c.subscribe();
      const onlined = waitFor(events(c), (e) => e.changes.some((x) => x.kind === Kind.ONLINED && x.byAgent), 3000, 'ONLINED by agent');
      await h.tree.hotAddOnlineFileLater(1, 150);
      await onlined;
      assert.deepEqual(h.tree.onlineCpus(), [0, 1]);
    });
  });

  describe('auto-online switched off', () => {
    const h = new AgentHarness({ sockets: 1, coresPerSocket: 2, threadsPerCore: 1, present: 1, possible: 2 });
    before(() => h.start({ autoOnline: false }));
    after(() => h.stop());

    it('reports the hot-added CPU and leaves it offline', async () => {
      const c = await h.connect();
      assert.equal(c.hello.autoOnline, false);
      await c.subscribe();
      const added = waitFor(events(c), (e) => e.changes.some((x) => x.kind === Kind.HOT_ADDED), 3000, 'HOT_ADDED');
      h.tree.hotAdd(1);
      await added;
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(h.tree.onlineCpus(), [0]);
      const snap = await c.snapshot();
      assert.equal(snap.cpus.find((x) => x.index === 1)?.online, false);
      assert.equal(snap.cpus.find((x) => x.index === 1)?.offlineCause, v1.OfflineCause.HOT_ADDED_NEVER_ONLINED);
    });
  });

  describe('online/offline on command', () => {
    const h = new AgentHarness({ sockets: 1, coresPerSocket: 4, threadsPerCore: 1 });
    before(() => h.start());
    after(() => h.stop());

    const refused = (pattern: RegExp) => (e: VcpuctlError) => e.code === 'CPU_REFUSED' && pattern.test(e.message);

    it('refuses to offline CPU0, which has no online file, and changes nothing', async () => {
      const c = await h.connect();
      await assert.rejects(
        c.setOnline([
          { cpu: 1, online: false },
          { cpu: 0, online: false },
        ]),
        refused(/CPU 0 cannot be offlined/),
      );
      assert.deepEqual(h.tree.onlineCpus(), [0, 1, 2, 3]);
    });

    it('refuses a CPU that does not exist', async () => {
      const c = await h.connect();
      await assert.rejects(c.setOnline([{ cpu: 9, online: false }]), refused(/CPU 9 does not exist.*present: 0-3/));
    });

    it('refuses to offline the last online CPU', async () => {
      const h1 = new AgentHarness({ sockets: 1, coresPerSocket: 2, threadsPerCore: 1, cpu0Hotplug: true });
      await h1.start();
      try {
        const c = await h1.connect();
        await assert.rejects(
          c.setOnline([
            { cpu: 0, online: false },
            { cpu: 1, online: false },
          ]),
          refused(/last online CPU/),
        );
        assert.deepEqual(h1.tree.onlineCpus(), [0, 1]);
      } finally {
        await h1.stop();
      }
    });

    it('refuses an empty or repetitive request', async () => {
      const c = await h.connect();
      // The agent's code reaches the host as the guest's own (GUEST_ERROR naming it), never as a host code.
      const guestSaid = (code: string) => (e: VcpuctlError) => e.code === 'GUEST_ERROR' && e.details?.guestCode === code;
      await assert.rejects(c.setOnline([]), guestSaid('USAGE'));
      await assert.rejects(
        c.setOnline([
          { cpu: 1, online: false },
          { cpu: 1, online: true },
        ]),
        guestSaid('USAGE'),
      );
    });

    it('offlines and onlines several CPUs, reporting each', async () => {
      const c = await h.connect();
      const off = await c.setOnline([
        { cpu: 2, online: false },
        { cpu: 3, online: false },
        { cpu: 0, online: true },
      ]);
      assert.deepEqual(
        off.results.map((r) => r.outcome),
        [Outcome.CHANGED, Outcome.CHANGED, Outcome.ALREADY],
      );
      assert.equal(off.processed, 3);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(h.tree.onlineCpus(), [0, 1]);
      const on = await c.setOnline([
        { cpu: 2, online: true },
        { cpu: 3, online: true },
      ]);
      assert.deepEqual(
        on.results.map((r) => r.outcome),
        [Outcome.CHANGED, Outcome.CHANGED],
      );
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(h.tree.onlineCpus(), [0, 1, 2, 3]);
    });

    it('reports a partial success exactly when the kernel refuses one write', async () => {
      const c = await h.connect();
      // /dev/full answers every write with ENOSPC: a kernel that refuses to online CPU 2.
      const file = join(h.tree.cpuDir, 'cpu2/online');
      await c.setOnline([{ cpu: 2, online: false }]);
      await new Promise((r) => setTimeout(r, 100));
      rmSync(file);
      symlinkSync('/dev/full', file);
      const reply = await c.setOnline([
        { cpu: 1, online: false },
        { cpu: 2, online: true },
        { cpu: 3, online: false },
      ]);
      assert.deepEqual(
        reply.results.map((r) => r.outcome),
        [Outcome.CHANGED, Outcome.FAILED, Outcome.NOT_ATTEMPTED],
      );
      assert.equal(reply.processed, 1);
      assert.equal(reply.results[1]!.errorCode, 'ENOSPC');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(h.tree.onlineCpus(), [0, 3]);
    });
  });

  describe('--read-only policy', () => {
    const h = new AgentHarness({ sockets: 1, coresPerSocket: 2, threadsPerCore: 1 });
    before(() => h.start({ readOnly: true }));
    after(() => h.stop());

    it('serves snapshots but refuses online/offline with FORBIDDEN, changing nothing', async () => {
      const c = await h.connect();
      assert.equal((await c.snapshot()).online, '0-1');
      await assert.rejects(c.setOnline([{ cpu: 1, online: false }]), (e: VcpuctlError) => e.code === 'FORBIDDEN' && e.exitCode === 18);
      assert.deepEqual(h.tree.onlineCpus(), [0, 1]);
      assert.ok(c.isOpen, 'a policy refusal is an answer, not a reason to hang up');
    });
  });

  describe('defences', () => {
    const h = new AgentHarness({ sockets: 1, coresPerSocket: 2, threadsPerCore: 1 });
    before(() => h.start());
    after(() => h.stop());

    it('closes with 1002 on a malformed frame, after an error reply', async () => {
      const { ws, closed } = await rawSocket(h);
      ws.send(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]));
      const { code, frames } = await closed;
      assert.equal(code, 1002);
      assert.ok(frames.length >= 2, 'hello then error');
    });

    it('closes with 1009 on an oversized frame without reading it', async () => {
      const { ws, closed } = await rawSocket(h);
      ws.send(Buffer.alloc(65 * 1024, 1));
      assert.equal((await closed).code, 1009);
    });

    it('closes on a text frame', async () => {
      const { ws, closed } = await rawSocket(h);
      ws.send('{"snapshot": true}');
      assert.equal((await closed).code, 1002);
    });

    it('answers an unexpected message type with an error and stays up', async () => {
      const c = await h.connect();
      await assert.rejects(c.request({ hello: { protocolVersion: '1.0' } }, 'a bogus hello', 2000), (e: VcpuctlError) => e.code === 'GUEST_ERROR' && e.details?.guestCode === 'PROTOCOL');
      assert.ok((await c.snapshot()).online);
    });

    it('closes a flooding peer with 1008 and keeps serving others', async () => {
      const { ws, closed } = await rawSocket(h, h.token, '127.0.0.9');
      const frame = encodeEnvelope({ id: 1, snapshotRequest: {} });
      for (let i = 0; i < 300; i++) ws.send(frame);
      assert.equal((await closed).code, 1008);
      const c = await h.connect(); // from 127.0.0.1
      assert.ok((await c.snapshot()).online);
    });
  });
});

const field = fieldKey;
/** Envelope{id, set_online_request{cpus:[{cpu, online:false}]}} with `cpu` as any 64-bit varint. */
function offlineRequest(id: number, cpu: bigint): Buffer {
  return Buffer.from([...field(1, 0), ...varint(BigInt(id)), ...lengthDelimited(15, lengthDelimited(1, [...field(1, 0), ...varint(cpu)]))]);
}

function nextFrame(ws: WebSocket, ms = 3000): Promise<v1.Envelope> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no frame within ${ms} ms`)), ms);
    ws.once('message', (d) => {
      clearTimeout(timer);
      resolve(v1.Envelope.decode(d as Buffer));
    });
  });
}

describe('agent over a real socket: input that must change nothing', function () {
  this.timeout(15000);

  describe('CPU numbers off the wire', () => {
    const h = new AgentHarness({ sockets: 1, coresPerSocket: 4, threadsPerCore: 1 });
    before(() => h.start());
    after(() => h.stop());

    for (const [what, cpu] of [
      ['2^32 + 1', 4294967297n],
      ['2^53 + 1', 9007199254740993n],
      ['-1 as a 64-bit varint', -1n],
      ['MAX_CPU_NUMBER + 1', 8192n],
    ] as const) {
      it(`refuses CPU ${what} as PROTOCOL, keeps the connection and changes nothing`, async () => {
        const { ws } = await rawSocket(h);
        await new Promise((r) => setTimeout(r, 50)); // the hello has arrived
        const reply = nextFrame(ws);
        ws.send(offlineRequest(5, cpu));
        const env = await reply;
        assert.equal(env.id, 5);
        assert.equal(env.error?.code, 'PROTOCOL', JSON.stringify(env.toJSON()));
        assert.match(env.error?.message ?? '', /out of range/);
        await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(h.tree.onlineCpus(), [0, 1, 2, 3]);
        ws.close();
      });
    }
  });

  describe('a batch that passes through no CPU online', () => {
    // cpu0 offlinable and offline: only CPU 1 is online.
    const h = new AgentHarness({ sockets: 1, coresPerSocket: 2, threadsPerCore: 1, cpu0Hotplug: true, offline: [0] });
    before(() => h.start({ autoOnline: false }));
    after(() => h.stop());

    it('refuses "offline 1, online 0" when only CPU 1 is online, and changes nothing', async () => {
      const c = await h.connect();
      await assert.rejects(
        c.setOnline([
          { cpu: 1, online: false },
          { cpu: 0, online: true },
        ]),
        (e: VcpuctlError) => e.code === 'CPU_REFUSED' && /none would be online/.test(e.message),
      );
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(h.tree.onlineCpus(), [1]);
    });

    it('accepts the same change ordered so a CPU stays online throughout', async () => {
      const c = await h.connect();
      const reply = await c.setOnline([
        { cpu: 0, online: true },
        { cpu: 1, online: false },
      ]);
      assert.deepEqual(
        reply.results.map((r) => r.outcome),
        [Outcome.CHANGED, Outcome.CHANGED],
      );
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(h.tree.onlineCpus(), [0]);
    });
  });

  describe('a message type the agent does not know', () => {
    const h = new AgentHarness({ sockets: 1, coresPerSocket: 2, threadsPerCore: 1 });
    before(() => h.start());
    after(() => h.stop());

    it('is answered with a PROTOCOL error under its id, and the connection stays (as the README says)', async () => {
      const { ws } = await rawSocket(h);
      await new Promise((r) => setTimeout(r, 50));
      const reply = nextFrame(ws);
      // field 99: a message type from some later protocol minor version
      ws.send(Buffer.from([...field(1, 0), ...varint(7n), ...lengthDelimited(99, [0x08, 0x01])]));
      const env = await reply;
      assert.equal(env.id, 7);
      assert.equal(env.error?.code, 'PROTOCOL');
      const next = nextFrame(ws);
      ws.send(encodeEnvelope({ id: 8, snapshotRequest: {} }));
      const snap = await next;
      assert.equal(snap.id, 8);
      assert.ok(snap.snapshotReply?.snapshot?.online);
      ws.close();
    });
  });
});
