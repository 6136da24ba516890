/** Every verdict kind, produced from recorded libvirt/QEMU state and guest snapshots. */
import { strict as assert } from 'node:assert';
import { computeVerdict, GuestView } from '@vcpuctl/host';
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

  it('GUEST_OFFLINE_HOST_COUNTS also when the agent saw the CPU being offlined (no operation context)', () => {
    const host = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });
    const g = guest('0-1', '0');
    g.snapshot!.cpus![1]!.offlineCause = v1.OfflineCause.OFFLINED;
    assert.ok(kinds(computeVerdict(host, g)).includes('GUEST_OFFLINE_HOST_COUNTS'));
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

  it("QEMU_GUEST_DIFFER: QEMU plugged a vCPU the guest kernel does not list", () => {
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
