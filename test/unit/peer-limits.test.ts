import { strict as assert } from 'node:assert';
import { MAX_CONNECTIONS_PER_PEER, REQUEST_BURST } from '@vcpuctl/proto';
import { PeerLimits } from '@vcpuctl/guest-agent/dist/server/peer-limits';
import { SharedSnapshot } from '@vcpuctl/guest-agent/dist/server/shared-snapshot';

describe('per-peer limits', () => {
  it('caps the connections of one address and not of another', () => {
    const limits = new PeerLimits();
    for (let i = 0; i < MAX_CONNECTIONS_PER_PEER; i++) {
      const a = limits.check('10.0.2.2');
      assert.ok(a.ok);
      limits.attach(a.peer);
    }
    const refused = limits.check('10.0.2.2');
    assert.ok(!refused.ok && refused.status === 503);
    assert.ok(limits.check('10.0.2.3').ok);
  });

  it('keeps the request bucket of an address across its connections', () => {
    const limits = new PeerLimits();
    const first = limits.check('10.0.2.2');
    assert.ok(first.ok);
    limits.attach(first.peer);
    for (let i = 0; i < REQUEST_BURST; i++) assert.ok(first.peer.requests.take());
    limits.release(first.peer);
    const again = limits.check('10.0.2.2');
    assert.ok(!again.ok && again.status === 429, 'reconnecting refills nothing');
  });

  it('forgets peers that mean nothing any more, and refuses new ones while the table is full of live ones', () => {
    const limits = new PeerLimits(8, 2);
    const a = limits.check('10.0.0.1');
    const b = limits.check('10.0.0.2');
    assert.ok(a.ok && b.ok);
    limits.attach(a.peer);
    limits.attach(b.peer);
    assert.deepEqual(limits.check('10.0.0.3'), { ok: false, status: 503, why: '2 peers already tracked' });
    limits.release(b.peer); // no connection, buckets full: forgettable
    assert.ok(limits.check('10.0.0.3').ok);
    assert.equal(limits.tracked, 2);
  });

  it('charges work as debt, and says how long until it is repaid', () => {
    const { peer } = new PeerLimits().check('10.0.0.1') as { ok: true; peer: import('@vcpuctl/guest-agent/dist/server/peer-limits').Peer };
    assert.equal(peer.work.msUntil(0), 0);
    peer.work.charge(2500); // burst 2000: 500 ms of work in debt, repaid at 250 ms/s
    const wait = peer.work.msUntil(0);
    assert.ok(wait > 1900 && wait <= 2000, String(wait));
  });
});

describe('shared snapshot', () => {
  it('computes once for every request made before it runs, and splits the cost', async () => {
    let taken = 0;
    const share = new SharedSnapshot(() => {
      taken++;
      const start = process.cpuUsage();
      for (let used = 0; used < 20_000;) {
        const d = process.cpuUsage(start); // 20 ms of CPU time, as a real snapshot spends it
        used = d.user + d.system;
      }
      return { online: '0-1' };
    });
    const charged: number[] = [];
    const all = await Promise.all([0, 1, 2, 3].map(() => share.get((ms) => charged.push(ms))));
    assert.equal(taken, 1);
    assert.ok(all.every((s) => s === all[0]));
    assert.equal(charged.length, 4);
    assert.ok(
      charged.every((ms) => ms === charged[0] && ms >= 5),
      `each of 4 pays a quarter of 20 ms: ${charged.join(',')}`,
    );
    await share.get(() => undefined);
    assert.equal(taken, 2, 'a later request gets a fresh one');
  });
});
