/**
 * watch over several connections, its decisions: the host a URI names, and
 * when a connection that does not answer is asked again (a fake driver and
 * fake timers; the real thing is in test/libvirt/watch-hosts.test.ts).
 */
import { strict as assert } from 'node:assert';
import * as sinon from 'sinon';
import { fakeDriver } from '../helpers/fake-driver';
import { ConnectionState, Context, HypervisorDriver, Watcher, connectionRecordOf, hostOfUri } from '@vcpuctl/host';

function context(driver: HypervisorDriver): Context {
  return {
    driver,
    reportDir: '/nonexistent/reports',
    lockDir: '/nonexistent/locks',
    lockWaitMs: 0,
    agentFlags: { agentsFile: '/nonexistent/agents.json' },
    agentTimeoutMs: 500,
    progress: () => undefined,
  };
}

describe('watch over several connections: decisions', () => {
  it('names the host of a URI, this machine for a local one', () => {
    assert.equal(hostOfUri('qemu+ssh://root@h1.example:2222/system?keyfile=/k&no_verify=1', 'here'), 'h1.example');
    assert.equal(hostOfUri('qemu+tls://10.0.0.7/system', 'here'), '10.0.0.7');
    assert.equal(hostOfUri('qemu+ssh://[::1]:22/system', 'here'), '::1');
    assert.equal(hostOfUri('qemu:///system', 'here'), 'here');
    assert.equal(hostOfUri('test:///default', 'here'), 'here');
    assert.equal(hostOfUri('qemu+unix:///system?socket=/nonexistent', 'here'), 'here');
  });

  it('prints a connection state as one JSON line', () => {
    const c: ConnectionState = { uri: 'qemu+ssh://h1/system', host: 'h1', up: false, error: 'gone', sinceMs: Date.parse('2026-11-28T00:00:00Z'), retryAtMs: Date.parse('2026-11-28T00:00:02Z') };
    assert.deepEqual(connectionRecordOf(Date.parse('2026-11-28T00:00:01Z'), c), {
      at: '2026-11-28T00:00:01.000Z',
      uri: 'qemu+ssh://h1/system',
      host: 'h1',
      connection: { up: false, error: 'gone', since: '2026-11-28T00:00:00.000Z', retryAt: '2026-11-28T00:00:02.000Z' },
    });
  });

  describe('a host that does not answer', () => {
    let clock: sinon.SinonFakeTimers;
    beforeEach(() => (clock = sinon.useFakeTimers({ now: 0 })));
    afterEach(() => clock.restore());

    it('is down, asked again after 1, 2, 4 s, then at the poll period, and up once it answers', async () => {
      let answer = false;
      const asked: number[] = [];
      const driver = fakeDriver('qemu+ssh://h1/system', {
        // A host that is down: its event stream never delivers anything.
        events: () => ({ close: () => undefined }),
        listDomains: async () => {
          asked.push(Date.now());
          if (!answer) throw new Error('failed to connect to the hypervisor');
          return [];
        },
        inspectMany: async () => new Map(),
      });
      const w = new Watcher(context(driver), { domains: [], all: true, hostPollMs: 5000, keepTrying: true });
      const seen: { up: boolean | undefined; at: number }[] = [];
      w.on('connection', (c) => seen.push({ up: c.up, at: Date.now() }));
      await w.start(); // never throws: down is a state
      assert.equal(w.connection.up, false);
      assert.equal(w.connection.host, 'h1');
      await clock.tickAsync(1000 + 2000 + 4000 + 5000 + 5000);
      assert.deepEqual(asked, [0, 1000, 3000, 7000, 12000, 17000], 'doubling from 1 s, no more often than the 5 s poll');
      assert.deepEqual(seen, [{ up: false, at: 0 }], 'the same failure again is no news');
      answer = true;
      await clock.tickAsync(5000);
      assert.equal(w.connection.up, true);
      assert.deepEqual(seen.at(-1), { up: true, at: 22000 });
      // Up: the next look is the poll's.
      await clock.tickAsync(5000);
      assert.deepEqual(asked.slice(-2), [22000, 27000]);
      // Down again: the backoff starts from 1 s again.
      answer = false;
      await clock.tickAsync(5000 + 1000);
      assert.deepEqual(asked.slice(-2), [32000, 33000]);
      assert.deepEqual(seen.at(-1), { up: false, at: 32000 });
      await w.stop();
    });

    it('one connection alone keeps failing its start, as before', async () => {
      const driver = fakeDriver('qemu:///system', {
        events: () => ({ close: () => undefined }),
        listDomains: async () => {
          throw new Error('failed to connect to the hypervisor');
        },
        inspectMany: async () => new Map(),
      });
      const w = new Watcher(context(driver), { domains: [], all: true, hostPollMs: 5000 });
      await assert.rejects(w.start(), /failed to connect/);
      await w.stop();
    });
  });
});
