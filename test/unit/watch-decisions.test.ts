/** watch's pure parts: what changed on the host side, set confirm latency from a report, the exporter's --listen. */
import { strict as assert } from 'node:assert';
import { confirmLatencySeconds, hostChanges, movedWhileLent, parseListen } from '@vcpuctl/host';
import { hostSnapshot } from '../helpers/host-fixtures';

describe('watch decisions', () => {
  it('names host-side changes: a count changed behind vcpuctl, start and stop, a new intent', () => {
    const one = hostSnapshot();
    const two = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });
    assert.deepEqual(hostChanges(one, two), ['libvirt live count 1 -> 2', 'QEMU plugged 1 -> 2']);
    assert.deepEqual(hostChanges(one, one), []);
    assert.deepEqual(hostChanges(undefined, one), []);
    const off = hostSnapshot({ state: 'shut off', reason: 'destroyed' });
    assert.deepEqual(hostChanges(one, off), ['domain stopped: shut off (destroyed)']);
    assert.deepEqual(hostChanges(off, one), ['domain started (booted)']);
    // A destroy passes through "in shutdown": the stop is when QEMU is gone.
    const closing = hostSnapshot({ state: 'in shutdown', reason: 'unknown' });
    assert.deepEqual(hostChanges(one, closing), ['domain in shutdown (unknown)']);
    assert.deepEqual(hostChanges(closing, off), ['domain stopped: shut off (destroyed)']);
    const withIntent = hostSnapshot({ intent: { online: 2, operation: 'set', strategy: 'hotplug', at: '2026-11-27T00:00:00.000Z', report: 'r9' } });
    assert.deepEqual(hostChanges(one, withIntent), ['intent recorded: 2 online, by set (hotplug) at 2026-11-27T00:00:00.000Z, report r9']);
  });

  it('a guest session back after lending the channel: no line when the CPUs are as last shown, else what moved meanwhile', () => {
    const one = { present: '0', online: '0' };
    assert.deepEqual(movedWhileLent(one, { ...one }), []);
    assert.deepEqual(movedWhileLent(one, { present: '0-1', online: '0-1' }), ['present 0 -> 0-1, online 0 -> 0-1 (while the channel was lent to another vcpuctl)']);
    assert.deepEqual(movedWhileLent({ present: '0-1', online: '0-1' }, { present: '0-1', online: '0' }), ['online 0-1 -> 0 (while the channel was lent to another vcpuctl)']);
    assert.deepEqual(movedWhileLent(undefined, one), ['present - -> 0, online - -> 0 (while the channel was lent to another vcpuctl)']);
  });

  it('set confirm latency: from the libvirt call to the agent confirmation in a report timeline', () => {
    const t = (atMs: number, what: string) => ({ atMs, what });
    const timeline = [t(1000, 'vcpuctl set d 2'), t(1100, 'command issued: virsh setvcpus d 2 --live'), t(1140, 'libvirt returned'), t(1550, 'agent confirmed: 2 vCPUs present and online')];
    assert.equal(confirmLatencySeconds({ operation: 'set', outcome: { ok: true }, timeline }), 0.45);
    assert.equal(confirmLatencySeconds({ operation: 'set', outcome: { ok: false }, timeline }), undefined, 'a failed set confirmed nothing');
    assert.equal(confirmLatencySeconds({ operation: 'verify', outcome: { ok: true }, timeline }), undefined);
    assert.equal(confirmLatencySeconds({ operation: 'set', outcome: { ok: true }, timeline: timeline.slice(0, 3) }), undefined);
  });

  it('--listen takes HOST:PORT, [V6]:PORT or :PORT, and refuses anything else', () => {
    assert.deepEqual(parseListen('127.0.0.1:9848'), { host: '127.0.0.1', port: 9848 });
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListen(':9848'), { host: '0.0.0.0', port: 9848 });
    for (const bad of ['9848', '127.0.0.1', '127.0.0.1:99999', 'a:b', '[::1]9848']) assert.throws(() => parseListen(bad), /--listen wants HOST:PORT/, bad);
  });
});
