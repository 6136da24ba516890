/**
 * The host's side of CPUS_NOT_USABLE: the guest-input boundary's checks of
 * the restricted-cgroup fields (hostile values refused), the verdict's
 * finding with its fix per kind, and what status text, reports, watch and
 * the exporter show of it.
 */
import { strict as assert } from 'node:assert';
import { MAX_GUEST_CGROUPS, MAX_GUEST_CGROUP_PATH_CHARS, VcpuctlError, decodeGuestFrame, encodeEnvelope, v1 } from '@vcpuctl/proto';
import { GuestView, checkSnapshot, computeVerdict } from '@vcpuctl/host';
import { ReportBuilder, renderMarkdown } from '@vcpuctl/host/dist/core/report';
import { cgroupUsability } from '@vcpuctl/host/dist/core/verdict';
import { statusText } from '@vcpuctl/host/dist/cli/format';
import { usabilityChange } from '@vcpuctl/host/dist/watch/watcher';
import { Metrics } from '@vcpuctl/host/dist/watch/metrics';
import type { Watcher } from '@vcpuctl/host/dist/watch/watcher';
import { hostSnapshot } from '../helpers/host-fixtures';
import { lengthDelimited } from '../helpers/raw-protobuf';

const Kind = v1.CgroupRestriction.Kind;
const ID = '3f4e8a1b2c9d0e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f';
const UID = '0a1b2c3d-4e5f-6789-abcd-ef0123456789';
/** The finding, from among the others (the hot-add fixture is also LIVE_CONFIG_DIFFER: not persisted). */
const notUsable = (g: GuestView) => computeVerdict(host(), g).findings.find((f) => f.kind === 'CPUS_NOT_USABLE');
const isProtocol = (re: RegExp) => (e: unknown) => e instanceof VcpuctlError && e.code === 'PROTOCOL' && re.test(e.message);

/** A hot-add of a second vCPU, onlined in the guest (libvirt and QEMU agree on 2). */
const host = () => hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });

function guest(restricted: v1.ICgroupRestriction[], opts: { read?: v1.CgroupRead; version?: number; online?: string } = {}): GuestView {
  const online = opts.online ?? '0-1';
  return {
    reachable: true,
    via: 'channel',
    productUuid: host().domain.uuid,
    snapshot: checkSnapshot({
      present: '0-1',
      online,
      cpus: [
        { index: 0, present: true, online: true },
        { index: 1, present: true, online: online === '0-1' },
      ],
      restricted,
      cgroupRead: opts.read ?? v1.CgroupRead.CGROUP_READ_WHOLE,
      cgroupVersion: opts.version ?? 2,
    }),
  };
}

const docker = { path: `/system.slice/docker-${ID}.scope`, kind: Kind.DOCKER, name: ID, cpus: '0', lacks: '1' };
const unit = { path: '/system.slice/nginx.service', kind: Kind.SYSTEMD_UNIT, name: 'nginx.service', cpus: '0', lacks: '1' };
const pod = { path: `/kubepods.slice/kubepods-pod${UID.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope`, kind: Kind.KUBEPODS, name: ID, pod: UID, cpus: '0', lacks: '1' };

describe('CPUS_NOT_USABLE', () => {
  describe('the guest-input boundary', () => {
    it('passes what a real agent sends', () => {
      const s = guest([docker, unit, pod]).snapshot!;
      assert.equal(s.restricted!.length, 3);
      assert.equal(s.cgroupRead, v1.CgroupRead.CGROUP_READ_WHOLE);
      assert.equal(s.restricted![2]!.pod, UID);
    });

    it('refuses an oversized path, and a path that is not from the root', () => {
      assert.throws(() => guest([{ ...docker, path: `/${'a'.repeat(MAX_GUEST_CGROUP_PATH_CHARS)}` }]), isProtocol(/restricted cgroup 0's path of 4097 characters/));
      assert.throws(() => guest([{ ...docker, path: 'system.slice' }]), isProtocol(/start at the hierarchy's root/));
    });

    it('refuses more entries than any guest has, counted before decoding', () => {
      const many = Array.from({ length: MAX_GUEST_CGROUPS + 1 }, () => ({ path: '/a', cpus: '0', lacks: '1' }));
      const frame = encodeEnvelope({ id: 1, snapshotReply: { snapshot: { online: '0-1', restricted: many } } });
      assert.throws(() => decodeGuestFrame(frame), isProtocol(/more than 1024 entries of Snapshot\.12/));
      // A snapshot made on the host (not from a frame) is counted by the check itself.
      assert.throws(() => checkSnapshot({ online: '0-1', restricted: many }), isProtocol(/1025 restricted cgroups/));
      // A field of an entry sent twice (decoded again and again) is refused like any other.
      const entry = [...lengthDelimited(1, [0x2f]), ...lengthDelimited(1, [0x2f])];
      const frame2 = lengthDelimited(12, lengthDelimited(1, lengthDelimited(12, entry)));
      assert.throws(() => decodeGuestFrame(Buffer.from(frame2)), isProtocol(/CgroupRestriction field 1 repeated/));
    });

    it('refuses a bad cpulist, a lack that is not online, and a lack of nothing', () => {
      assert.throws(() => guest([{ ...docker, cpus: '0-\x1b[2J' }]), isProtocol(/cpus/));
      assert.throws(() => guest([{ ...docker, lacks: '7' }]), isProtocol(/lacks.*"7", not a non-empty set of online CPUs/));
      assert.throws(() => guest([{ ...docker, lacks: '' }]), isProtocol(/lacks/));
    });

    it("refuses names outside each kind's grammar (they go into the advised commands), and unknown enums", () => {
      assert.throws(() => guest([{ ...docker, name: 'abc; rm -rf /' }]), isProtocol(/not a DOCKER name/));
      assert.throws(() => guest([{ ...unit, name: 'x.service `reboot`' }]), isProtocol(/not a SYSTEMD_UNIT name/));
      assert.throws(() => guest([{ ...docker, kind: Kind.OTHER }]), isProtocol(/not a OTHER name/));
      assert.throws(() => guest([{ ...docker, pod: UID }]), isProtocol(/pod/));
      assert.throws(() => guest([{ ...docker, kind: 99 as v1.CgroupRestriction.Kind }]), isProtocol(/kind.*99/));
      assert.throws(() => guest([], { read: 9 as v1.CgroupRead }), isProtocol(/cgroup_read/));
      assert.throws(() => guest([], { version: 3 }), isProtocol(/cgroup_version/));
    });

    it('shows control characters in a path, as everywhere else', () => {
      const s = guest([{ ...docker, kind: Kind.OTHER, name: '', path: '/evil\x1b]0;x\x07' }]).snapshot!;
      assert.equal(s.restricted![0]!.path, '/evil^[]0;x^G');
    });
  });

  describe('the verdict', () => {
    it('no finding while every online CPU is usable, or the agent did not read cgroups', () => {
      assert.equal(notUsable(guest([])), undefined);
      // qemu-ga, or an agent older than the field: nothing said, nothing judged.
      const old = guest([]);
      old.snapshot!.cgroupRead = v1.CgroupRead.CGROUP_READ_UNKNOWN;
      assert.equal(cgroupUsability(old.snapshot), undefined);
    });

    it('a warning naming the cgroups as users know them, with the fix per kind', () => {
      const v = computeVerdict(host(), guest([unit, docker, pod]));
      assert.equal(v.ok, true, 'a warning, not a mismatch');
      const f = v.findings.find((x) => x.kind === 'CPUS_NOT_USABLE')!;
      assert.equal(f.severity, 'warning');
      assert.equal(
        f.message,
        `CPU 1 is online in the guest but not usable by every workload: 3 cgroups that set their own CPUs lack it: nginx.service (runs on 0, lacks 1), docker container 3f4e8a1b2c9d (runs on 0, lacks 1), pod ${UID} container 3f4e8a1b2c9d (runs on 0, lacks 1)`,
      );
      assert.match(f.advice, /`systemctl set-property nginx\.service AllowedCPUs=0-1`; `docker update --cpuset-cpus 0-1 3f4e8a1b2c9d`/);
      assert.match(f.advice, /kubelet's static CPU manager.*remove \/var\/lib\/kubelet\/cpu_manager_state and restart the kubelet/);
    });

    it('cgroup v1: the cpuset written directly, parents first; an over-limit reading says there may be more', () => {
      const parent = { path: '/docker', kind: Kind.OTHER, cpus: '0', lacks: '1' };
      const v = computeVerdict(host(), guest([parent, { ...docker, path: `/docker/${ID}` }], { version: 1, read: v1.CgroupRead.CGROUP_OVER_LIMIT }));
      const f = v.findings.find((x) => x.kind === 'CPUS_NOT_USABLE')!;
      assert.match(f.message, /there may be more$/);
      assert.match(f.advice, /never adds a hot-added CPU below the root.*`echo 0-1 > \/sys\/fs\/cgroup\/cpuset\/docker\/cpuset\.cpus`; `docker update --cpuset-cpus 0-1 3f4e8a1b2c9d`/);
      // systemd sets AllowedCPUs= on the unified hierarchy only.
      const u1 = notUsable(guest([unit], { version: 1 }))!;
      assert.match(u1.advice, /`echo 0-1 > \/sys\/fs\/cgroup\/cpuset\/system\.slice\/nginx\.service\/cpuset\.cpus`/);
    });

    it('a path no command can carry safely gets no command; a backtick cannot open code in the report', () => {
      const f = notUsable(
        guest([
          { path: '/a`b', cpus: '0', lacks: '1' },
          { path: "/it's here", cpus: '0', lacks: '1' },
        ]),
      )!;
      assert.match(f.message, /\/a'b \(runs on 0/);
      assert.ok(!f.advice.includes('/a`b'));
      assert.match(f.advice, /`echo 0-1 > '\/sys\/fs\/cgroup\/it'\\''s here\/cpuset\.cpus'`/);
    });

    it('usable CPUs: the online ones no restricted cgroup lacks', () => {
      const u = cgroupUsability(guest([docker], { online: '0-1' }).snapshot)!;
      assert.deepEqual(u, { online: 2, usable: [0], notUsable: [1], partial: false });
      assert.deepEqual(cgroupUsability(guest([], { read: v1.CgroupRead.CGROUP_NO_CPUSET }).snapshot), { online: 2, usable: [0, 1], notUsable: [], partial: false });
      assert.equal(cgroupUsability(guest([], { read: v1.CgroupRead.CGROUP_UNREADABLE }).snapshot), undefined);
    });
  });

  describe('what each output shows', () => {
    it('status text: usable CPUs and each cgroup under the guest', () => {
      const h = host();
      const g = guest([unit, docker]);
      const text = statusText({ domain: 'web1', uri: 'qemu:///system', hostName: 'h', host: h, guest: g, verdict: computeVerdict(h, g) });
      assert.match(
        text,
        /\n {4}usable by every workload: 0 \(1 of 2 online CPUs; cgroup v2\)\n {6}nginx\.service \(\/system\.slice\/nginx\.service\): runs on 0, lacks 1\n {6}docker container 3f4e8a1b2c9d \(\/system\.slice\/docker-3f4e.*\): runs on 0, lacks 1\n/,
      );
      assert.match(text, /CPUS_NOT_USABLE \(warning\)/);
      const clean = guest([]);
      assert.doesNotMatch(statusText({ domain: 'web1', uri: 'qemu:///system', hostName: 'h', host: h, guest: clean, verdict: computeVerdict(h, clean) }), /usable/);
    });

    it('reports: a table of the cgroups, every guest string escaped for Markdown', () => {
      const h = host();
      const g = guest([{ path: '/[click](http://evil.example)<img src=x>', cpus: '0', lacks: '1' }, docker]);
      const rb = new ReportBuilder('web1', { uri: 'qemu:///system' }, 'status');
      const md = renderMarkdown(rb.finish({ host: h, guest: g }, computeVerdict(h, g), { ok: true }));
      assert.match(md, /## Guest cgroups short of online CPUs \(after\)/);
      assert.match(md, /\| \/\\\[click\\\]\(http\\:\/\/evil\.example\)&lt;img src=x> \| /);
      // Only inside the advice's code span (literal text there) does the path appear as the guest wrote it.
      assert.doesNotMatch(md.replace(/`[^`\n]*`/g, ''), /\[click\]\(http:|<img/);
      assert.match(md, /usable by every workload 1 of 2 online/);
      assert.match(md, /\*\*CPUS_NOT_USABLE\*\* \(warning\)/);
    });

    it('watch: a change of usable CPUs is a change line, both ways', () => {
      const before = guest([docker]).snapshot;
      const after = guest([]).snapshot;
      assert.equal(usabilityChange(before, after), 'usable by every workload: 0 -> 0-1 (2 of 2 online CPUs)');
      assert.equal(usabilityChange(after, before), 'usable by every workload: 0-1 -> 0 (1 of 2 online CPUs)');
      assert.equal(usabilityChange(before, before), undefined);
      assert.equal(usabilityChange(undefined, before), undefined, 'nothing known before: no change to name');
    });

    it('the exporter: vcpuctl_guest_cpus_usable per domain, only where the agent read the cgroups', async () => {
      const state = (name: string, g: GuestView) => ({ name, host: host(), guest: g, verdict: undefined, lastChangeAtMs: undefined });
      const noCgroups = guest([]);
      noCgroups.snapshot!.cgroupRead = v1.CgroupRead.CGROUP_READ_UNKNOWN;
      const watcher = {
        connection: { uri: 'qemu:///system', host: 'h', up: true, sinceMs: 0 },
        visible: () => [state('web1', guest([docker])), state('web2', guest([])), state('web3', noCgroups)],
        on: () => watcher,
        domains: new Map(),
      } as unknown as Watcher;
      const m = new Metrics([watcher], undefined);
      const text = await m.registry.getSingleMetricAsString('vcpuctl_guest_cpus_usable');
      const uuid = host().domain.uuid;
      assert.match(text, new RegExp(`vcpuctl_guest_cpus_usable\\{domain="web1",uuid="${uuid}",uri="qemu:///system"\\} 1\\n`));
      assert.match(text, /vcpuctl_guest_cpus_usable\{domain="web2",[^}]*\} 2/);
      assert.doesNotMatch(text, /web3/);
    });
  });
});
