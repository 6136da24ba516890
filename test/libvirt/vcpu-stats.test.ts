/**
 * Per-vCPU run time read from the real libvirtd (HypervisorDriver.vcpuTimes),
 * over the RPC and through virsh, on bare QEMU domains (no OS: SeaBIOS finds
 * nothing to boot): both readers agree, vCPUs that never run show 0 as on
 * the rig guest (bench/vcpu-time-bench.js), and core/vcpu-claims.ts judges
 * real reads as it judges the unit tests' hand-made ones.
 */
import { strict as assert } from 'node:assert';
import { checkVcpuClaims, OFFLINE_RAN_MAX_MS, VcpuTimes, LibvirtDriver } from '@vcpuctl/host';
import { bareDomainXml, defineAndStart, removeDomain, removeLeftovers, setupHost, URI, virsh } from '../helpers/libvirt';

const PREFIX = 'vcpuctl-vstat';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ids = (t: VcpuTimes) => [...t.vcpus.keys()];
const ranMs = (a: VcpuTimes, b: VcpuTimes, id: number) => Number(b.vcpus.get(id)!.timeNs - a.vcpus.get(id)!.timeNs) / 1e6;

describe('per-vCPU run time from a real libvirtd', function () {
  this.timeout(120_000);
  const tag = `${PREFIX}-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const names = { running: `${tag}-run`, paused: `${tag}-paused`, off: `${tag}-off` };
  const native = new LibvirtDriver(URI);
  const viaVirsh = new LibvirtDriver(URI, 'virsh', { rpc: false });

  before(function () {
    this.timeout(10 * 60_000);
    setupHost();
    removeLeftovers(PREFIX);
    defineAndStart(names.running, bareDomainXml(names.running, 2, 3));
    defineAndStart(names.paused, bareDomainXml(names.paused, 1, 1));
    virsh('suspend', names.paused);
    defineAndStart(names.off, bareDomainXml(names.off, 1, 2));
    virsh('destroy', names.off);
  });

  after(async () => {
    for (const n of Object.values(names)) removeDomain(n);
    await native.close();
  });

  it('reads the plugged vCPUs over the RPC without a process, as virsh reads them', async () => {
    const spawns = native.spawns;
    const a = await native.vcpuTimes(names.running);
    const b = await viaVirsh.vcpuTimes(names.running);
    assert.equal(native.spawns, spawns, 'the RPC reader spawned virsh');
    assert.deepEqual([a.current, a.maximum, ids(a)], [2, 3, [0, 1]]);
    assert.deepEqual([b.current, b.maximum, ids(b)], [2, 3, [0, 1]]);
    for (const id of ids(a)) {
      assert.equal(a.vcpus.get(id)!.state, 1, 'libvirt says running for every plugged QEMU vCPU');
      assert.equal(a.vcpus.get(id)!.timeNs % 10_000_000n, 0n, 'whole 10 ms clock ticks (/proc utime + stime)');
      assert.ok(b.vcpus.get(id)!.timeNs >= a.vcpus.get(id)!.timeNs, 'read later, never less');
    }
    assert.ok(b.atNs > a.atNs);
    const uuid = virsh('domuuid', names.running).trim();
    assert.deepEqual(ids(await native.vcpuTimes(uuid)), [0, 1], 'by UUID too');
  });

  it('a vCPU that never runs shows 0: the AP SeaBIOS left halted and a hot-added one; the claims check agrees', async () => {
    virsh('setvcpus', names.running, '3', '--live');
    const before = await native.vcpuTimes(names.running);
    await sleep(1500);
    const after = await native.vcpuTimes(names.running);
    assert.deepEqual(ids(after), [0, 1, 2]);
    assert.equal(after.vcpus.get(2)!.timeNs, 0n, 'hot-added, nothing to online it: its thread never ran');
    assert.ok(ranMs(before, after, 1) <= OFFLINE_RAN_MAX_MS, `the halted AP ran ${ranMs(before, after, 1)} ms`);
    // As if a guest said: CPU 0 online, 1 and 2 offline (true here), then: all online (a lie for 2).
    const honest = checkVcpuClaims(before, after, { online: [0], offline: [1, 2] });
    assert.ok(honest.checked, !honest.checked ? honest.reason : '');
    assert.deepEqual(honest.checked && honest.findings, []);
    const lie = checkVcpuClaims(before, after, { online: [0, 1, 2], offline: [] }, { hotAdded: [2] });
    assert.deepEqual(lie.checked && lie.findings.map((f) => [f.kind, f.cpu]), [['HOTADDED_NEVER_RAN', 2]]);
  });

  it('a paused domain has its vCPU threads, and they do not run', async () => {
    const a = await native.vcpuTimes(names.paused);
    await sleep(1000);
    const b = await viaVirsh.vcpuTimes(names.paused);
    assert.deepEqual(ids(b), [0]);
    assert.equal(ranMs(a, b, 0), 0);
  });

  it('a shut-off domain is DOMAIN_NOT_RUNNING and an unknown one DOMAIN_NOT_FOUND, both ways', async () => {
    for (const d of [native, viaVirsh]) {
      await assert.rejects(d.vcpuTimes(names.off), (e: Error & { code?: string }) => e.code === 'DOMAIN_NOT_RUNNING');
      await assert.rejects(d.vcpuTimes(`${tag}-nonexistent`), (e: Error & { code?: string }) => e.code === 'DOMAIN_NOT_FOUND');
    }
  });
});
