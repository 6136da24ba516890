/**
 * The guest sources' parsing and decisions, with fakes standing in for
 * libvirt (the real ones are tested in test/libvirt and test/e2e): the
 * channels read from the live XML, qemu-guest-agent's answers, the guards
 * vcpuctl applies before guest-set-vcpus, and the discovery order.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sinon from 'sinon';
import {
  Context,
  DomainSnapshot,
  HypervisorDriver,
  QemuGaSession,
  channelMatchXml,
  channelXml,
  computeVerdict,
  connectGuest,
  parseDomainXml,
  parseChardevs,
  parseGuestVcpus,
  parseSetVcpus,
  virshError,
  withChardevState,
} from '@vcpuctl/host';
import { VcpuctlError, v1 } from '@vcpuctl/proto';
import { fakeDriver } from '../helpers/fake-driver';
import { hostSnapshot, virshFixture } from '../helpers/host-fixtures';

type Vcpu = { logicalId: number; online: boolean; canOffline: boolean };

function withChannels(snap: DomainSnapshot, live: string): DomainSnapshot {
  const d = parseDomainXml(virshFixture(live));
  return { ...snap, domain: { ...snap.domain, channels: { live: d.channels, config: d.channels, liveController: d.virtioSerial } } };
}

function gaDriver(vcpus: Vcpu[], setResult: number | Error = 0) {
  const state = vcpus.map((c) => ({ ...c }));
  return fakeDriver('qemu:///system', {
    guestAgentPing: sinon.stub().resolves(),
    guestAgentVcpus: sinon.stub().callsFake(async () => state.map((c) => ({ ...c }))),
    guestAgentSetVcpus: sinon.stub().callsFake(async (_d: string, changes: { logicalId: number; online: boolean }[]) => {
      if (setResult instanceof Error) throw setResult;
      const n = Math.min(setResult || changes.length, changes.length);
      for (const c of changes.slice(0, n)) state.find((s) => s.logicalId === c.logicalId)!.online = c.online;
      return n;
    }),
  });
}

describe('guest sources: libvirt channels and qemu-guest-agent answers (captured from libvirt 9.0)', () => {
  it('reads the virtio-serial channels, their sockets and states, and the controller from the live XML', () => {
    const d = parseDomainXml(virshFixture('dumpxml-live-channels.xml'));
    assert.deepEqual(
      d.channels.map((c) => [c.name, c.state]),
      [
        ['org.qemu.guest_agent.0', 'disconnected'],
        ['org.vcpuctl.agent.0', undefined],
      ],
    );
    assert.match(d.channels[1]!.path!, /^\/var\/lib\/libvirt\/qemu\/channel\/target\/domain-\d+-[^/]+\/org\.vcpuctl\.agent\.0$/);
    assert.equal(d.virtioSerial, true);
    const none = parseDomainXml(virshFixture('dumpxml-live-1of2.xml'));
    assert.deepEqual([none.channels, none.virtioSerial], [[], false]);
  });

  it("takes each channel's guest and host ends from QEMU's query-chardev (libvirt has no state for a hot-plugged one)", () => {
    const d = parseDomainXml(virshFixture('dumpxml-live-channels.xml'));
    const chardevs = parseChardevs(virshFixture('qmp-query-chardev-channels.json'));
    assert.deepEqual(chardevs.get('charmonitor'), { guestOpen: true, hostClient: true });
    const live = withChardevState(d.channels, chardevs);
    assert.deepEqual(
      live.map((c) => [c.name, c.state, c.hostClient]),
      [
        ['org.qemu.guest_agent.0', 'disconnected', false],
        ['org.vcpuctl.agent.0', 'disconnected', false],
      ],
    );
  });

  it('reads guest-get-vcpus; a missing can-offline (cpu0 on x86) means not offlinable', () => {
    assert.deepEqual(parseGuestVcpus(virshFixture('qga-get-vcpus-1of2-hotadded.rig-facts.json')), [
      { logicalId: 0, online: true, canOffline: false },
      { logicalId: 1, online: false, canOffline: true },
    ]);
    assert.deepEqual(parseGuestVcpus('{"return":[{"online":true,"logical-id":0}]}'), [{ logicalId: 0, online: true, canOffline: false }]);
  });

  it('refuses malformed qemu-guest-agent answers (they come from the guest) with one error each', () => {
    const bad: [string, string][] = [
      ['not json', 'PROTOCOL'],
      ['{"return":{}}', 'PROTOCOL'],
      ['{"return":[{"online":true,"logical-id":-1}]}', 'PROTOCOL'],
      ['{"return":[{"online":true,"logical-id":0},{"online":true,"logical-id":0}]}', 'PROTOCOL'],
      ['{"return":[{"online":"yes","logical-id":0}]}', 'PROTOCOL'],
      [JSON.stringify({ return: Array.from({ length: 8193 }, (_, i) => ({ online: true, 'logical-id': i })) }), 'TOO_BIG'],
      [`{"return":[],"pad":"${'x'.repeat(1024 * 1024)}"}`, 'TOO_BIG'],
    ];
    for (const [text, code] of bad)
      assert.throws(
        () => parseGuestVcpus(text),
        (e: VcpuctlError) => e.code === code,
        text.slice(0, 60),
      );
    assert.equal(parseSetVcpus('{"return":1}', 1), 1);
    assert.throws(
      () => parseSetVcpus('{"return":3}', 1),
      (e: VcpuctlError) => e.code === 'PROTOCOL',
    );
  });

  it("maps libvirt's 'guest agent is not connected' to AGENT_UNREACHABLE", () => {
    assert.equal(virshError(virshFixture('err-qga-not-connected.txt'), 'qemu-guest-agent guest-ping').code, 'AGENT_UNREACHABLE');
  });

  it('builds channel XML only for plain target names; detaching live names the socket', () => {
    assert.equal(channelXml('org.vcpuctl.agent.0'), "<channel type='unix'><source mode='bind'/><target type='virtio' name='org.vcpuctl.agent.0'/></channel>\n");
    assert.match(channelMatchXml('org.vcpuctl.agent.0', '/run/x/org.vcpuctl.agent.0'), /<source mode='bind' path='\/run\/x\/org\.vcpuctl\.agent\.0'\/>/);
    for (const bad of ["a'/><x", '', 'a b', '.hidden']) assert.throws(() => channelXml(bad), /bad channel name/);
  });
});

describe('guest sources: qemu-guest-agent session (fake libvirt)', () => {
  it('turns guest-get-vcpus into a reduced snapshot; a CPU that appears later is hot-added', async () => {
    const driver = gaDriver([{ logicalId: 0, online: true, canOffline: false }]);
    const s = new QemuGaSession(driver, 'dom');
    const first = await s.snapshot();
    assert.deepEqual([first.present, first.online, first.lscpu, first.possible], ['0', '0', '', '']);
    driver.guestAgentVcpus.callsFake(async () => [
      { logicalId: 0, online: true, canOffline: false },
      { logicalId: 1, online: false, canOffline: true },
    ]);
    const later = await s.snapshot();
    assert.equal(later.present, '0-1');
    assert.equal(later.cpus[1]!.offlineCause, v1.OfflineCause.HOT_ADDED_NEVER_ONLINED);
    assert.equal(s.via, 'qemu-ga');
    assert.ok(s.reduced.length > 0);
  });

  it('applies the agent guards before asking qemu-ga: absent, cannot offline, last online, duplicates, empty', async () => {
    const driver = gaDriver([
      { logicalId: 0, online: true, canOffline: false },
      { logicalId: 1, online: true, canOffline: true },
    ]);
    const s = new QemuGaSession(driver, 'dom');
    const refused: [{ cpu: number; online: boolean }[], string, RegExp][] = [
      [[{ cpu: 5, online: true }], 'CPU_REFUSED', /does not exist/],
      [[{ cpu: 0, online: false }], 'CPU_REFUSED', /cannot be offlined/],
      [
        [
          { cpu: 1, online: false },
          { cpu: 1, online: false },
        ],
        'USAGE',
        /named twice/,
      ],
      [[], 'USAGE', /no CPUs/],
    ];
    for (const [cpus, code, re] of refused) await assert.rejects(s.setOnline(cpus), (e: VcpuctlError) => e.code === code && re.test(e.message));
    const lone = gaDriver([
      { logicalId: 0, online: false, canOffline: true },
      { logicalId: 1, online: true, canOffline: true },
    ]);
    await assert.rejects(new QemuGaSession(lone, 'dom').setOnline([{ cpu: 1, online: false }]), (e: VcpuctlError) => e.code === 'CPU_REFUSED' && /last online/.test(e.message));
    sinon.assert.notCalled(driver.guestAgentSetVcpus);
    sinon.assert.notCalled(lone.guestAgentSetVcpus);
  });

  it('asks only for real changes, reports CHANGED/ALREADY, and remembers what it offlined', async () => {
    const driver = gaDriver([
      { logicalId: 0, online: true, canOffline: false },
      { logicalId: 1, online: true, canOffline: true },
      { logicalId: 2, online: false, canOffline: true },
    ]);
    const s = new QemuGaSession(driver, 'dom');
    await s.snapshot();
    const r = await s.setOnline([
      { cpu: 0, online: true },
      { cpu: 1, online: false },
    ]);
    sinon.assert.calledOnceWithExactly(driver.guestAgentSetVcpus, 'dom', [{ logicalId: 1, online: false }]);
    assert.deepEqual(
      r.results.map((x) => v1.CpuResult.Outcome[x.outcome ?? 0]),
      ['ALREADY', 'CHANGED'],
    );
    assert.equal(r.processed, 2);
    assert.equal(r.snapshot!.online, '0');
    const cause = (n: number) => r.snapshot!.cpus!.find((c) => c.index === n)!.offlineCause;
    assert.deepEqual([cause(1), cause(2)], [v1.OfflineCause.OFFLINED, v1.OfflineCause.OFFLINE_CAUSE_UNKNOWN]);
  });

  it('a change qemu-ga stops at is FAILED and the rest NOT_ATTEMPTED', async () => {
    const driver = gaDriver(
      [
        { logicalId: 0, online: true, canOffline: false },
        { logicalId: 1, online: false, canOffline: true },
        { logicalId: 2, online: false, canOffline: true },
      ],
      1,
    );
    const r = await new QemuGaSession(driver, 'dom').setOnline([
      { cpu: 1, online: true },
      { cpu: 2, online: true },
    ]);
    assert.deepEqual(
      r.results.map((x) => v1.CpuResult.Outcome[x.outcome ?? 0]),
      ['CHANGED', 'FAILED'],
    );
    assert.equal(r.processed, 1);
    const first = gaDriver(
      [
        { logicalId: 0, online: true, canOffline: false },
        { logicalId: 1, online: false, canOffline: true },
        { logicalId: 2, online: false, canOffline: true },
      ],
      new VcpuctlError('LIBVIRT_FAILED', 'guest-set-vcpus: Device or resource busy'),
    );
    const r2 = await new QemuGaSession(first, 'dom').setOnline([
      { cpu: 1, online: true },
      { cpu: 2, online: true },
    ]);
    assert.deepEqual(
      r2.results.map((x) => v1.CpuResult.Outcome[x.outcome ?? 0]),
      ['FAILED', 'NOT_ATTEMPTED'],
    );
    assert.match(r2.results[0]!.message ?? '', /busy/);
  });
});

describe('guest sources: discovery order (fake libvirt)', () => {
  let dir: string;
  const context = (driver: HypervisorDriver, agentFlags: Context['agentFlags'] = { agentsFile: join(dir, 'none.json') }): Context => ({
    driver,
    reportDir: join(dir, 'reports'),
    lockDir: join(dir, 'locks'),
    lockWaitMs: 0,
    agentFlags,
    agentTimeoutMs: 500,
    progress: () => undefined,
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-discover-'));
    writeFileSync(join(dir, 'none.json'), '{"domains":{}}');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('nothing configured and no channel: no guest, nothing asked, nothing to wait for', async () => {
    const driver = gaDriver([]);
    const g = await connectGuest(context(driver), hostSnapshot(), { subscribe: false });
    assert.deepEqual([g.view.reachable, g.configured, g.client], [false, false, undefined]);
    assert.match(g.view.error!, /no guest agent found.*vcpuctl agent attach/);
    sinon.assert.notCalled(driver.guestAgentPing);
  });

  it('a channel libvirt reports disconnected costs no wait and no ping', async () => {
    const snap = withChannels(hostSnapshot(), 'dumpxml-live-channels.xml');
    // The fixture's vcpuctl channel has no state yet; mark it disconnected as libvirt does after a start.
    snap.domain.channels!.live = snap.domain.channels!.live.map((c) => ({ ...c, state: 'disconnected' as const }));
    const driver = gaDriver([]);
    const started = Date.now();
    const g = await connectGuest(context(driver), snap, { subscribe: false });
    assert.ok(Date.now() - started < 200, 'no wait');
    assert.equal(g.configured, true);
    assert.match(g.view.error!, /nothing in the guest has it open.*qemu-ga is not running/);
    sinon.assert.notCalled(driver.guestAgentPing);
  });

  it('falls back to qemu-guest-agent when it answers guest-ping, and the view says so', async () => {
    const snap = withChannels(hostSnapshot(), 'dumpxml-live-channels.xml');
    snap.domain.channels!.live = snap.domain.channels!.live.map((c) => (c.name === 'org.qemu.guest_agent.0' ? { ...c, state: 'connected' as const } : { ...c, state: 'disconnected' as const }));
    const driver = gaDriver([{ logicalId: 0, online: true, canOffline: false }]);
    const g = await connectGuest(context(driver), snap, { subscribe: true });
    sinon.assert.calledOnce(driver.guestAgentPing);
    assert.equal(g.view.via, 'qemu-ga');
    assert.equal(g.client?.via, 'qemu-ga');
    assert.ok(g.view.reduced?.length);
    const v = computeVerdict(snap, g.view);
    assert.deepEqual(
      v.findings.map((f) => f.kind),
      ['GUEST_VIEW_REDUCED'],
    );
    assert.equal(v.ok, true);
  });

  it('an explicit --agent wins over every channel and is not silently replaced by qemu-ga', async () => {
    const snap = withChannels(hostSnapshot(), 'dumpxml-live-channels.xml');
    snap.domain.channels!.live = snap.domain.channels!.live.map((c) => ({ ...c, state: 'connected' as const }));
    const driver = gaDriver([{ logicalId: 0, online: true, canOffline: false }]);
    const g = await connectGuest(context(driver, { agent: 'ws://127.0.0.1:1' }), snap, { subscribe: false });
    assert.deepEqual([g.view.reachable, g.view.via, g.configured], [false, 'websocket', true]);
    sinon.assert.notCalled(driver.guestAgentPing);
  });

  it('a reduced view still decides the verdicts it can: a hot-added CPU left offline is HOTADDED_OFFLINE', () => {
    const snap = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });
    const view = {
      reachable: true,
      via: 'qemu-ga' as const,
      reduced: ['no lscpu view'],
      snapshot: {
        present: '0-1',
        online: '0',
        cpus: [
          { index: 0, present: true, online: true },
          { index: 1, present: true, online: false, offlineCause: v1.OfflineCause.HOT_ADDED_NEVER_ONLINED },
        ],
      },
    };
    const kinds = computeVerdict(snap, view)
      .findings.map((f) => f.kind)
      .sort();
    assert.deepEqual(kinds, ['GUEST_VIEW_REDUCED', 'HOTADDED_OFFLINE', 'LIVE_CONFIG_DIFFER']);
  });
});
