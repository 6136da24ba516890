/**
 * `vcpuctl doctor` and the risks `set --dry-run` shows, against the real
 * libvirtd with bare QEMU domains of this run: one without any problem a
 * host can see, one with a partial <vcpupin>, NUMA cells that interleave
 * vCPU ids (libvirt fills the vCPU left out into cell 0) and no <topology>
 * (one socket per vCPU), one at its maximum, and a shut-off one judged from
 * its persistent config. A bare domain has no guest: the guest-side checks
 * say "not checked", never "ok". Domains are removed after, also on failure.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeDomain, removeLeftovers, setupHost, URI, vcpuctl, virsh } from '../helpers/libvirt';

const PREFIX = 'vcpuctl-doctor';

interface Check {
  id: string;
  status: 'ok' | 'risk' | 'not checked';
  detail: string;
  fix?: string;
}
interface Result {
  domain: string;
  state: string;
  checks: Check[];
  counts: { ok: number; risk: number; notChecked: number };
}

function domainXml(name: string, o: { current: number; maximum: number; cputune?: string; cpu?: string }): string {
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu placement='static' current='${o.current}'>${o.maximum}</vcpu>
  ${o.cputune ?? ''}
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model>${o.cpu ?? ''}</cpu>
  <on_crash>destroy</on_crash>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>`;
}

const byId = (r: Result) => Object.fromEntries(r.checks.map((c) => [c.id, c.status]));

describe('vcpuctl doctor (real libvirtd, bare domains)', function () {
  this.timeout(120_000);
  const tag = `${PREFIX}-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const clean = `${tag}-clean`;
  const risky = `${tag}-risky`;
  const full = `${tag}-full`;
  const off = `${tag}-off`;
  const defined: string[] = [];
  let dir: string;
  let agents: string;

  const cli = (args: string[]) => vcpuctl(['--agents-file', agents, '-c', URI, ...args], { VCPUCTL_LOCK_DIR: join(dir, 'locks') });
  const doc = (args: string[]) => {
    const r = cli(['--json', ...args]);
    return { ...r, json: JSON.parse(r.stdout) as { domains: Result[]; exit: { status: number; code: string | null } } };
  };

  before(function () {
    this.timeout(20 * 60_000);
    setupHost();
    removeLeftovers(PREFIX);
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-doctor-'));
    agents = join(dir, 'agents.json');
    writeFileSync(agents, '{"domains":{}}\n');
    const topology1 = "<topology sockets='1' dies='1' cores='3' threads='1'/>";
    const domains: [string, string, boolean][] = [
      [clean, domainXml(clean, { current: 1, maximum: 3, cpu: topology1 }), true],
      [
        risky,
        domainXml(risky, {
          current: 1,
          maximum: 3,
          cputune: "<cputune><vcpupin vcpu='0' cpuset='0'/><emulatorpin cpuset='0'/></cputune>",
          cpu: "<numa><cell id='0' cpus='0' memory='64' unit='MiB'/><cell id='1' cpus='1' memory='64' unit='MiB'/></numa>",
        }),
        true,
      ],
      [full, domainXml(full, { current: 2, maximum: 2, cpu: "<topology sockets='1' dies='1' cores='2' threads='1'/>" }), true],
      [off, domainXml(off, { current: 1, maximum: 3, cpu: topology1 }), false],
    ];
    for (const [name, xml, start] of domains) {
      const file = join(dir, `${name}.xml`);
      writeFileSync(file, xml);
      virsh('define', file);
      defined.push(name);
      if (start) virsh('start', name);
    }
  });

  after(() => {
    for (const name of defined) removeDomain(name);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a domain without a problem the host can see: every host check ok, the guest ones not checked, exit 0', () => {
    const r = doc(['doctor', clean]);
    assert.equal(r.code, 0, r.stderr);
    const d = r.json.domains[0]!;
    assert.deepEqual(byId(d), {
      headroom: 'ok',
      vcpupin: 'ok',
      numa: 'ok',
      topology: 'ok',
      migrated: 'ok',
      'qemu-ga-rpcs': 'ok',
      'kernel-hotplug': 'not checked',
      'udev-auto-online': 'not checked',
    });
    assert.deepEqual(r.json.exit, { status: 0, code: null });
  });

  it('partial vcpupin, interleaved NUMA cells and no <topology>: three risks with their fixes, exit 3 (MISMATCH)', () => {
    const r = doc(['doctor', risky]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /^vcpuctl: MISMATCH: doctor found 3 risks on /);
    const d = r.json.domains[0]!;
    const s = byId(d);
    assert.deepEqual([s.vcpupin, s.numa, s.topology, s.headroom], ['risk', 'risk', 'risk', 'ok']);
    const numa = d.checks.find((c) => c.id === 'numa')!;
    // libvirt put vCPU 2, left out of every cell, into cell 0: vCPU 1 then lands in cell 1 ahead of it.
    assert.match(numa.detail, /vCPU 1 lands in cell 1, where the cells' sizes in order put it in cell 0/);
    for (const c of d.checks.filter((x) => x.status === 'risk')) assert.ok(c.fix, `${c.id} has a fix`);
  });

  it('a domain at its maximum: the headroom risk; the text output has one line per check and the fix', () => {
    const r = cli(['doctor', full]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /^\S+ \(running\): 1 risk, 5 ok, 2 not checked$/m);
    assert.match(r.stdout, /^ {2}RISK {9}maximum headroom +2 of a maximum of 2: no vCPU can be hot-added$/m);
    assert.match(r.stdout, /fix: raise the maximum: `vcpuctl set-max \S+ M --restart`/);
    assert.match(r.stdout, /^ {2}not checked {2}udev auto-online rule/m);
  });

  it('a shut-off domain is judged from its persistent config; migrated since boot is not checked', () => {
    const d = doc(['doctor', off]).json.domains[0]!;
    assert.equal(d.state, 'shut off');
    const s = byId(d);
    assert.deepEqual([s.headroom, s.topology, s.migrated], ['ok', 'ok', 'not checked']);
  });

  it('set --dry-run shows the same risks under the plan, judged on the vCPUs it plugs, and exits as before', () => {
    const r = cli(['--json', 'set', risky, clean, '2', '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    const entries = (JSON.parse(r.stdout) as { hosts: { domains: { domain: string; risks: Check[] }[] }[] }).hosts[0]!.domains;
    const of = (n: string) => entries.find((e) => e.domain === n)!.risks;
    assert.deepEqual(
      of(risky).map((c) => c.id),
      ['vcpupin', 'numa', 'topology'],
    );
    assert.match(of(risky)[0]!.detail, /^vCPU 1 would run unpinned/);
    assert.deepEqual(of(clean), []);
    const text = cli(['set', risky, '2', '--dry-run']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^risks of the plan/m);
    assert.match(text.stdout, new RegExp(`^ {2}${risky}: CPU topology: vCPU 1 would add a socket`, 'm'));
    assert.equal(virsh('vcpucount', risky, '--live', '--current').trim(), '1', 'nothing changed');
  });

  it("--all over this run's domains: every one judged, the worst problem is the exit status (3)", () => {
    const r = cli(['--json', 'doctor', '--all', '--name', `${tag}-*`]);
    assert.equal(r.code, 3, r.stderr);
    const d = JSON.parse(r.stdout) as { hosts: { domains: { domain: string; result?: Result }[] }[]; summary: Record<string, number>; exit: { status: number; code: string } };
    assert.deepEqual(d.hosts[0]!.domains.map((x) => x.domain).sort(), [clean, full, off, risky].sort());
    assert.deepEqual({ domains: d.summary.domains, withRisks: d.summary.withRisks, clean: d.summary.clean, unread: d.summary.unread }, { domains: 4, withRisks: 2, clean: 2, unread: 0 });
    assert.deepEqual(d.exit, { status: 3, code: 'MISMATCH' });
    const clear = cli(['doctor', '--all', '--name', `${tag}-c*`]);
    assert.equal(clear.code, 0, clear.stderr);
    assert.match(clear.stdout, /1 domains: 0 with risks, 1 without, 0 unread$/m);
  });

  it('bad input: no domain, names with --all, --state without --all (USAGE, 2); an unknown domain (4)', () => {
    assert.equal(cli(['doctor']).code, 2);
    assert.equal(cli(['doctor', '--all', clean]).code, 2);
    assert.equal(cli(['doctor', '--state', 'running', clean]).code, 2);
    const r = cli(['doctor', `${tag}-nosuch`]);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /^vcpuctl: DOMAIN_NOT_FOUND: /);
  });
});
