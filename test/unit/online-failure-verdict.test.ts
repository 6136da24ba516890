/**
 * The host's side of issue 18's last parts: the guest-input boundary's checks
 * of the udev rules, the online failures and a comeback's suspects (hostile
 * values refused, counts bounded before decoding), CPU_ONLINE_FAILED with its
 * likely cause per errno as status, reports and watch show it, and the line
 * watch prints for a CPU that came back online.
 */
import { strict as assert } from 'node:assert';
import { MAX_GUEST_ONLINE_FAILURES, MAX_GUEST_UDEV_RULES, VcpuctlError, decodeGuestFrame, encodeEnvelope, v1 } from '@vcpuctl/proto';
import { GuestView, checkSnapshot, computeVerdict, verdictError } from '@vcpuctl/host';
import { checkCpuEvent } from '@vcpuctl/host/dist/guest/guest-input';
import { changeText } from '@vcpuctl/host/dist/guest/change-text';
import { ReportBuilder, renderMarkdown } from '@vcpuctl/host/dist/core/report';
import { statusText } from '@vcpuctl/host/dist/cli/format';
import { hostSnapshot } from '../helpers/host-fixtures';

const isProtocol = (re: RegExp) => (e: unknown) => e instanceof VcpuctlError && e.code === 'PROTOCOL' && re.test(e.message);

/** A hot-add of a second vCPU that the guest kernel refused to online (libvirt and QEMU agree on 2). */
const host = () => hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });

const rule = { file: '/etc/udev/rules.d/99-cpu.rules', line: 3, text: 'SUBSYSTEM=="cpu", ATTR{online}="1"', fightsOffline: true, actions: 'add|change|online|offline' };

function guest(failures: v1.IOnlineFailure[], online = '0'): GuestView {
  return {
    reachable: true,
    via: 'channel',
    productUuid: host().domain.uuid,
    snapshot: v1.Snapshot.toObject(
      checkSnapshot({
        present: '0-1',
        online,
        cpus: [
          { index: 0, present: true, online: true },
          { index: 1, present: true, online: online === '0-1', offlinable: true, offlineCause: v1.OfflineCause.HOT_ADDED_NEVER_ONLINED },
        ],
        onlineFailures: failures,
      }),
      { defaults: true },
    ),
  };
}

const eio = {
  cpu: 1,
  errno: 'EIO',
  message: 'EIO: i/o error, write',
  attempts: 3,
  atMs: 1,
  byAutoOnline: true,
  kernelLines: [{ message: 'smpboot: do_boot_cpu failed(-1) to wakeup CPU#1' }, { message: 'CPU1 failed to report alive state' }],
};

describe('the guest-input boundary: udev rules, online failures, comebacks', () => {
  it('takes well-formed values as they are', () => {
    const s = checkSnapshot({ present: '0-1', online: '0', udevRules: [rule], udevRead: v1.UdevRead.UDEV_READ_WHOLE, onlineFailures: [eio] });
    assert.deepEqual(v1.UdevRule.toObject(s.udevRules![0] as v1.UdevRule), rule);
    assert.equal(s.onlineFailures![0]!.errno, 'EIO');
    assert.equal(s.onlineFailures![0]!.kernelLines!.length, 2);
  });

  it('refuses what no real agent sends, naming the field', () => {
    const snap = (over: v1.ISnapshot) => () => checkSnapshot({ present: '0-1', online: '0', ...over });
    assert.throws(snap({ udevRules: [{ ...rule, file: '/home/x/evil.rules' }] }), isProtocol(/udev rules 0's file/));
    assert.throws(snap({ udevRules: [{ ...rule, file: '/etc/udev/rules.d/../../shadow.rules' }] }), isProtocol(/not a rules file/));
    assert.throws(snap({ udevRules: [{ ...rule, line: 0 }] }), isProtocol(/line/));
    assert.throws(snap({ udevRules: [{ ...rule, actions: 'add;rm -rf' }] }), isProtocol(/actions/));
    assert.throws(snap({ udevRead: 9 as v1.UdevRead }), isProtocol(/udev_read/));
    assert.throws(snap({ udevRules: Array.from({ length: MAX_GUEST_UDEV_RULES + 1 }, () => rule) }), isProtocol(/at most 64/));
    assert.throws(snap({ onlineFailures: [{ ...eio, errno: '`reboot`' }] }), isProtocol(/errno/));
    assert.throws(snap({ onlineFailures: [eio, eio] }), isProtocol(/twice/));
    assert.throws(snap({ onlineFailures: [{ ...eio, cpu: 99999 }] }), isProtocol(/CPU number/));
    assert.throws(snap({ onlineFailures: [{ ...eio, kernelLines: Array.from({ length: 17 }, () => ({ message: 'x' })) }] }), isProtocol(/17 kernel lines/));
    assert.throws(() => checkCpuEvent({ changes: [{ cpu: 1, kind: v1.CpuChange.Kind.ONLINED, suspects: [{ ...rule, file: 'x' }] }] }), isProtocol(/suspected udev rules 0's file/));
  });

  it('a frame with more rules or failures than a guest can have is refused before decoding', () => {
    const frame = (snapshot: v1.ISnapshot) => encodeEnvelope({ id: 1, snapshotReply: { snapshot } });
    assert.throws(() => decodeGuestFrame(frame({ udevRules: Array.from({ length: MAX_GUEST_UDEV_RULES + 1 }, () => ({ line: 1 })) })), isProtocol(/Snapshot\.15/));
    assert.throws(() => decodeGuestFrame(frame({ onlineFailures: Array.from({ length: MAX_GUEST_ONLINE_FAILURES + 1 }, (_, cpu) => ({ cpu })) })), isProtocol(/Snapshot\.17/));
    const suspects = Array.from({ length: MAX_GUEST_UDEV_RULES + 1 }, () => ({ line: 1 }));
    assert.throws(() => decodeGuestFrame(encodeEnvelope({ id: 0, cpuEvent: { changes: [{ cpu: 1, suspects }] } })), isProtocol(/CpuChange\.6/));
  });
});

describe('CPU_ONLINE_FAILED', () => {
  it('names the CPU, who wrote, the errno, the writes, the kernel lines and the likely cause; an error, in place of HOTADDED_OFFLINE', () => {
    const v = computeVerdict(host(), guest([eio]));
    const f = v.findings.find((x) => x.kind === 'CPU_ONLINE_FAILED')!;
    assert.equal(f.severity, 'error');
    assert.match(
      f.message,
      /^the guest kernel refused to online CPU 1 \(by the agent's auto-online of the hot-add\): EIO \(EIO: i\/o error, write\) after 3 writes; kernel: "smpboot: do_boot_cpu failed\(-1\) to wakeup CPU#1", "CPU1 failed to report alive state"; likely cause: .*live-migrated/,
    );
    assert.match(f.advice, /vcpuctl doctor \S+` says whether the domain was migrated/);
    assert.ok(!v.findings.some((x) => x.kind === 'HOTADDED_OFFLINE'), JSON.stringify(v.findings));
    assert.equal(v.ok, false);
    assert.match(verdictError(v)!.message, /CPU_ONLINE_FAILED/);
  });

  it('EBUSY: the kernel busy with another hotplug; an unknown errno: said plainly', () => {
    const busy = computeVerdict(host(), guest([{ ...eio, errno: 'EBUSY', byAutoOnline: false, kernelLines: [] }])).findings.find((x) => x.kind === 'CPU_ONLINE_FAILED')!;
    assert.match(busy.message, /\(by a request\): EBUSY .*no kernel line about it was read; likely cause: the guest kernel was busy with another CPU hotplug/);
    const other = computeVerdict(host(), guest([{ ...eio, errno: 'EPERM' }])).findings.find((x) => x.kind === 'CPU_ONLINE_FAILED')!;
    assert.match(other.message, /likely cause: the guest kernel refused the write with EPERM/);
  });

  it('a CPU online again is no longer named, even if a stale record came', () => {
    const v = computeVerdict(host(), guest([eio], '0-1'));
    assert.ok(!v.findings.some((x) => x.kind === 'CPU_ONLINE_FAILED'));
  });

  it('shown by status text and reports, guest text escaped', () => {
    const h = host();
    const g = guest([{ ...eio, kernelLines: [{ message: 'CPU1 [x](http://evil) `code`' }] }]);
    const text = statusText({ domain: 'web1', uri: 'qemu:///system', hostName: 'h', host: h, guest: g, verdict: computeVerdict(h, g) });
    assert.match(text, /CPU_ONLINE_FAILED \(error\): the guest kernel refused to online CPU 1/);
    const rb = new ReportBuilder('web1', { uri: 'qemu:///system' }, 'status');
    const md = renderMarkdown(rb.finish({ host: h, guest: g }, computeVerdict(h, g), { ok: true }));
    assert.match(md, /\*\*CPU_ONLINE_FAILED\*\* \(error\)/);
    assert.doesNotMatch(md.replace(/`[^`\n]*`/g, ''), /\[x\]\(http:\/\/evil\)/);
  });
});

describe("GUEST_DRIFT names the guest's udev rules that undo an offline", () => {
  const intent = { online: 1, cpus: '0', operation: 'set', strategy: 'guest-offline', at: '2026-11-27T23:00:00.000Z', report: 'r1' };
  const drifted = (rules: (typeof rule)[]) => {
    const g = guest([], '0-1');
    g.snapshot!.udevRules = rules;
    return computeVerdict(hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json', intent }), g).findings.find((f) => f.kind === 'GUEST_DRIFT')!;
  };

  it('in the advice, with doctor for the fix; not when no such rule is known', () => {
    assert.match(drifted([rule]).advice, /the guest's udev rule \/etc\/udev\/rules\.d\/99-cpu\.rules:3 onlines CPUs on offline events, which undoes a guest-side offline: `vcpuctl doctor \S+` gives the fix/);
    assert.doesNotMatch(drifted([{ ...rule, fightsOffline: false, actions: 'add' }]).advice, /udev/);
    assert.doesNotMatch(drifted([]).advice, /udev/);
  });
});

describe('a CPU that came back online, as watch prints it', () => {
  const change = (over: v1.ICpuChange) => changeText(checkCpuEvent({ changes: [{ cpu: 1, kind: v1.CpuChange.Kind.ONLINED, ...over }] }).changes[0]!);

  it('names the suspected rule with file:line', () => {
    assert.equal(change({ backAfterMs: 320, suspects: [rule], rulesReadWhole: true }), 'cpu1 ONLINED: came back online 0.3 s after it went offline, not by the agent: likely the udev rule /etc/udev/rules.d/99-cpu.rules:3');
  });

  it('with no rule found says a process did it, and which cannot be known; with rules read in part, not known', () => {
    assert.match(
      change({ wantedOffline: true, rulesReadWhole: true }),
      /^cpu1 ONLINED: came back online, not by the agent, though the host wants it offline: no udev rule .*a process in the guest wrote its online file \(which one cannot be known/,
    );
    assert.match(change({ backAfterMs: 1000, rulesReadWhole: false }), /not known: the agent could not read all/);
  });

  it('a plain change is as before', () => {
    assert.equal(change({}), 'cpu1 ONLINED');
    assert.equal(change({ byAgent: true }), 'cpu1 ONLINED (by agent)');
  });
});
