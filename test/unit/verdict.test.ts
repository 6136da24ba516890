/** Every verdict kind, produced from recorded libvirt/QEMU state and guest snapshots. */
import { strict as assert } from 'node:assert';
import { computeVerdict, GuestView, Intent, verdictError } from '@vcpuctl/host';
import { parseCpuList, v1 } from '@vcpuctl/proto';
import { hostSnapshot } from '../helpers/host-fixtures';

const UUID = hostSnapshot().domain.uuid;

function guest(present: string, online: string, opts: Partial<GuestView> = {}): GuestView {
  const on = new Set(parseCpuList(online));
  return {
    reachable: true,
    productUuid: UUID,
    hostname: 'guest',
    snapshot: { present, online, cpus: parseCpuList(present).map((index) => ({ index, present: true, online: on.has(index), offlinable: index !== 0 })) },
    ...opts,
  };
}

const intent = (online: number, cpus: string): Intent => ({ online, cpus, operation: 'set', strategy: 'auto', at: '2026-11-27T23:00:00.000Z', report: 'r1' });

const kinds = (v: ReturnType<typeof computeVerdict>) => v.findings.map((f) => f.kind);

describe('verdict', () => {
  it('agrees when host, QEMU and guest say the same', () => {
    const v = computeVerdict(hostSnapshot(), guest('0', '0'));
    assert.deepEqual(v, { ok: true, findings: [] });
  });

  it('HOTADDED_OFFLINE: present in the guest but never onlined', () => {
    const host = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });
    const g = guest('0-1', '0');
    g.snapshot!.cpus![1]!.offlineCause = v1.OfflineCause.HOT_ADDED_NEVER_ONLINED;
    const v = computeVerdict(host, g);
    assert.ok(kinds(v).includes('HOTADDED_OFFLINE'));
    assert.match(v.findings.find((f) => f.kind === 'HOTADDED_OFFLINE')!.message, /hot-added and never onlined$/);
    assert.equal(v.ok, false);
  });

  it('GUEST_OFFLINE_NO_INTENT: the agent saw a CPU offlined and nothing records that as wanted (a mismatch, with how to record it)', () => {
    const host = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });
    const g = guest('0-1', '0');
    g.snapshot!.cpus![1]!.offlineCause = v1.OfflineCause.OFFLINED;
    const v = computeVerdict(host, g);
    assert.ok(kinds(v).includes('GUEST_OFFLINE_NO_INTENT'), kinds(v).join());
    assert.ok(!kinds(v).includes('GUEST_OFFLINE_HOST_COUNTS'));
    const f = v.findings.find((x) => x.kind === 'GUEST_OFFLINE_NO_INTENT')!;
    assert.equal(f.severity, 'error');
    assert.match(f.advice, /record the intent with `vcpuctl set vt-probe 1`/);
    assert.equal(verdictError(v)?.code, 'MISMATCH');
  });

  it('an intent recorded for that offline makes it the expected pending-restart state, even after the agent forgot why', () => {
    const host = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json', intent: intent(1, '0') });
    for (const cause of [v1.OfflineCause.OFFLINED, v1.OfflineCause.OFFLINE_CAUSE_UNKNOWN]) {
      const g = guest('0-1', '0');
      g.snapshot!.cpus![1]!.offlineCause = cause;
      const v = computeVerdict(host, g);
      assert.deepEqual(kinds(v), ['GUEST_OFFLINE_HOST_COUNTS'], `cause ${cause}`);
      assert.equal(v.ok, true);
    }
  });

  it('GUEST_DRIFT: fewer CPUs online than the recorded intent (offlined behind vcpuctl)', () => {
    const host = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json', intent: intent(2, '0-1') });
    const g = guest('0-1', '0');
    g.snapshot!.cpus![1]!.offlineCause = v1.OfflineCause.OFFLINED;
    const v = computeVerdict(host, g);
    // live 2/2 against config 1/2 in this capture: the unpersisted warning stays, drift replaces the expected state.
    assert.deepEqual(kinds(v).sort(), ['GUEST_DRIFT', 'LIVE_CONFIG_DIFFER']);
    assert.ok(!kinds(v).includes('GUEST_OFFLINE_HOST_COUNTS'), 'drift is not the expected state');
    const f = v.findings.find((x) => x.kind === 'GUEST_DRIFT')!;
    assert.equal(f.severity, 'error');
    assert.match(f.message, /1 CPU online \(0\) but vcpuctl's recorded intent is 2 \(0-1\).*fewer CPUs online than intended/);
    assert.match(f.advice, /`vcpuctl set vt-probe 2`.*`vcpuctl set vt-probe 1`/);
    assert.equal(verdictError(v)?.code, 'MISMATCH');
  });

  it('GUEST_DRIFT: more CPUs online than intended (a hot-add behind vcpuctl, onlined by the guest)', () => {
    const host = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json', intent: intent(1, '0') });
    const v = computeVerdict(host, guest('0-1', '0-1'));
    assert.ok(kinds(v).includes('GUEST_DRIFT'));
    assert.match(v.findings.find((x) => x.kind === 'GUEST_DRIFT')!.message, /more CPUs online than intended/);
  });

  it('GUEST_DRIFT: as many CPUs online, but not the ones recorded', () => {
    const host = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json', intent: intent(1, '1') });
    const v = computeVerdict(host, guest('0-1', '0'));
    assert.ok(kinds(v).includes('GUEST_DRIFT'));
    assert.match(v.findings.find((x) => x.kind === 'GUEST_DRIFT')!.message, /other CPUs online \(0, not 1\)/);
  });

  it("an operation's own new intent replaces the recorded one (no drift while vcpuctl makes the change)", () => {
    const host = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json', intent: intent(2, '0-1') });
    const v = computeVerdict(host, guest('0-1', '0'), { guestOfflineIntended: true, intent: intent(1, '0') });
    assert.deepEqual(kinds(v), ['GUEST_OFFLINE_HOST_COUNTS']);
  });

  it('a hot-add never onlined stays HOTADDED_OFFLINE when the online count still matches the intent', () => {
    const host = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json', intent: intent(1, '0') });
    const g = guest('0-1', '0');
    g.snapshot!.cpus![1]!.offlineCause = v1.OfflineCause.HOT_ADDED_NEVER_ONLINED;
    assert.deepEqual(
      kinds(computeVerdict(host, g)).filter((k) => k !== 'LIVE_CONFIG_DIFFER'),
      ['HOTADDED_OFFLINE'],
    );
  });

  it('GUEST_OFFLINE_HOST_COUNTS: offlined in the guest on purpose, host still counts it (expected)', () => {
    const host = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });
    const v = computeVerdict(host, guest('0-1', '0'), { guestOfflineIntended: true });
    const f = v.findings.find((x) => x.kind === 'GUEST_OFFLINE_HOST_COUNTS');
    assert.equal(f?.severity, 'expected');
    assert.match(f!.advice, /restart/);
    assert.equal(v.ok, true);
  });

  it('a guest-side offline persisted with --config is one explained state, not also a LIVE_CONFIG_DIFFER', () => {
    // live 2 (host still counts the offlined vCPU), config 1 (persisted), guest online 1
    const host = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });
    assert.equal(host.domain.config.current, 1);
    const v = computeVerdict(host, guest('0-1', '0'), { guestOfflineIntended: true });
    assert.deepEqual(kinds(v), ['GUEST_OFFLINE_HOST_COUNTS']);
    assert.match(v.findings[0]!.advice, /already done/);
  });

  it('LIVE_CONFIG_DIFFER: a live change not persisted', () => {
    const host = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });
    const v = computeVerdict(host, guest('0-1', '0-1'));
    assert.deepEqual(kinds(v), ['LIVE_CONFIG_DIFFER']);
    assert.equal(v.ok, true, 'a warning, not a failure');
  });

  it("LIBVIRT_QEMU_DIFFER: libvirt's count is stale (a timed-out unplug QEMU finished)", () => {
    const host = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-1of2.json' });
    const v = computeVerdict(host, guest('0', '0'));
    assert.ok(kinds(v).includes('LIBVIRT_QEMU_DIFFER'));
    assert.equal(v.ok, false);
  });

  it('QEMU_GUEST_DIFFER: QEMU plugged a vCPU the guest kernel does not list', () => {
    const host = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });
    assert.ok(kinds(computeVerdict(host, guest('0', '0'))).includes('QEMU_GUEST_DIFFER'));
  });

  it('IDENTITY_MISMATCH: the agent answering is another machine, and nothing else is compared', () => {
    const v = computeVerdict(hostSnapshot(), guest('0-3', '0-3', { productUuid: '00000000-0000-0000-0000-000000000001' }));
    assert.deepEqual(kinds(v), ['IDENTITY_MISMATCH']);
  });

  it('AGENT_UNREACHABLE', () => {
    const v = computeVerdict(hostSnapshot(), { reachable: false, error: 'ECONNREFUSED' });
    assert.deepEqual(kinds(v), ['AGENT_UNREACHABLE']);
    assert.match(v.findings[0]!.message, /ECONNREFUSED/);
  });

  it('DOMAIN_NOT_RUNNING and DOMAIN_CRASHED', () => {
    assert.deepEqual(kinds(computeVerdict(hostSnapshot({ state: 'shut off', reason: 'destroyed' }), { reachable: false })), ['DOMAIN_NOT_RUNNING']);
    assert.deepEqual(kinds(computeVerdict(hostSnapshot({ state: 'shut off', reason: 'crashed' }), { reachable: false })), ['DOMAIN_CRASHED']);
  });
});
