/**
 * `set` when libvirtd goes away after its change (issue 20): the real CLI on
 * the real libvirtd, a QEMU domain without an OS, and a fake agent on
 * loopback that confirms the hot-add while libvirtd is stopped. The outcome
 * is the true one: the after view read once libvirtd is back, the intent
 * recorded, no false mismatch, no lock left behind.
 */
import { strict as assert } from 'node:assert';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INTENT_NAMESPACE, lockHolder } from '@vcpuctl/host';
import { FakeGuest, honestSnapshot } from '../helpers/fake-guest';
import { URI, bareDomainXml, defineAndStart, removeDomain, removeLeftovers, setupHost, uniqueName, vcpuctlAsync, virsh } from '../helpers/libvirt';

const PREFIX = 'vcpuctl-lvrestart';

function stopLibvirtd(): void {
  spawnSync('pkill', ['-TERM', '-x', 'libvirtd']);
  for (let i = 0; i < 100 && spawnSync('pgrep', ['-x', 'libvirtd']).status === 0; i++) spawnSync('sleep', ['0.1']);
}

function startLibvirtd(): void {
  if (spawnSync('pgrep', ['-x', 'libvirtd']).status !== 0) execFileSync('/usr/sbin/libvirtd', ['-d']);
  for (let i = 0; i < 100; i++) {
    if (spawnSync('virsh', ['-c', URI, 'version'], { stdio: 'ignore' }).status === 0) return;
    spawnSync('sleep', ['0.1']);
  }
  throw new Error('libvirtd did not come back within 10 s');
}

/** The live vCPU count, asked without blocking this process (the fake agent runs in it). */
function liveCount(name: string): Promise<number> {
  return new Promise((resolve) => {
    execFile('virsh', ['-c', URI, 'vcpucount', name, '--live', '--current'], { encoding: 'utf8' }, (err, out) => resolve(err ? -1 : Number(out.trim())));
  });
}

describe('set while libvirtd goes away after the change (real libvirtd, fake agent)', function () {
  this.timeout(120_000);
  let dir: string;
  const domains: string[] = [];
  const guests: FakeGuest[] = [];

  before(function () {
    this.timeout(5 * 60_000);
    setupHost();
    removeLeftovers(PREFIX);
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-lvrestart-'));
  });

  after(async () => {
    startLibvirtd();
    await Promise.all(guests.map((g) => g.close()));
    for (const d of domains) removeDomain(d);
    rmSync(dir, { recursive: true, force: true });
  });

  it('libvirtd stopped before the set: a clean LIBVIRT_UNREACHABLE within seconds, one line, nothing changed, no lock held', async () => {
    const name = uniqueName(PREFIX);
    domains.push(name);
    defineAndStart(name, bareDomainXml(name, 1, 2));
    const uuid = virsh('domuuid', name).trim();
    const locks = join(dir, 'locks-before');
    stopLibvirtd();
    let r;
    const t0 = Date.now();
    try {
      r = await vcpuctlAsync(['-c', URI, '--report-dir', join(dir, 'reports-before'), 'set', name, '2'], { VCPUCTL_LOCK_DIR: locks });
    } finally {
      startLibvirtd();
    }
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /^vcpuctl: LIBVIRT_UNREACHABLE: .*\n$/);
    assert.ok(Date.now() - t0 < 10_000, `${Date.now() - t0} ms`);
    assert.equal(virsh('vcpucount', name, '--live', '--current').trim(), '1');
    assert.equal(lockHolder(locks, uuid), undefined);
  });

  it('libvirtd stopped once the hot-add is live and started 2 s later: the true result, the intent recorded, no lock left', async () => {
    const name = uniqueName(PREFIX);
    domains.push(name);
    defineAndStart(name, bareDomainXml(name, 1, 3));
    const uuid = virsh('domuuid', name).trim();
    let present = 1;
    let stoppedAt = 0;
    const g = await FakeGuest.start(uuid, {
      snapshot: () => honestSnapshot(present),
      subscribed(s) {
        let on = true;
        void (async () => {
          // Wait until libvirt has made the change, then take libvirtd away before confirming it.
          while (on && (await liveCount(name)) !== 3) await new Promise((r) => setTimeout(r, 50));
          if (!on) return;
          await new Promise((r) => setTimeout(r, 300)); // libvirt's reply to setvcpus is on its way
          stopLibvirtd();
          stoppedAt = Date.now();
          present = 3;
          s.send({
            id: 0,
            cpuEvent: {
              changes: [
                { cpu: 1, kind: 1 },
                { cpu: 2, kind: 1 },
                { cpu: 1, kind: 3, byAgent: true },
                { cpu: 2, kind: 3, byAgent: true },
              ],
              detectedAtMs: Date.now(),
              snapshot: honestSnapshot(3),
            },
          });
          setTimeout(() => startLibvirtd(), 2000);
        })();
        return () => (on = false);
      },
    });
    guests.push(g);
    const agents = join(dir, 'agents.json');
    writeFileSync(agents, JSON.stringify({ domains: { [name]: { url: g.url } } }));
    const locks = join(dir, 'locks');
    const r = await vcpuctlAsync(['-c', URI, '--report-dir', join(dir, 'reports'), '--agents-file', agents, '--json', 'set', name, '3'], { VCPUCTL_LOCK_DIR: locks });
    assert.ok(stoppedAt > 0, 'libvirtd was stopped during the set');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const doc = JSON.parse(r.stdout) as { report: { after: { host: { domain: { live: { current: number } }; qemu: { plugged: number } } }; verdict: { findings: { kind: string }[] }; intent?: { error?: string } } };
    assert.equal(doc.report.after.host.domain.live.current, 3);
    assert.equal(doc.report.after.host.qemu.plugged, 3);
    assert.deepEqual(
      doc.report.verdict.findings.map((f) => f.kind).filter((k) => k !== 'LIVE_CONFIG_DIFFER'),
      [],
    );
    assert.equal(doc.report.intent?.error, undefined, 'the intent was recorded once libvirt answered');
    assert.match(virsh('metadata', name, '--live', INTENT_NAMESPACE), /online="3"/);
    assert.equal(lockHolder(locks, uuid), undefined, 'no lock left held');
    const md = readFileSync(
      join(
        dir,
        'reports',
        readdirSync(join(dir, 'reports')).find((f) => f.endsWith('.md'))!,
      ),
      'utf8',
    );
    assert.match(md, /libvirt answered again after \d+\.\d s/);
  });
});
