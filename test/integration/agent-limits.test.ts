/**
 * The agent's limits against peers that attack it, on a real agent process
 * over loopback: a subscriber that stops reading, snapshot floods on a large
 * tree, reconnecting to refill the rate limit, idle connections held open.
 * Peers are told apart by address, so attackers and the legitimate
 * controller use different 127.0.0.0/8 source addresses.
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { MAX_BUFFERED_BYTES, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_PEER, MAX_REQUESTS_PER_SECOND, REQUEST_BURST } from '@vcpuctl/proto';
import { AgentHarness } from '../helpers/agent-harness';
import { rewriteInPlace } from '../helpers/cpu-tree-builder';
import { AgentProcess, WsPeer, logLine, rawPeer, sendEnvelope } from '../helpers/agent-process';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Plays a kernel whose CPUs keep changing: rewrites the `online` list in place
 * (as sysfs does) every `ms`, alternating between all CPUs and all but the
 * last, so the agent pushes a CpuEvent with a full snapshot each time. In
 * place but never empty (rewriteInPlace): a kernel's list always names the
 * boot CPU, and a snapshot taken while it flips must too.
 */
function flipOnline(agent: AgentProcess, cpus: number, ms: number): () => void {
  const file = join(agent.tree.cpuDir, 'online');
  let down = false;
  const timer = setInterval(() => {
    down = !down;
    rewriteInPlace(file, `0-${down ? cpus - 2 : cpus - 1}\n`);
  }, ms);
  return () => clearInterval(timer);
}

describe('agent limits against hostile peers (real agent process, loopback)', function () {
  this.timeout(90_000);

  describe('a subscriber that stops reading', () => {
    const agent = new AgentProcess({ sockets: 1, coresPerSocket: 8, threadsPerCore: 2 });
    let stopFlipping = () => undefined as void;
    before(() => agent.start(['--poll-interval', '10']));
    after(async () => {
      stopFlipping();
      await agent.stop();
    });

    it('is dropped once and quietly while the agent keeps serving the others', async () => {
      const reader = await WsPeer.open(agent.url, agent.token, '127.0.0.2');
      await reader.request({ subscribeRequest: {} });
      const stuck = await rawPeer(agent.port, agent.token, '127.0.0.3');
      sendEnvelope(stuck, { id: 1, subscribeRequest: {} });
      await sleep(200);
      stuck.pause(); // never read again: the agent's queue to it grows with every event
      // CPUs changing every 50 ms, and the kernel logging about them in long
      // records (a record holds up to 1 KiB) that ride on the next event, so
      // events are large: the queue passes MAX_BUFFERED_BYTES in seconds,
      // before the ping check (PING_INTERVAL_MS) would notice the silence.
      const stopOnline = flipOnline(agent, 16, 50);
      const noise = setInterval(() => agent.kernelSays(...Array.from({ length: 16 }, (_, i) => `smpboot: CPU ${i} is now offline ${'x'.repeat(950)}`)), 10);
      stopFlipping = () => {
        stopOnline();
        clearInterval(noise);
      };
      const peer = `127.0.0.3:${stuck.localPort}`;
      await logLine(agent, (l) => l.includes(`${peer}: closing`), 45_000, 'the stuck subscriber to be dropped');
      await sleep(500);
      const closing = agent.log.filter((l) => l.includes(`${peer}: closing`));
      assert.equal(closing.length, 1, `one closing line, got ${closing.length}: ${closing.slice(0, 3).join(' | ')}`);
      // Whichever notices first: the queue bound, or (on a machine loaded
      // enough that the queue grows slowly) the unanswered ping. The queue
      // bound alone is tested below with pings out of the way.
      assert.match(closing[0]!, /not reading \(\d+ bytes queued\)|no pong/);
      assert.ok(agent.log.some((l) => l.includes(`${peer}: disconnected`)));
      assert.ok(agent.alive, agent.describeDeath());

      // The reading subscriber still gets events, and a fresh controller a snapshot.
      const before = reader.pushes.length;
      await sleep(1000);
      assert.ok(reader.pushes.length > before, 'events keep reaching the subscriber that reads');
      const fresh = await agent.connect();
      assert.ok((await fresh.snapshot(10_000)).online);
      await fresh.close();
      reader.close();
      stuck.destroy();
    });
  });

  describe('a subscriber that stops reading, pings out of the way (in-process agent)', () => {
    const h = new AgentHarness({ sockets: 1, coresPerSocket: 8, threadsPerCore: 2 });
    let stopFlipping = () => undefined as void;
    // Pings far apart, so only the queue bound can notice this peer.
    before(() => h.start({ autoOnline: false, pollIntervalMs: 10, timings: { pingIntervalMs: 600_000 } }));
    after(async () => {
      stopFlipping();
      await h.stop();
    });

    it('is dropped once, when its queue passes MAX_BUFFERED_BYTES', async () => {
      const stuck = await rawPeer(h.running!.address!.port, h.token, '127.0.0.12');
      sendEnvelope(stuck, { id: 1, subscribeRequest: {} });
      await sleep(200);
      stuck.pause();
      const file = join(h.tree.cpuDir, 'online');
      let down = false;
      let seq = 5000;
      const flip = setInterval(() => {
        down = !down;
        rewriteInPlace(file, down ? '0-14\n' : '0-15\n');
      }, 50);
      const noise = setInterval(() => {
        try {
          for (let i = 0; i < 16; i++) h.kernelSays(seq++, `smpboot: CPU ${i} is now offline ${'x'.repeat(950)}`);
        } catch {
          // EAGAIN: the FIFO is full, the agent has not caught up yet
        }
      }, 10);
      stopFlipping = () => {
        clearInterval(flip);
        clearInterval(noise);
      };
      const peer = `127.0.0.12:${stuck.localPort}`;
      const until = Date.now() + 60_000;
      while (!h.log.some((l) => l.includes(`${peer}: closing`)) && Date.now() < until) await sleep(100);
      stopFlipping();
      await sleep(300);
      const closing = h.log.filter((l) => l.includes(`${peer}: closing`));
      assert.equal(closing.length, 1, `one closing line, got ${closing.length}: ${closing.slice(0, 3).join(' | ')}`);
      assert.match(closing[0]!, /RATE_LIMITED: peer is not reading \(\d+ bytes queued\)/);
      const queued = Number(/\((\d+) bytes queued/.exec(closing[0]!)![1]);
      assert.ok(queued > MAX_BUFFERED_BYTES && queued < 2 * MAX_BUFFERED_BYTES, `dropped at ${queued} bytes queued`);
      const c = await h.connect();
      assert.ok((await c.snapshot()).online);
      stuck.destroy();
    });
  });

  describe('snapshots at 40/s on a 256-CPU tree (under the rate limit)', () => {
    const agent = new AgentProcess({ sockets: 2, coresPerSocket: 64, threadsPerCore: 2 });
    before(() => agent.start());
    after(() => agent.stop());

    it('cost the attacker its own share, not the agent: a legitimate controller is answered every time', async () => {
      let attacker: WsPeer | undefined;
      let sent = 0;
      let stop = false;
      // 40 snapshot requests a second, reconnecting whenever the agent hangs up.
      const attack = (async () => {
        while (!stop) {
          if (!attacker?.isOpen) attacker = await WsPeer.open(agent.url, agent.token, '127.0.0.5').catch(() => undefined);
          if (attacker?.isOpen) {
            attacker.request({ snapshotRequest: {} }, 60_000).catch(() => undefined);
            sent++;
          }
          await sleep(25);
        }
      })();
      const legit = await WsPeer.open(agent.url, agent.token, '127.0.0.6');
      await sleep(2000); // let the attack reach its stride
      const cpu0 = agent.cpuSeconds();
      const t0 = Date.now();
      const latencies: number[] = [];
      try {
        for (let i = 0; i < 6; i++) {
          const started = Date.now();
          // Within the controller's own default wait (AgentClient.snapshot's 10 s).
          const env = await legit.request({ snapshotRequest: {} }, 10_000);
          assert.equal(env.snapshotReply?.snapshot?.cpus?.length, 256);
          latencies.push(Date.now() - started);
          await sleep(1500);
        }
      } finally {
        stop = true;
        await attack;
        attacker?.close();
        legit.close();
      }
      const busy = (agent.cpuSeconds() - cpu0) / ((Date.now() - t0) / 1000);
      assert.ok(agent.alive, agent.describeDeath());
      assert.ok(sent > 100, `the attack ran (${sent} requests)`);
      // 250 ms/s for the attacker plus the controller's own 8 snapshots: well under a core.
      assert.ok(busy < 0.75, `the agent was busy ${(busy * 100).toFixed(0)}% of a core (latencies ${latencies.join(', ')} ms)`);
    });
  });

  describe('reconnecting to refill the token bucket', () => {
    const h = new AgentHarness({ sockets: 1, coresPerSocket: 2, threadsPerCore: 1 });
    before(() => h.start());
    after(() => h.stop());

    it('does not: the rate limit holds per peer across connections', async () => {
      const seconds = 3;
      const until = Date.now() + seconds * 1000;
      let served = 0;
      while (Date.now() < until) {
        let peer: WsPeer;
        try {
          peer = await WsPeer.open(h.url, h.token, '127.0.0.4');
        } catch {
          await sleep(20); // 429: the peer is over its rate
          continue;
        }
        // A fresh connection, six requests at a time, until the agent hangs up.
        while (peer.isOpen && Date.now() < until) {
          const replies = await Promise.allSettled([0, 1, 2, 3, 4, 5].map(() => peer.request({ snapshotRequest: {} }, 2000)));
          served += replies.filter((r) => r.status === 'fulfilled' && r.value.snapshotReply).length;
        }
        peer.close();
      }
      const allowed = REQUEST_BURST + MAX_REQUESTS_PER_SECOND * seconds;
      assert.ok(served <= allowed + 4, `${served} requests served in ${seconds} s; the limit allows ${allowed}`);
      assert.ok(served >= REQUEST_BURST / 2, `the peer was served at all (${served})`);
      // Another peer is unaffected.
      const other = await h.connect();
      assert.ok((await other.snapshot()).online);
    });
  });

  describe('idle connections', () => {
    const h = new AgentHarness({ sockets: 1, coresPerSocket: 2, threadsPerCore: 1 });
    // Shortened timings (the limits are IDLE_TIMEOUT_MS and PING_INTERVAL_MS); the mechanism is the same.
    before(() => h.start({ timings: { idleTimeoutMs: 400, pingIntervalMs: 300 } }));
    after(() => h.stop());

    it('one peer cannot hold every slot: another peer still gets in', async () => {
      const held: WsPeer[] = [];
      const refusals: string[] = [];
      for (let i = 0; i < MAX_CONNECTIONS; i++) {
        await WsPeer.open(h.url, h.token, '127.0.0.7').then(
          (p) => held.push(p),
          (e: Error) => refusals.push(e.message),
        );
        await held[held.length - 1]?.request({ subscribeRequest: {} }).catch(() => undefined); // subscribed: not idle
      }
      try {
        assert.equal(held.length, MAX_CONNECTIONS_PER_PEER);
        assert.ok(
          refusals.every((r) => r === 'HTTP 503'),
          refusals.join(', '),
        );
        const other = await WsPeer.open(h.url, h.token, '127.0.0.8');
        assert.ok((await other.request({ snapshotRequest: {} })).snapshotReply);
        other.close();
      } finally {
        for (const p of held) p.close();
      }
    });

    it('an authenticated connection that sends nothing is closed; a subscriber that answers pings is not', async () => {
      const idle = await WsPeer.open(h.url, h.token, '127.0.0.10');
      const subscriber = await WsPeer.open(h.url, h.token, '127.0.0.10');
      await subscriber.request({ subscribeRequest: {} });
      const code = await Promise.race([idle.closed, sleep(5000).then(() => 'still open')]);
      assert.notEqual(code, 'still open');
      assert.ok(h.log.some((l) => /closing: idle for 400 ms/.test(l)));
      await sleep(1000); // several ping rounds
      assert.ok(subscriber.isOpen, 'a subscriber answering pings stays');
      subscriber.close();
    });

    it('a subscriber that stops answering pings is dropped', async () => {
      const stuck = await rawPeer(h.running!.address!.port, h.token, '127.0.0.11');
      sendEnvelope(stuck, { id: 1, subscribeRequest: {} });
      stuck.pause();
      const peer = `127.0.0.11:${stuck.localPort}`;
      const until = Date.now() + 5000;
      while (!h.log.some((l) => l.includes(`${peer}: closing: no pong`)) && Date.now() < until) await sleep(50);
      assert.ok(
        h.log.some((l) => l.includes(`${peer}: closing: no pong`)),
        'dropped for not answering pings',
      );
      stuck.destroy();
    });
  });
});
