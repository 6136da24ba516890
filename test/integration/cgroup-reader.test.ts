/**
 * The agent's cgroup reader on real directory trees (test/helpers/cgroup-tree.ts):
 * cgroup v2 with nested, docker, Kubernetes and systemd cgroups, the v1
 * cpuset hierarchy of systemd's hybrid layout, no cgroup file system, and
 * the walk's bounds. Also reads this machine's own cgroups, which must not
 * throw whatever they are.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCpuList } from '@vcpuctl/proto';
import { CgroupReader } from '@vcpuctl/guest-agent/dist/cgroup/reader';
import { discoverCpuset } from '@vcpuctl/guest-agent/dist/cgroup/mounts';
import { MAX_CGROUPS_VISITED, MAX_CGROUP_DEPTH, walkCpuset, WALK_LIMITS } from '@vcpuctl/guest-agent/dist/cgroup/walk';
import { CgroupTree } from '../helpers/cgroup-tree';

const ID = 'a'.repeat(12) + '0123456789abcdef0123456789abcdef0123456789abcdef0123';
const UID = '0a1b2c3d-4e5f-6789-abcd-ef0123456789';
const POD = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replace(/-/g, '_')}.slice`;

describe('cgroup reader (real trees)', function () {
  this.timeout(20000);
  const roots: string[] = [];
  const root = () => {
    const r = mkdtempSync(join(tmpdir(), 'vcpuctl-cgroup-'));
    roots.push(r);
    return r;
  };
  after(() => {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });

  const read = (r: string, online: string) => new CgroupReader(r).read(parseCpuList(online));
  const paths = (reading: { restricted: { path: string }[] }) => reading.restricted.map((x) => x.path);

  describe('cgroup v2', () => {
    it('lists each cgroup that set its own CPUs and lacks online ones, named, parents first', () => {
      const r = root();
      const t = new CgroupTree(r, 2, '0-1');
      t.add('/system.slice/nginx.service', '0-1'); // AllowedCPUs=0-1, set while the guest had 2 CPUs
      t.add('/system.slice/cron.service'); // nothing written: all CPUs
      t.add(`/system.slice/docker-${ID}.scope`, '0'); // docker run --cpuset-cpus 0
      t.add(`${POD}/cri-containerd-${ID}.scope`, '1'); // the static CPU manager's pin
      t.add('/pinned.slice', '0-1');
      t.add('/pinned.slice/app.service', '0-7'); // wide, but its parent is not
      // Two CPUs hot-added and onlined: v2 widens what allows them, nothing else.
      t.setOnline('0-3');
      const c = read(r, '0-3');
      assert.equal(c.state, 'whole');
      assert.equal(c.version, 2);
      assert.deepEqual(c.restricted, [
        { path: `${POD}/cri-containerd-${ID}.scope`, kind: 'KUBEPODS', name: ID, pod: UID, cpus: '1', lacks: '0,2-3' },
        { path: '/pinned.slice', kind: 'SYSTEMD_SLICE', name: 'pinned.slice', pod: '', cpus: '0-1', lacks: '2-3' },
        { path: '/pinned.slice/app.service', kind: 'SYSTEMD_UNIT', name: 'app.service', pod: '', cpus: '0-1', lacks: '2-3' },
        { path: `/system.slice/docker-${ID}.scope`, kind: 'DOCKER', name: ID, pod: '', cpus: '0', lacks: '1-3' },
        { path: '/system.slice/nginx.service', kind: 'SYSTEMD_UNIT', name: 'nginx.service', pod: '', cpus: '0-1', lacks: '2-3' },
      ]);
      // The fix: systemctl set-property nginx.service AllowedCPUs=0-3.
      t.setCpus('/system.slice/nginx.service', '0-3');
      assert.ok(!paths(read(r, '0-3')).includes('/system.slice/nginx.service'));
    });

    it('nothing restricted when no cgroup wrote its CPUs, and subtrees without the controller are not entered', () => {
      const r = root();
      const t = new CgroupTree(r, 2, '0-3');
      t.add('/system.slice/a.service').add('/user.slice', undefined, { subtree: false }).add('/user.slice/user-1000.slice');
      // Files no kernel writes in a subtree without the controller: the walk does not go there to see them.
      mkdirSync(join(t.dir, 'user.slice/user-1000.slice'), { recursive: true });
      writeFileSync(join(t.dir, 'user.slice/user-1000.slice/cpuset.cpus'), '0\n');
      writeFileSync(join(t.dir, 'user.slice/user-1000.slice/cpuset.cpus.effective'), '0\n');
      const c = read(r, '0-3');
      assert.deepEqual(c, { state: 'whole', version: 2, restricted: [], visited: 4 });
    });

    it('cgroup2 without the cpuset controller (it is bound to v1, or not enabled) is no cpuset hierarchy', () => {
      const r = root();
      new CgroupTree(r, 2, '0-3', { controllers: ['cpu', 'memory', 'pids'] });
      assert.equal(read(r, '0-3').state, 'no-cpuset');
    });

    it('the mount table from /proc/mounts where there is no mountinfo', () => {
      const r = root();
      new CgroupTree(r, 2, '0-1', { table: 'mounts' }).add('/x.service', '0');
      assert.deepEqual(paths(read(r, '0-1')), ['/x.service']);
    });
  });

  describe("cgroup v1 (systemd's hybrid layout)", () => {
    it('a cpuset below the root never gains a hot-added CPU and keeps losing offlined ones', () => {
      const r = root();
      const t = new CgroupTree(r, 1, '0-1');
      t.add('/docker'); // the engine's parent: a copy of the root's CPUs at the time
      t.add(`/docker/${ID}`);
      t.add('/machine/qemu-1-web1.libvirt-qemu/vcpu0', '1');
      t.add('/empty', ''); // created, never given CPUs: holds no task
      assert.deepEqual(
        read(r, '0-1').restricted.map((x) => [x.path, x.lacks]),
        [['/machine/qemu-1-web1.libvirt-qemu/vcpu0', '0']],
      );
      t.setOnline('0-3');
      const c = read(r, '0-3');
      assert.equal(c.version, 1);
      assert.deepEqual(
        c.restricted.map((x) => [x.path, x.kind, x.cpus, x.lacks]),
        [
          ['/docker', 'OTHER', '0-1', '2-3'],
          [`/docker/${ID}`, 'DOCKER', '0-1', '2-3'],
          ['/machine', 'OTHER', '0-1', '2-3'],
          ['/machine/qemu-1-web1.libvirt-qemu', 'OTHER', '0-1', '2-3'],
          ['/machine/qemu-1-web1.libvirt-qemu/vcpu0', 'OTHER', '1', '0,2-3'],
        ],
      );
      // CPU 1 offlined and back: gone from every cpuset below the root, for good.
      t.setOnline('0,2-3');
      t.setOnline('0-3');
      assert.deepEqual(
        read(r, '0-3')
          .restricted.map((x) => [x.path, x.cpus])
          .slice(0, 2),
        [
          ['/docker', '0'],
          [`/docker/${ID}`, '0'],
        ],
      );
    });
  });

  describe('no cgroups', () => {
    it('no mount table at all, or none of cgroup: no cpuset, nothing restricted', () => {
      assert.deepEqual(read(root(), '0-3'), { state: 'no-cpuset', version: 0, restricted: [], visited: 0 });
      const r = root();
      mkdirSync(join(r, 'proc/self'), { recursive: true });
      writeFileSync(join(r, 'proc/self/mountinfo'), '1 0 254:1 / / rw - ext4 /dev/vda1 rw\n');
      assert.equal(read(r, '0-3').state, 'no-cpuset');
    });

    it('a hierarchy mounted after the first read is found at the next read, the CPUs unchanged', () => {
      const r = root();
      mkdirSync(join(r, 'proc/self'), { recursive: true });
      writeFileSync(join(r, 'proc/self/mountinfo'), '1 0 254:1 / / rw - ext4 /dev/vda1 rw\n');
      let now = 1000;
      const reader = new CgroupReader(r, WALK_LIMITS, () => now);
      assert.equal(reader.read([0, 1]).state, 'no-cpuset');
      const t = new CgroupTree(r, 2, '0-1').add('/pinned', '0-1').add('/system.slice/nginx.service', '0-1');
      now += 500;
      assert.equal(reader.read([0, 1]).state, 'no-cpuset', 'younger than the max age: kept');
      now += 2000;
      const found = reader.read([0, 1]);
      assert.deepEqual([found.state, found.version, found.restricted], ['whole', 2, []]);
      t.setOnline('0-2');
      assert.deepEqual(paths(reader.read([0, 1, 2])), ['/pinned', '/system.slice/nginx.service'], 'then a hot-add they do not follow');
    });

    it('a hierarchy mounted but not readable says so', () => {
      const r = root();
      const t = new CgroupTree(r, 1, '0-3');
      rmSync(t.dir, { recursive: true });
      mkdirSync(t.dir, { recursive: true });
      assert.equal(read(r, '0-3').state, 'unreadable');
    });
  });

  describe('bounds', () => {
    it(`more than ${MAX_CGROUPS_VISITED} cgroups: the walk stops there, says "over-limit", and keeps what it found`, () => {
      const r = root();
      const t = new CgroupTree(r, 2, '0-3');
      const names = Array.from({ length: MAX_CGROUPS_VISITED + 10 }, (_, i) => `c${String(i).padStart(5, '0')}.scope`);
      t.addMany('/many.slice', names, '0-1');
      const started = process.hrtime.bigint();
      const c = read(r, '0-3');
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      assert.equal(c.state, 'over-limit');
      assert.ok(c.visited <= MAX_CGROUPS_VISITED, `${c.visited} visited`);
      // The bound on entries (MAX_GUEST_CGROUPS) is the first to stop this one.
      assert.equal(c.restricted.length, WALK_LIMITS.maxRestricted);
      // Which ones: those the directory listing gave before the bound (its order is the file system's).
      assert.ok(c.restricted.every((x) => /^\/many\.slice\/c\d{5}\.scope$/.test(x.path) && x.lacks === '2-3'));
      assert.ok(ms < 5000, `${ms} ms`);
    });

    it('more cgroups than the visit bound, none restricted: stops on visits', () => {
      const r = root();
      const t = new CgroupTree(r, 2, '0-3');
      t.addMany(
        '/many.slice',
        Array.from({ length: 300 }, (_, i) => `c${i}.scope`),
      );
      const c = walkCpuset(discoverCpusetHierarchy(r), [0, 1, 2, 3], { ...WALK_LIMITS, maxVisited: 100 });
      assert.equal(c.state, 'over-limit');
      assert.equal(c.visited, 100);
      assert.match(c.why ?? '', /more than 100 cgroups/);
    });

    it(`nesting deeper than ${MAX_CGROUP_DEPTH}: not followed, and said`, () => {
      const r = root();
      const t = new CgroupTree(r, 2, '0-3');
      const deep = `/${Array.from({ length: MAX_CGROUP_DEPTH + 3 }, (_, i) => `d${i}`).join('/')}`;
      t.add(deep, '0');
      const c = read(r, '0-3');
      assert.equal(c.state, 'over-limit');
      assert.match(c.why ?? '', /nested more than 32 deep/);
      assert.equal(c.restricted.length, 0, 'the pinned cgroup is below the bound');
    });

    it('a cpuset file no kernel writes (malformed) is passed over, not a failed snapshot', () => {
      const r = root();
      const t = new CgroupTree(r, 2, '0-3');
      t.add('/bad.service', '0').add('/good.service', '1');
      writeFileSync(join(t.dir, 'bad.service/cpuset.cpus.effective'), '0-\x1b[2J\n');
      assert.deepEqual(paths(read(r, '0-3')), ['/good.service']);
    });
  });

  describe('the reader keeps a reading', () => {
    it('the same object while the CPUs and cgroups are the same; a new one when either moves', () => {
      const r = root();
      const t = new CgroupTree(r, 2, '0-1');
      t.add('/a.service', '0-1');
      let now = 1000;
      const reader = new CgroupReader(r, WALK_LIMITS, () => now);
      const first = reader.read([0, 1]);
      assert.equal(first.restricted.length, 0);
      t.setOnline('0-2');
      const second = reader.read([0, 1, 2]);
      assert.deepEqual(paths(second), ['/a.service'], 'online CPUs changed: read again');
      t.setCpus('/a.service', '0-2');
      now += 500;
      assert.equal(reader.read([0, 1, 2]), second, 'younger than the max age: kept');
      now += 2000;
      const third = reader.read([0, 1, 2]);
      assert.deepEqual(third.restricted, [], 'older: read again, and the fix is seen');
      now += 5000;
      assert.equal(reader.read([0, 1, 2]), third, 'read again, nothing moved: the very same reading');
    });
  });

  it("this machine's own cgroups read without throwing", () => {
    const online = parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8'));
    const c = new CgroupReader('/').read(online);
    assert.ok(['no-cpuset', 'whole', 'over-limit', 'unreadable'].includes(c.state), c.state);
    if (c.state === 'whole') assert.ok(c.version === 1 || c.version === 2);
  });
});

function discoverCpusetHierarchy(r: string) {
  const d = discoverCpuset(r);
  assert.equal(d.state, 'found');
  return (d as { hierarchy: Parameters<typeof walkCpuset>[0] }).hierarchy;
}
