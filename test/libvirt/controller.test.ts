/**
 * vcpuctl against a real libvirtd and real QEMU domains (TCG, no guest OS):
 * every command through the real CLI, with its exit code, output and report,
 * and the domain's state read back with virsh and QMP.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockDomain } from '@vcpuctl/host';
import { AgentHarness } from '../helpers/agent-harness';
import { bareDomainXml, defineAndStart, qemuPlugged, removeDomain, removeLeftovers, setupHost, uniqueName, vcpuCount, vcpuctl, vcpuctlAsync, virsh } from '../helpers/libvirt';

const PREFIX = 'vcpuctl-test';

describe('vcpuctl against a real libvirtd (QEMU domains without an OS)', function () {
  this.timeout(120_000);
  const domains: string[] = [];
  let reports: string;
  let locks: string;
  let base: string[];

  before(function () {
    this.timeout(20 * 60_000); // a fresh machine installs QEMU and libvirt first
    setupHost();
    removeLeftovers(PREFIX);
    reports = mkdtempSync(join(tmpdir(), 'vcpuctl-reports-'));
    locks = mkdtempSync(join(tmpdir(), 'vcpuctl-locks-'));
    // An agents file that names no domain: these domains have no agent unless a test gives one.
    const agents = join(reports, 'agents.json');
    writeFileSync(agents, '{"domains":{}}\n');
    base = ['--report-dir', reports, '-c', 'qemu:///system', '--agents-file', agents];
  });

  after(() => {
    for (const d of domains) removeDomain(d);
    rmSync(reports, { recursive: true, force: true });
    rmSync(locks, { recursive: true, force: true });
  });

  function newDomain(current: number, maximum: number): string {
    const name = uniqueName(PREFIX);
    domains.push(name);
    defineAndStart(name, bareDomainXml(name, current, maximum));
    return name;
  }

  const env = () => ({ VCPUCTL_LOCK_DIR: locks });
  const run = (args: string[]) => vcpuctl([...base, ...args], env());

  it('status shows libvirt live and config, QEMU, and names the missing agent', () => {
    const dom = newDomain(1, 2);
    const r = run(['--json', 'status', dom]);
    assert.equal(r.code, 0, r.stderr);
    const [s] = JSON.parse(r.stdout);
    assert.equal(s.host.domain.state, 'running');
    assert.deepEqual([s.host.domain.live.current, s.host.domain.live.maximum], [1, 2]);
    assert.deepEqual([s.host.domain.config.current, s.host.domain.config.maximum], [1, 2]);
    assert.equal(s.host.qemu.plugged, 1);
    assert.equal(s.host.qemu.slots.length, 2);
    assert.equal(s.host.domain.uuid, virsh('domuuid', dom).trim());
    assert.deepEqual(
      s.verdict.findings.map((f: { kind: string }) => f.kind),
      ['AGENT_UNREACHABLE'],
    );
  });

  it('set hot-adds a vCPU for real; without an agent it says the guest did not confirm (exit 6)', () => {
    const dom = newDomain(1, 2);
    const r = run(['set', dom, '2']);
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /^vcpuctl: AGENT_UNREACHABLE: .*report: /);
    assert.deepEqual(vcpuCount(dom), { 'maximum config': 2, 'maximum live': 2, 'current config': 1, 'current live': 2 });
    assert.equal(qemuPlugged(dom), 2);
    const report = JSON.parse(readFileSync(/report: (\S+)\)/.exec(r.stderr)![1]!.replace(/\.md$/, '.json'), 'utf8'));
    assert.deepEqual(report.libvirtOperations, [`virsh setvcpus ${dom} 2 --live`]);
    assert.equal(report.before.host.domain.live.current, 1);
    assert.equal(report.after.host.domain.live.current, 2);
    assert.equal(report.after.host.qemu.plugged, 2);
    assert.deepEqual(report.verdict.findings.map((f: { kind: string }) => f.kind).sort(), ['AGENT_UNREACHABLE', 'LIVE_CONFIG_DIFFER']);
  });

  it('set --config persists the count', () => {
    const dom = newDomain(1, 3);
    run(['set', dom, '2', '--config']);
    assert.deepEqual(vcpuCount(dom), { 'maximum config': 3, 'maximum live': 3, 'current config': 2, 'current live': 2 });
  });

  it('refuses a count over the maximum before touching anything, naming the maximum and the fix (exit 8)', () => {
    const dom = newDomain(1, 2);
    const before = vcpuCount(dom);
    const r = run(['set', dom, '3']);
    assert.equal(r.code, 8);
    assert.match(r.stderr, /3 vCPUs exceeds the maximum of 2 .*vcpuctl set-max .* 3 --restart/);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    assert.deepEqual(vcpuCount(dom), before);
  });

  it('refuses bad counts, unknown domains and an unreachable libvirt with distinct exit codes', () => {
    const dom = newDomain(1, 2);
    for (const bad of ['0', '-1', 'two', '1.5']) {
      const r = run(['set', dom, bad]);
      assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
    }
    assert.equal(run(['status', 'vcpuctl-no-such-domain']).code, 4);
    const unreachable = vcpuctl(['--report-dir', reports, '-c', 'qemu+unix:///system?socket=/nonexistent.sock', 'status', dom], env());
    assert.equal(unreachable.code, 5, unreachable.stderr);
    assert.deepEqual(vcpuCount(dom)['current live'], 1);
  });

  it("a live unplug QEMU refuses (no guest OS enabled ACPI CPU hotplug) is reported in libvirt's words, nothing changed (exit 17)", () => {
    const dom = newDomain(1, 2);
    assert.equal(run(['set', dom, '2']).code, 6);
    const r = run(['set', dom, '1', '--strategy', 'unplug']);
    assert.equal(r.code, 17, r.stderr);
    assert.match(r.stderr, /^vcpuctl: LIBVIRT_FAILED: virsh setvcpus .* 1 --live: .*device_del.*unplug request for not supported device type/);
    assert.equal(vcpuCount(dom)['current live'], 2);
    assert.equal(qemuPlugged(dom), 2);
    const report = JSON.parse(readFileSync(/report: (\S+)\)/.exec(r.stderr)![1]!.replace(/\.md$/, '.json'), 'utf8'));
    assert.equal(report.outcome.code, 'LIBVIRT_FAILED');
    assert.ok(report.timeline.some((t: { what: string }) => /^libvirt failed: /.test(t.what)));
  });

  it('verify writes a report and exits non-zero when the sides disagree; report list/show read it back', () => {
    const dom = newDomain(1, 2);
    const r = run(['--json', 'verify', dom]);
    assert.equal(r.code, 6);
    const out = JSON.parse(r.stdout);
    const id = out.report.id;
    const list = run(['report', 'list']);
    assert.ok(list.stdout.split('\n').includes(id));
    const shown = run(['report', 'show', id]);
    assert.equal(shown.code, 0);
    assert.match(shown.stdout, new RegExp(`# vcpuctl verify on ${dom}`));
    const json = JSON.parse(run(['--json', 'report', 'show', id]).stdout);
    assert.equal(json.id, id);
  });

  it('an agent that answers for another domain is refused on its UUID (exit 16)', async () => {
    const dom = newDomain(1, 2);
    const h = new AgentHarness({ sockets: 1, coresPerSocket: 1, threadsPerCore: 1 });
    await h.start();
    try {
      const r = await vcpuctlAsync([...base, '--agent', h.url, '--token-file', h.tokenFile, 'verify', dom], env());
      assert.equal(r.code, 16, r.stderr);
      assert.match(r.stderr, /IDENTITY_MISMATCH/);
      const offline = await vcpuctlAsync([...base, '--agent', h.url, '--token-file', h.tokenFile, 'offline', dom, '1'], env());
      assert.equal(offline.code, 16);
      // Its dry run makes the same check before saying anything of the guest's CPUs.
      const plan = await vcpuctlAsync([...base, '--agent', h.url, '--token-file', h.tokenFile, 'offline', dom, '1', '--dry-run'], env());
      assert.equal(plan.code, 16, plan.stderr);
      assert.match(plan.stderr, /IDENTITY_MISMATCH: .*nothing would be changed/);
      const set = await vcpuctlAsync([...base, '--agent', h.url, '--token-file', h.tokenFile, 'set', dom, '2'], env());
      assert.equal(set.code, 16, set.stderr);
      assert.match(set.stderr, /nothing was changed/);
      assert.equal(vcpuCount(dom)['current live'], 1, 'no hot-add for a guest we cannot see');
    } finally {
      await h.stop();
    }
  });

  it('a wrong agent token is its own error (exit 7)', async () => {
    const dom = newDomain(1, 2);
    const h = new AgentHarness({ sockets: 1, coresPerSocket: 1, threadsPerCore: 1 });
    await h.start();
    const wrong = join(h.dir, 'wrong-token');
    writeFileSync(wrong, 'not-the-token-0123456789\n');
    try {
      const r = await vcpuctlAsync([...base, '--agent', h.url, '--token-file', wrong, 'status', dom], env());
      assert.equal(r.code, 7, r.stderr);
      assert.match(r.stderr, /AUTH_FAILED/);
    } finally {
      await h.stop();
    }
  });

  it('a second vcpuctl changing the same domain waits, then fails clearly (exit 12)', async () => {
    const dom = newDomain(1, 2);
    // Held under the domain's UUID: the CLI, given the name, must find the same lock.
    const held = await lockDomain(locks, virsh('domuuid', dom).trim(), 0);
    try {
      const t0 = Date.now();
      const r = run(['--lock-wait', '1', 'set', dom, '2']);
      assert.equal(r.code, 12, r.stderr);
      assert.match(r.stderr, new RegExp(`pid ${process.pid}`));
      assert.ok(Date.now() - t0 >= 1000);
      assert.equal(vcpuCount(dom)['current live'], 1, 'nothing changed');
    } finally {
      held.release();
    }
  });

  it('set-max shuts down (destroying only with --force), raises the maximum, starts, and a hot-add then reaches it', function () {
    this.timeout(120_000);
    const dom = newDomain(1, 2);
    const refused = run(['set-max', dom, '4']);
    assert.equal(refused.code, 11, 'a running domain needs --restart');
    // No OS answers the ACPI power button, so the graceful shutdown times out:
    const noForce = run(['set-max', dom, '4', '--restart', '--shutdown-timeout', '2']);
    assert.equal(noForce.code, 10, noForce.stderr);
    assert.match(noForce.stderr, /did not shut down .* nothing was changed \(use --force/);
    assert.equal(vcpuCount(dom)['maximum config'], 2);
    const r = run(['set-max', dom, '4', '--restart', '--force', '--shutdown-timeout', '2', '--agent-wait', '0']);
    assert.equal(r.code, 6, r.stderr); // done; no agent to confirm
    assert.equal(virsh('domstate', dom).trim(), 'running');
    assert.deepEqual(vcpuCount(dom), { 'maximum config': 4, 'maximum live': 4, 'current config': 1, 'current live': 1 });
    const report = JSON.parse(readFileSync(/report: (\S+)\)/.exec(r.stderr)![1]!.replace(/\.md$/, '.json'), 'utf8'));
    assert.deepEqual(report.libvirtOperations, [`virsh shutdown ${dom}`, `virsh destroy ${dom}`, `virsh setvcpus ${dom} 4 --maximum --config`, `virsh start ${dom}`]);
    assert.equal(run(['set', dom, '4']).code, 6);
    assert.equal(qemuPlugged(dom), 4);
  });

  it("works with libvirt's test driver (test:///default) in one connection", () => {
    const r = vcpuctl(['--report-dir', reports, '-c', 'test:///default', '--json', 'status', 'test'], env());
    assert.equal(r.code, 0, r.stderr);
    const [s] = JSON.parse(r.stdout);
    assert.equal(s.host.domain.state, 'running');
    assert.equal(s.host.domain.live.maximum, 2);
    assert.equal(s.host.qemu, undefined);
  });
});
