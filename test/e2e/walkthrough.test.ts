/**
 * The operator's procedure on a real Linux guest (libvirt 9.0, QEMU 7.2 TCG,
 * Debian kernel), each step asserted from libvirt (vcpucount), QEMU
 * (query-hotpluggable-cpus) and the guest (the agent's snapshot, and lscpu
 * run inside the guest). This is also what `npm run demo` shows.
 * Fault cases run on a second guest booted alongside (faults.test.ts).
 */
import { strict as assert } from 'node:assert';
import { qemuPlugged, vcpuCount, virsh } from '../helpers/libvirt';
import { Cli, assertLscpuAgrees, guestSnapshot, kinds, reportOf, useGuest } from './e2e-helpers';
import { intentAndWatchSteps } from './intent-watch-steps';

describe('e2e: the walkthrough on a real guest (current 1, maximum 2)', function () {
  this.timeout(180_000);
  const suite = useGuest('a');
  const cli: Cli = (args) => suite.cli(args);
  let name: string;
  before(() => (name = suite.name));

  it('status: 1 vCPU, both sides agree, the guest lscpu view equals lscpu inside it', async () => {
    const g = suite.guest;
    const r = await cli(['--json', 'status', name]);
    assert.equal(r.code, 0, r.stderr);
    const [s] = JSON.parse(r.stdout);
    assert.deepEqual(s.verdict, { ok: true, findings: [] });
    assert.equal(s.guest.productUuid, g.uuid, 'the agent is in this domain');
    assert.equal(s.guest.snapshot.online, '0');
    assert.equal(s.host.qemu.plugged, 1);
    await assertLscpuAgrees(g);
  });

  it('hot-add to 2 and persist: the guest onlines it, the kernel says so, all agree', async () => {
    const g = suite.guest;
    const r = await cli(['--json', 'set', name, '2', '--config']);
    assert.equal(r.code, 0, r.stderr);
    const report = reportOf(r);
    const lines = (report.kernelLines as { message: string }[]).map((k) => k.message);
    console.log(`      guest kernel evidence: ${lines.join(' | ')}`);
    assert.ok(
      lines.some((l) => /CPU1 has been hot-added/.test(l)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => /smpboot: Booting Node 0 Processor 1/.test(l)),
      lines.join('\n'),
    );
    assert.deepEqual(kinds(report), []);
    assert.deepEqual(vcpuCount(name), { 'maximum config': 2, 'maximum live': 2, 'current config': 2, 'current live': 2 });
    assert.equal(qemuPlugged(name), 2);
    const snap = await guestSnapshot(g);
    assert.deepEqual([snap.present, snap.online], ['0-1', '0-1']);
    await assertLscpuAgrees(g);
  });

  it('asking for 3 is refused before anything is touched, naming the maximum and the fix', async () => {
    const r = await cli(['set', name, '3']);
    assert.equal(r.code, 8);
    assert.match(r.stderr, /3 vCPUs exceeds the maximum of 2 .*vcpuctl set-max .* 3 --restart/);
    assert.equal(vcpuCount(name)['current live'], 2);
  });

  it('back to 1 by a guest-side offline: the host still counts 2, reported as the expected pending-restart mismatch', async () => {
    const g = suite.guest;
    const r = await cli(['--json', 'set', name, '1', '--config']);
    assert.equal(r.code, 0, r.stderr);
    const report = reportOf(r);
    assert.deepEqual(kinds(report), ['GUEST_OFFLINE_HOST_COUNTS']);
    const lines = (report.kernelLines as { message: string }[]).map((k) => k.message);
    console.log(`      guest kernel evidence: ${lines.join(' | ')}`);
    assert.ok(
      lines.some((l) => /smpboot: CPU 1 is now offline/.test(l)),
      lines.join('\n'),
    );
    assert.equal(report.verdict.findings[0].severity, 'expected');
    assert.deepEqual(vcpuCount(name), { 'maximum config': 2, 'maximum live': 2, 'current config': 1, 'current live': 2 });
    assert.equal(qemuPlugged(name), 2);
    const snap = await guestSnapshot(g);
    assert.deepEqual([snap.present, snap.online, snap.offline.includes('1')], ['0-1', '0', true]);
    await assertLscpuAgrees(g);
    const v = await cli(['verify', name]);
    assert.equal(v.code, 0, `an expected mismatch is not a failure: ${v.stderr}`);
    assert.match(v.stdout, /GUEST_OFFLINE_HOST_COUNTS \(expected\)/);
  });

  it('set-max 4: graceful shutdown, new maximum, start, the agent answers again', async function () {
    this.timeout(300_000);
    const r = await cli(['--json', 'set-max', name, '4', '--restart', '--shutdown-timeout', '60', '--agent-wait', '180']);
    assert.equal(r.code, 0, r.stderr);
    const report = reportOf(r);
    assert.deepEqual(report.libvirtOperations.slice(0, 3), [`virsh shutdown ${name}`, `virsh setvcpus ${name} 4 --maximum --config`, `virsh start ${name}`], 'no destroy was needed');
    // Then the intent: the count it booted with, live and persistent.
    assert.match(report.libvirtOperations[3], new RegExp(`^virsh metadata ${name} --uri \\S+ --key vcpuctl --set '<intent online="1" cpus="0" operation="set-max" strategy="restart" .*/>' --live --config$`));
    assert.equal(report.libvirtOperations.length, 4);
    assert.equal(virsh('domstate', name).trim(), 'running');
    assert.deepEqual(vcpuCount(name), { 'maximum config': 4, 'maximum live': 4, 'current config': 1, 'current live': 1 });
    assert.deepEqual(kinds(report), []);
  });

  it('hot-add to 4: three vCPUs arrive, are onlined, and every side agrees', async () => {
    const g = suite.guest;
    const r = await cli(['--json', 'set', name, '4', '--config']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(kinds(reportOf(r)), []);
    assert.deepEqual(vcpuCount(name), { 'maximum config': 4, 'maximum live': 4, 'current config': 4, 'current live': 4 });
    assert.equal(qemuPlugged(name), 4);
    const snap = await guestSnapshot(g);
    assert.deepEqual([snap.present, snap.online], ['0-3', '0-3']);
    await assertLscpuAgrees(g);
    assert.equal((await cli(['verify', name])).code, 0);
  });

  // Recorded intent, drift, watch and the exporter, continuing on this guest.
  intentAndWatchSteps(suite);
});
