/** The agent's cgroup reading, its pure parts: naming a cgroup, what it lacks, the mount table's lines. */
import { strict as assert } from 'node:assert';
import { parseCpuRanges } from '@vcpuctl/proto';
import { nameCgroup } from '@vcpuctl/guest-agent/dist/cgroup/names';
import { lackingCpus } from '@vcpuctl/guest-agent/dist/cgroup/lacks';
import { chooseHierarchy, parseMountinfoLine, parseMountsLine } from '@vcpuctl/guest-agent/dist/cgroup/mounts';

const ID = '3f4e8a1b2c9d0e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f';
const UID = '0a1b2c3d-4e5f-6789-abcd-ef0123456789';

describe('cgroup names', () => {
  it('systemd units and slices by their unit name', () => {
    assert.deepEqual(nameCgroup('/system.slice/nginx.service'), { kind: 'SYSTEMD_UNIT', name: 'nginx.service', pod: '' });
    assert.deepEqual(nameCgroup('/system.slice'), { kind: 'SYSTEMD_SLICE', name: 'system.slice', pod: '' });
    assert.deepEqual(nameCgroup('/user.slice/user-1000.slice/session-3.scope'), { kind: 'SYSTEMD_UNIT', name: 'session-3.scope', pod: '' });
    assert.deepEqual(nameCgroup('/system.slice/getty@tty1.service'), { kind: 'SYSTEMD_UNIT', name: 'getty@tty1.service', pod: '' });
    // libvirt's machine scopes keep systemd's escaping: the name is what systemctl takes.
    assert.deepEqual(nameCgroup('/machine.slice/machine-qemu\\x2d1\\x2dweb1.scope'), { kind: 'SYSTEMD_UNIT', name: 'machine-qemu\\x2d1\\x2dweb1.scope', pod: '' });
  });

  it('docker, podman, containerd and CRI-O containers by their id, with either cgroup driver', () => {
    assert.deepEqual(nameCgroup(`/system.slice/docker-${ID}.scope`), { kind: 'DOCKER', name: ID, pod: '' });
    assert.deepEqual(nameCgroup(`/docker/${ID}`), { kind: 'DOCKER', name: ID, pod: '' });
    assert.deepEqual(nameCgroup(`/machine.slice/libpod-${ID}.scope`), { kind: 'PODMAN', name: ID, pod: '' });
    assert.deepEqual(nameCgroup(`/libpod_parent/libpod-${ID}`), { kind: 'PODMAN', name: ID, pod: '' });
    assert.deepEqual(nameCgroup(`/system.slice/cri-containerd-${ID}.scope`), { kind: 'CONTAINERD', name: ID, pod: '' });
    assert.deepEqual(nameCgroup(`/system.slice/crio-${ID}.scope`), { kind: 'CRIO', name: ID, pod: '' });
    // An id that is not 64 hex digits is no engine's: the scope is a plain unit, the directory a plain path.
    assert.deepEqual(nameCgroup('/system.slice/docker-abc.scope'), { kind: 'SYSTEMD_UNIT', name: 'docker-abc.scope', pod: '' });
    assert.deepEqual(nameCgroup('/docker/abc'), { kind: 'OTHER', name: '', pod: '' });
    // The engine's parent cgroup (v1 /docker) is named by its path.
    assert.deepEqual(nameCgroup('/docker'), { kind: 'OTHER', name: '', pod: '' });
  });

  it('Kubernetes pods and their containers, systemd and cgroupfs drivers', () => {
    const slice = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replace(/-/g, '_')}.slice`;
    assert.deepEqual(nameCgroup(slice), { kind: 'KUBEPODS', name: '', pod: UID });
    assert.deepEqual(nameCgroup(`${slice}/cri-containerd-${ID}.scope`), { kind: 'KUBEPODS', name: ID, pod: UID });
    assert.deepEqual(nameCgroup(`/kubepods.slice/kubepods-pod${UID.replace(/-/g, '_')}.slice/crio-${ID}.scope`), { kind: 'KUBEPODS', name: ID, pod: UID });
    assert.deepEqual(nameCgroup(`/kubepods/burstable/pod${UID}/${ID}`), { kind: 'KUBEPODS', name: ID, pod: UID });
    assert.deepEqual(nameCgroup(`/kubepods/pod${UID}`), { kind: 'KUBEPODS', name: '', pod: UID });
    // The QoS levels above the pods: the kubelet's, named by path.
    assert.deepEqual(nameCgroup('/kubepods.slice/kubepods-besteffort.slice'), { kind: 'KUBEPODS', name: '', pod: '' });
    assert.deepEqual(nameCgroup('/kubepods'), { kind: 'KUBEPODS', name: '', pod: '' });
  });

  it('anything else by its path; the root too', () => {
    assert.deepEqual(nameCgroup('/'), { kind: 'OTHER', name: '', pod: '' });
    assert.deepEqual(nameCgroup('/machine/qemu-1-web1.libvirt-qemu/vcpu0'), { kind: 'OTHER', name: '', pod: '' });
    assert.deepEqual(nameCgroup('/system.slice/foo.service/payload'), { kind: 'OTHER', name: '', pod: '' });
    // Not systemd's grammar (a space), or longer than a unit name may be.
    assert.deepEqual(nameCgroup('/my app.service'), { kind: 'OTHER', name: '', pod: '' });
    assert.deepEqual(nameCgroup(`/${'a'.repeat(250)}.service`), { kind: 'OTHER', name: '', pod: '' });
  });
});

describe('what a cgroup lacks', () => {
  const lacks = (online: number[], cpus: string) => lackingCpus(online, parseCpuRanges(cpus));

  it('the online CPUs outside its set, none when it has them all', () => {
    assert.deepEqual(lacks([0, 1, 2, 3], '0-1'), [2, 3]);
    assert.deepEqual(lacks([0, 1, 2, 3], '0-3'), []);
    assert.deepEqual(lacks([0, 1, 2, 3], '0-7'), [], 'CPUs it may use that are not online are no lack');
    assert.deepEqual(lacks([0, 2, 5, 6, 9], '1-2,6'), [0, 5, 9]);
    assert.deepEqual(lacks([0, 1], ''), [0, 1]);
    assert.deepEqual(lacks([], '0-3'), []);
  });

  it("costs the lists' lengths: all 8192 CPUs against a set of every other one", () => {
    const online = Array.from({ length: 8192 }, (_, i) => i);
    const evens = Array.from({ length: 4096 }, (_, i) => `${2 * i}`).join(',');
    const out = lacks(online, evens);
    assert.equal(out.length, 4096);
    assert.equal(out[0], 1);
    assert.equal(out[4095], 8191);
  });
});

describe('the mount table', () => {
  it('reads mountinfo lines, optional fields and escaped paths included', () => {
    assert.deepEqual(parseMountinfoLine('30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 master:1 - cgroup2 cgroup2 rw,nsdelegate'), { mountPoint: '/sys/fs/cgroup', fsType: 'cgroup2', options: ['rw', 'nsdelegate'] });
    assert.deepEqual(parseMountinfoLine('34 30 0:30 / /sys/fs/cgroup/cpu\\040set rw - cgroup cgroup rw,cpuset'), { mountPoint: '/sys/fs/cgroup/cpu set', fsType: 'cgroup', options: ['rw', 'cpuset'] });
    assert.equal(parseMountinfoLine('garbage'), undefined);
    assert.equal(parseMountinfoLine('1 2 3 4 5 6 -'), undefined);
  });

  it('reads /proc/mounts lines', () => {
    assert.deepEqual(parseMountsLine('cgroup /sys/fs/cgroup/cpuset cgroup rw,nosuid,cpuset 0 0'), { mountPoint: '/sys/fs/cgroup/cpuset', fsType: 'cgroup', options: ['rw', 'nosuid', 'cpuset'] });
  });

  it('a v1 cpuset mount wins: bound there, the controller is not in cgroup2', () => {
    const mounts = [
      { mountPoint: '/sys/fs/cgroup/unified', fsType: 'cgroup2', options: ['rw'] },
      { mountPoint: '/sys/fs/cgroup/memory', fsType: 'cgroup', options: ['rw', 'memory'] },
      { mountPoint: '/sys/fs/cgroup/cpuset', fsType: 'cgroup', options: ['rw', 'cpuset'] },
    ];
    assert.deepEqual(chooseHierarchy('/guest', mounts), { version: 1, mountPoint: '/sys/fs/cgroup/cpuset', dir: '/guest/sys/fs/cgroup/cpuset' });
    // A v1 mount of other controllers only (here "cpu,cpuacct": "cpu" is not "cpuset") is not the cpuset hierarchy.
    assert.equal(chooseHierarchy('/nonexistent', [{ mountPoint: '/sys/fs/cgroup/cpu,cpuacct', fsType: 'cgroup', options: ['rw', 'cpu', 'cpuacct'] }]), undefined);
  });
});
