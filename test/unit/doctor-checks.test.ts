/**
 * vcpuctl doctor's checks (core/doctor/), each on a domain XML (or guest
 * view, or qemu-ga answer) that has the problem and on one that does not;
 * the XML reader (libvirt/domain-risks-xml.ts); and that `set --dry-run`
 * judges only the vCPUs its plan plugs. Pure: no libvirt, no root.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GuestView } from '@vcpuctl/host';
import { v1 } from '@vcpuctl/proto';
import { DoctorCheck, DoctorInputs, GuestInfoRead, plugIds } from '@vcpuctl/host/dist/core/doctor/check';
import { doctorChecks } from '@vcpuctl/host/dist/core/doctor/checks';
import { kernelHotplugCheck, qemuGaCheck, udevCheck } from '@vcpuctl/host/dist/core/doctor/guest-checks';
import { parseGuestInfo, MAX_GUEST_INFO_COMMANDS } from '@vcpuctl/host/dist/core/doctor/guest-info';
import { headroomCheck, migratedCheck, numaCheck, pinCheck, topologyCheck } from '@vcpuctl/host/dist/core/doctor/host-checks';
import { parseDomainRisksXml, parseLibvirtCpuset } from '@vcpuctl/host/dist/libvirt/domain-risks-xml';
import { hostSnapshot } from '../helpers/host-fixtures';

const fixture = (name: string) => readFileSync(join(__dirname, '../../fixtures/doctor', name), 'utf8');
const noGuest: GuestView = { reachable: false, error: 'no guest agent found' };

function inputs(xmlName: string | undefined, over: Partial<DoctorInputs> = {}): DoctorInputs {
  return {
    domain: 'vt',
    host: hostSnapshot(),
    guest: noGuest,
    guestInfo: { kind: 'no-channel' },
    xml: xmlName ? parseDomainRisksXml(fixture(xmlName)) : undefined,
    ...(xmlName ? {} : { xmlError: 'not read' }),
    ...over,
  };
}

/** An agent's view: `possible`, `present` and which CPUs have an online file. */
function agentGuest(possible: string, present: number[], offlinable: (i: number) => boolean): GuestView {
  return {
    reachable: true,
    via: 'channel',
    snapshot: { possible, present: present.join(','), online: present.join(','), cpus: present.map((index) => ({ index, present: true, online: true, offlinable: offlinable(index) })) },
  };
}

const status = (c: DoctorCheck) => c.status;

describe('doctor: the domain XML it reads', () => {
  it('reads counts, enabled and disabled ids, pins, emulatorpin, cells and topology', () => {
    const x = parseDomainRisksXml(fixture('pinned-partial.xml'));
    assert.deepEqual([x.current, x.maximum, x.enabled, x.disabled], [1, 3, [0], [1, 2]]);
    assert.deepEqual(x.pins, [{ vcpu: 0, cpuset: '0' }]);
    assert.equal(x.emulatorpin, '1');
    assert.deepEqual(x.topology, { sockets: 1, dies: 1, cores: 3, threads: 1 });
    assert.deepEqual(parseDomainRisksXml(fixture('numa-interleaved.xml')).numaCells, [
      { id: 0, cpus: [0, 2] },
      { id: 1, cpus: [1] },
    ]);
    assert.equal(parseDomainRisksXml(fixture('no-topology.xml')).topology, undefined);
  });

  it('takes enabled ids from the <vcpus> list when libvirt writes one', () => {
    const xml = fixture('clean.xml')
      .replace(
        '</vcpu>',
        "</vcpu>\n  <vcpus><vcpu id='0' enabled='yes' hotpluggable='no' order='1'/><vcpu id='1' enabled='no' hotpluggable='yes'/><vcpu id='2' enabled='yes' hotpluggable='yes' order='2'/><vcpu id='3' enabled='no' hotpluggable='yes'/></vcpus>",
      )
      .replace("current='1'", "current='2'");
    const x = parseDomainRisksXml(xml);
    assert.deepEqual(
      [x.enabled, x.disabled],
      [
        [0, 2],
        [1, 3],
      ],
    );
  });

  it("reads libvirt's cpuset syntax with exclusions, and refuses what is not one (LIBVIRT_FAILED)", () => {
    assert.deepEqual(parseLibvirtCpuset('0-3,^2,8', 'x'), [0, 1, 3, 8]);
    for (const bad of ['a', '3-1', '0-99999', '^1-2', '']) assert.throws(() => parseLibvirtCpuset(bad, 'x'), { code: 'LIBVIRT_FAILED' }, bad);
    assert.throws(() => parseDomainRisksXml('<domain><vcpu>2</vcpu><cpu><topology sockets="x" cores="1" threads="1"/></cpu></domain>'), { code: 'LIBVIRT_FAILED' });
  });
});

describe('doctor: host-side checks, each with and without its problem', () => {
  it('headroom: current below the maximum is ok; current at the maximum is a risk with set-max as the fix', () => {
    assert.equal(headroomCheck(inputs('clean.xml')).status, 'ok');
    const r = headroomCheck(inputs('no-headroom.xml'));
    assert.equal(r.status, 'risk');
    assert.match(r.detail, /2 of a maximum of 2/);
    assert.match(r.fix!, /vcpuctl set-max vt M --restart/);
  });

  it('vcpupin: pins covering some vCPUs but not the ones a hot-add plugs is a risk; none, or all pinned, is ok', () => {
    const r = pinCheck(inputs('pinned-partial.xml'));
    assert.equal(r.status, 'risk');
    assert.match(r.detail, /^vCPUs 1, 2 would run unpinned \(on any host CPU\): <vcpupin> covers vCPU 0 only; <emulatorpin cpuset='1'>/);
    assert.match(r.fix!, /virsh vcpupin vt VCPU HOSTCPUS --config/);
    assert.equal(pinCheck(inputs('pinned-all.xml')).status, 'ok');
    assert.equal(pinCheck(inputs('clean.xml')).status, 'ok');
    // An unpinned vCPU falls back to <vcpu cpuset>: said so.
    const withCpuset = parseDomainRisksXml(fixture('pinned-partial.xml').replace("placement='static'", "placement='static' cpuset='0-1'"));
    assert.match(pinCheck({ ...inputs(undefined), xml: withCpuset }).detail, /on <vcpu cpuset='0-1'>/);
  });

  it('numa: a plugged vCPU in a cell its place does not give it, or in none, is a risk; contiguous cells are ok', () => {
    const odd = numaCheck(inputs('numa-interleaved.xml'));
    assert.equal(odd.status, 'risk');
    assert.match(odd.detail, /vCPU 1 lands in cell 1, where the cells' sizes in order put it in cell 0/);
    const none = numaCheck(inputs('numa-uncovered.xml'));
    assert.equal(none.status, 'risk');
    assert.match(none.detail, /vCPU 2 in no cell: QEMU puts it on node 0/);
    assert.equal(numaCheck(inputs('numa-contiguous.xml')).status, 'ok');
    assert.equal(numaCheck(inputs('clean.xml')).status, 'ok');
  });

  it('topology: a hot-added vCPU in a socket of its own is a risk (no <topology>, or a full socket); cores of one socket are ok', () => {
    const none = topologyCheck(inputs('no-topology.xml'));
    assert.equal(none.status, 'risk');
    assert.match(none.detail, /vCPUs 1, 2 would each add a socket .*one socket per vCPU \(sockets=3, cores=1, threads=1\)/);
    assert.match(none.fix!, /cores='3'/);
    const two = topologyCheck(inputs('two-sockets.xml'));
    assert.equal(two.status, 'risk');
    assert.match(two.detail, /vCPUs 2, 3 would each add a socket \(vCPU 2 → socket 1, vCPU 3 → socket 1/);
    assert.equal(topologyCheck(inputs('clean.xml')).status, 'ok');
    // A plan that plugs only within the first socket of two-sockets has no new socket: there is none to plug at 2 of 4.
    assert.equal(topologyCheck(inputs('two-sockets.xml', { target: 2 })).status, 'ok');
  });

  it("migrated: libvirt's reason booted is ok, migrated/restored a risk, any other reason not checked (never ok)", () => {
    assert.equal(migratedCheck(inputs('clean.xml')).status, 'ok');
    for (const reason of ['migrated', 'restored', 'from snapshot']) {
      const r = migratedCheck(inputs('clean.xml', { host: hostSnapshot({ reason }) }));
      assert.equal(r.status, 'risk', reason);
      assert.match(r.detail, /EIO/);
    }
    assert.equal(migratedCheck(inputs('clean.xml', { host: hostSnapshot({ reason: 'unpaused' }) })).status, 'not checked');
    assert.equal(migratedCheck(inputs('clean.xml', { host: hostSnapshot({ state: 'shut off', reason: 'destroyed' }) })).status, 'not checked');
  });

  it('every XML check says not checked, with the reason, when the XML could not be read', () => {
    for (const check of [headroomCheck, pinCheck, numaCheck, topologyCheck]) {
      const r = check(inputs(undefined));
      assert.equal(r.status, 'not checked');
      assert.match(r.detail, /not read/);
    }
  });
});

describe('doctor: guest-side checks', () => {
  const read = (name: string): GuestInfoRead => ({ kind: 'read', info: parseGuestInfo(fixture(name)) });

  it('qemu-ga: guest-set-vcpus disabled (--block-rpcs) is a risk; both enabled is ok; no channel is ok; unanswered is not checked', () => {
    const r = qemuGaCheck(inputs('clean.xml', { guestInfo: read('guest-info-blocked.json') }));
    assert.equal(r.status, 'risk');
    assert.match(r.detail, /guest-set-vcpus disabled/);
    assert.match(r.fix!, /block-rpcs/);
    assert.equal(qemuGaCheck(inputs('clean.xml', { guestInfo: read('guest-info-enabled.json') })).status, 'ok');
    assert.equal(qemuGaCheck(inputs('clean.xml')).status, 'ok');
    assert.equal(qemuGaCheck(inputs('clean.xml', { guestInfo: { kind: 'unread', why: 'qemu-ga is not running' } })).status, 'not checked');
    const old = parseGuestInfo(JSON.stringify({ return: { version: '1.0', supported_commands: [{ name: 'guest-ping', enabled: true }] } }));
    assert.match(qemuGaCheck(inputs('clean.xml', { guestInfo: { kind: 'read', info: old } })).detail, /not offered/);
  });

  it("guest-info's answer is bounded and checked: not JSON, no list, bad names, too many entries are refused", () => {
    assert.throws(() => parseGuestInfo('nope'), { code: 'PROTOCOL' });
    assert.throws(() => parseGuestInfo('{"return":{}}'), { code: 'PROTOCOL' });
    assert.throws(() => parseGuestInfo('{"return":{"supported_commands":[{"name":"\\u001b[2J","enabled":true}]}}'), { code: 'PROTOCOL' });
    assert.throws(() => parseGuestInfo('{"return":{"supported_commands":[{"name":"guest-ping"}]}}'), { code: 'PROTOCOL' });
    const many = { return: { supported_commands: Array.from({ length: MAX_GUEST_INFO_COMMANDS + 1 }, (_, i) => ({ name: `c${i}`, enabled: true })) } };
    assert.throws(() => parseGuestInfo(JSON.stringify(many)), { code: 'TOO_BIG' });
  });

  it('kernel hotplug: possible below the maximum, or no online file on any CPU but cpu0, is a risk; possible covering it is ok', () => {
    // clean.xml: maximum 4.
    assert.equal(kernelHotplugCheck(inputs('clean.xml', { guest: agentGuest('0-3', [0], () => false) })).status, 'ok');
    const low = kernelHotplugCheck(inputs('clean.xml', { guest: agentGuest('0-1', [0, 1], (i) => i !== 0) }));
    assert.equal(low.status, 'risk');
    assert.match(low.detail, /at most 2 CPUs \(possible 0-1\), the domain's maximum is 4/);
    const noFiles = kernelHotplugCheck(inputs('clean.xml', { guest: agentGuest('0-3', [0, 1], () => false) }));
    assert.equal(noFiles.status, 'risk');
    assert.match(noFiles.detail, /CONFIG_HOTPLUG_CPU/);
    assert.equal(kernelHotplugCheck(inputs('clean.xml', { guest: agentGuest('0-3', [0, 1], (i) => i !== 0) })).status, 'ok');
  });

  it('kernel hotplug: not checked without vcpuctl-agent (qemu-ga shows no possible list) or without a guest', () => {
    assert.equal(kernelHotplugCheck(inputs('clean.xml')).status, 'not checked');
    const ga: GuestView = { reachable: true, via: 'qemu-ga', snapshot: { present: '0', online: '0', cpus: [{ index: 0, present: true, online: true }] } };
    assert.match(kernelHotplugCheck(inputs('clean.xml', { guest: ga })).detail, /needs vcpuctl-agent/);
  });

  describe('udev auto-online rule', () => {
    const fighting = { file: '/run/udev/rules.d/99-fight.rules', line: 2, text: 'SUBSYSTEM=="cpu", ATTR{online}="1"', fightsOffline: true, actions: 'add|change|move|online|offline|bind|unbind' };
    const addOnly = { file: '/usr/lib/udev/rules.d/80-hotplug-cpu-mem.rules', line: 5, text: 'SUBSYSTEM=="cpu", ACTION=="add", TEST=="online", ATTR{online}=="0", ATTR{online}="1"', fightsOffline: false, actions: 'add' };
    const agent = (rules: (typeof fighting)[], read: v1.UdevRead, autoOnline = true): GuestView => ({
      ...agentGuest('0-3', [0], () => false),
      autoOnline,
      snapshot: { ...agentGuest('0-3', [0], () => false).snapshot, udevRules: rules, udevRead: read },
    });

    it('a rule that fights offlines is a risk naming file:line, with the override and guard fixes', () => {
      const r = udevCheck(inputs('clean.xml', { guest: agent([addOnly, fighting], v1.UdevRead.UDEV_READ_WHOLE) }));
      assert.equal(r.status, 'risk');
      assert.match(r.detail, /1 udev rule in the guest onlines CPUs on events besides "add".*\/run\/udev\/rules\.d\/99-fight\.rules:2 \(on add\|change/);
      assert.match(r.detail, /; 1 more/);
      assert.match(r.fix!, /ln -s \/dev\/null \/etc\/udev\/rules\.d\/80-hotplug-cpu-mem\.rules/);
      assert.match(r.fix!, /ln -s \/dev\/null \/etc\/udev\/rules\.d\/99-fight\.rules/);
      assert.match(r.fix!, /ACTION!="add", GOTO="cpu_online_end"/);
    });

    it('an add-only rule is a risk too: it onlines CPUs the host wants offline and races a boot-time offline', () => {
      const r = udevCheck(inputs('clean.xml', { guest: agent([addOnly], v1.UdevRead.UDEV_READ_WHOLE) }));
      assert.equal(r.status, 'risk');
      assert.match(r.detail, /onlines every hot-added CPU, also one the host wants offline.*80-hotplug-cpu-mem\.rules:5/);
    });

    it('no rule and an agent that onlines hot-adds is ok; no rule with --no-auto-online is a risk', () => {
      const ok = udevCheck(inputs('clean.xml', { guest: agent([], v1.UdevRead.UDEV_READ_WHOLE) }));
      assert.equal(ok.status, 'ok');
      assert.match(ok.detail, /no udev rule in the guest onlines CPUs; vcpuctl-agent onlines hot-added CPUs/);
      const off = udevCheck(inputs('clean.xml', { guest: agent([], v1.UdevRead.UDEV_READ_WHOLE, false) }));
      assert.equal(off.status, 'risk');
      assert.match(off.detail, /--no-auto-online: hot-added vCPUs stay offline/);
    });

    it('qemu-ga only is a risk (hot-adds stay offline, or a rule fights offlines: it can tell neither)', () => {
      const ga: GuestView = { reachable: true, via: 'qemu-ga', autoOnline: false, snapshot: { present: '0', online: '0', cpus: [{ index: 0, present: true, online: true }] } };
      const r = udevCheck(inputs('clean.xml', { guest: ga }));
      assert.equal(r.status, 'risk');
      assert.match(r.detail, /qemu-guest-agent only/);
      assert.match(r.fix!, /vcpuctl agent attach vt/);
    });

    it('not checked: no guest, an agent older than the field, or none found but the agent stopped at a bound', () => {
      assert.equal(udevCheck(inputs('clean.xml')).status, 'not checked');
      assert.match(udevCheck(inputs('clean.xml', { guest: agent([], v1.UdevRead.UDEV_READ_UNKNOWN) })).detail, /older version/);
      assert.equal(udevCheck(inputs('clean.xml', { guest: agent([], v1.UdevRead.UDEV_OVER_LIMIT) })).status, 'not checked');
      assert.equal(udevCheck(inputs('clean.xml', { guest: agent([fighting], v1.UdevRead.UDEV_OVER_LIMIT) })).status, 'risk');
    });
  });
});

describe('doctor: all checks together, and a plan', () => {
  it('a clean domain has no risk; not-checked checks are never counted as ok', () => {
    const checks = doctorChecks(inputs('clean.xml'));
    assert.deepEqual(
      checks.map((c) => c.id),
      ['headroom', 'vcpupin', 'numa', 'topology', 'migrated', 'qemu-ga-rpcs', 'kernel-hotplug', 'udev-auto-online'],
    );
    assert.deepEqual(checks.map(status), ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'not checked', 'not checked']);
  });

  it("set --dry-run's target: only the vCPUs its plan plugs are judged", () => {
    const x = parseDomainRisksXml(fixture('pinned-partial.xml'));
    assert.deepEqual(plugIds(x), [1, 2]);
    assert.deepEqual(plugIds(x, 2), [1]);
    assert.deepEqual(plugIds(x, 1), []);
    assert.equal(pinCheck(inputs('pinned-partial.xml', { target: 1 })).status, 'ok');
    assert.match(pinCheck(inputs('pinned-partial.xml', { target: 2 })).detail, /^vCPU 1 would run unpinned/);
    assert.equal(headroomCheck(inputs('no-headroom.xml', { target: 2 })).status, 'ok');
    assert.equal(headroomCheck(inputs('no-headroom.xml', { target: 3 })).status, 'risk');
  });
});
