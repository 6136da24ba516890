/**
 * The agent's limits against peers that attack it, on a real agent process
 * over loopback: a subscriber that stops reading, snapshot floods on a large
 * tree, reconnecting to refill the rate limit, idle connections held open.
 * Peers are told apart by address, so attackers and the legitimate
 * controller use different 127.0.0.0/8 source addresses.
 */
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_BUFFERED_BYTES } from '@vcpuctl/proto';
import { AgentProcess, WsPeer, logLine, rawPeer, sendEnvelope } from '../helpers/agent-process';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Plays a kernel whose CPUs keep changing: rewrites the `online` list in place
 * (as sysfs does) every `ms`, alternating between all CPUs and all but the
 * last, so the agent pushes a CpuEvent with a full snapshot each time.
 */
function flipOnline(agent: AgentProcess, cpus: number, ms: number): () => void {
  const file = join(agent.tree.cpuDir, 'online');
  let down = false;
  const timer = setInterval(() => {
    down = !down;
    writeFileSync(file, `0-${down ? cpus - 2 : cpus - 1}\n`);
  }, ms);
  return () => clearInterval(timer);
}

describe('agent limits against hostile peers (real agent process, loopback)', function () {
  this.timeout(90_000);

  describe('a subscriber that stops reading', () => {
    const agent = new AgentProcess({ sockets: 2, coresPerSocket: 64, threadsPerCore: 2 });
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
      stopFlipping = flipOnline(agent, 256, 30);
      const peer = `127.0.0.3:${stuck.localPort}`;
      const dropped = await logLine(agent, (l) => l.includes(`${peer}: disconnected`), 75_000, 'the stuck subscriber to be dropped');
      assert.ok(dropped);
      const closing = agent.log.filter((l) => l.includes(`${peer}: closing`));
      assert.equal(closing.length, 1, `one closing line, got ${closing.length}: ${closing.slice(0, 3).join(' | ')}`);
      assert.match(closing[0]!, /not reading/);
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
      assert.ok(MAX_BUFFERED_BYTES > 0);
    });
  });
});
