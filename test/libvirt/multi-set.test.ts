/**
 * `vcpuctl set` on several domains, and `--dry-run`, against the real
 * libvirtd with bare QEMU domains of this run: two groups of five (four at
 * 1 of maximum 2, one at 1 of maximum 1, so asking for 2 is over its
 * maximum) and one shut-off domain. A bare domain takes a live hot-add but
 * has no guest: the single-domain set then ends AGENT_UNREACHABLE (exit 6,
 * changed in libvirt, not confirmed), and so must each of these.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bareDomainXml, removeLeftovers, setupHost, URI, vcpuCount, vcpuctl, virsh } from '../helpers/libvirt';

const run = promisify(execFile);
const PREFIX = 'vcpuctl-mset';

interface Entry {
  domain: string;
  uri: string;
  target: number;
  outcome: 'done' | 'refused' | 'failed';
  plan?: { strategy?: string; from: { state: string; live?: number; liveMaximum?: number; config: number }; steps: string[]; refusal?: { code: string } };
  error?: { code: string; exit: number; message: string };
  report?: { id: string; json: string; markdown: string };
}
interface Doc {
  dryRun?: true;
  hosts: { uri: string; reachable: boolean; domains: Entry[] }[];
  unmatched: Entry[];
  summary: Record<string, number>;
  exit: { status: number; code: string | null };
}

async function virshAsync(...args: string[]): Promise<void> {
  await run('virsh', ['-q', '-c', URI, ...args], { env: { ...process.env, LC_ALL: 'C' } });
}

describe('vcpuctl set on several domains, and --dry-run (real libvirtd)', function () {
  this.timeout(180_000);
  const tag = `${PREFIX}-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  // a: the names form with --json; b: --all --state running --name with the text table.
  const group = (g: string) => Array.from({ length: 5 }, (_, i) => `${tag}-${g}${i}`);
  const a = group('a');
  const b = group('b');
  const off = `${tag}-b-off`;
  const overMax = (names: string[]) => names[4]!;
  let dir: string;
  let reports: string;
  let locks: string;
  let agents: string;
  const defined: string[] = [];

  const cli = (args: string[]) => vcpuctl(['--report-dir', reports, '--agents-file', agents, '-c', URI, ...args], { VCPUCTL_LOCK_DIR: locks });
  const xmls = (names: string[]) => names.map((n) => [virsh('dumpxml', n), virsh('dumpxml', '--inactive', n)]);
  const entries = (d: Doc) => d.hosts.flatMap((h) => h.domains);

  before(async function () {
    this.timeout(20 * 60_000);
    setupHost();
    removeLeftovers(PREFIX);
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-mset-'));
    reports = join(dir, 'reports');
    locks = join(dir, 'locks');
    agents = join(dir, 'agents.json');
    writeFileSync(agents, '{"domains":{}}\n');
    await Promise.all(
      [...a, ...b, off].map(async (name) => {
        const file = join(dir, `${name}.xml`);
        writeFileSync(file, bareDomainXml(name, 1, name === overMax(a) || name === overMax(b) ? 1 : 2));
        await virshAsync('define', file);
        defined.push(name);
        if (name !== off) await virshAsync('start', name);
      }),
    );
  });

  after(async function () {
    this.timeout(120_000);
    await Promise.all(
      defined.map(async (name) => {
        await virshAsync('destroy', name).catch(() => undefined);
        await virshAsync('undefine', name).catch(() => undefined);
      }),
    );
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('--dry-run on five domains plans four hot-adds and names the refusal over the maximum; nothing is changed, locked or written', () => {
    const before = xmls(a);
    const counts = a.map(vcpuCount);
    const r = cli(['--json', 'set', ...a, '2', '--dry-run']);
    assert.equal(r.code, 8, r.stderr);
    assert.match(r.stderr, /^vcpuctl: OVER_MAXIMUM: dry run: 1 of 5 domains would be refused[^\n]*\n$/);
    const d = JSON.parse(r.stdout) as Doc;
    assert.equal(d.dryRun, true);
    assert.deepEqual(
      entries(d).map((e) => e.domain),
      a,
    );
    for (const e of entries(d).slice(0, 4)) {
      assert.equal(e.plan!.strategy, 'hotplug', e.domain);
      assert.deepEqual([e.plan!.from.live, e.plan!.from.liveMaximum], [1, 2]);
      assert.equal(e.plan!.steps[0], `virsh setvcpus ${e.domain} 2 --live (hot-add 1)`);
      assert.match(e.plan!.steps[1]!, /cannot be confirmed \(AGENT_UNREACHABLE\)/);
      assert.equal(e.error, undefined);
    }
    const refused = entries(d)[4]!;
    assert.deepEqual([refused.plan!.strategy, refused.error!.code, refused.error!.exit], [undefined, 'OVER_MAXIMUM', 8]);
    assert.match(refused.error!.message, /2 vCPUs exceeds the maximum of 1/);
    assert.deepEqual(d.summary, { hosts: 1, unreachableHosts: 0, domains: 5, change: 4, nothingToDo: 0, refused: 1 });
    assert.deepEqual(d.exit, { status: 8, code: 'OVER_MAXIMUM' });

    const text = cli(['set', ...a, '2', '--dry-run']);
    assert.equal(text.code, 8, text.stderr);
    assert.match(text.stdout, new RegExp(`^${overMax(a)}\\s+live 1/1\\s+2\\s+-\\s+REFUSED OVER_MAXIMUM: 2 vCPUs exceeds the maximum of 1`, 'm'));
    assert.match(text.stdout, new RegExp(`^${a[0]}\\s+live 1/2\\s+2\\s+hotplug\\s+virsh setvcpus ${a[0]} 2 --live \\(hot-add 1\\)`, 'm'));
    assert.match(text.stdout, /^dry run: 5 domains on 1 host \(0 unreachable\): 4 would change, 0 already as asked, 1 refused$/m);

    assert.deepEqual(a.map(vcpuCount), counts, 'counts unchanged');
    assert.deepEqual(xmls(a), before, 'live and persistent XML (metadata included) unchanged');
    assert.equal(existsSync(reports), false, 'no report directory');
    assert.equal(existsSync(locks), false, 'no lock directory');
  });

  it('--dry-run names an unknown domain and a shut-off one without --config; the worst refusal is the exit status', () => {
    const r = cli(['--json', 'set', a[0]!, off, `${tag}-nosuch`, '2', '--dry-run']);
    assert.equal(r.code, 4, r.stderr);
    const d = JSON.parse(r.stdout) as Doc;
    assert.deepEqual(
      entries(d).map((e) => [e.domain, e.error?.code ?? e.plan?.strategy]),
      [
        [a[0], 'hotplug'],
        [off, 'DOMAIN_NOT_RUNNING'],
        [`${tag}-nosuch`, 'DOMAIN_NOT_FOUND'],
      ],
    );
    const cfg = cli(['--json', 'set', off, '2', '--config', '--dry-run']);
    assert.equal(cfg.code, 0, cfg.stderr);
    assert.deepEqual(entries(JSON.parse(cfg.stdout) as Doc)[0]!.plan!.steps, [`virsh setvcpus ${off} 2 --config (the domain is not running: its persistent count only)`]);
    assert.equal(vcpuCount(off)['current config'], 1);
    assert.equal(existsSync(reports), false);
  });

  it('set on five domains at once: four change in libvirt (unconfirmed: no guest), one is refused over its maximum; five reports; exit 6', () => {
    const r = cli(['--json', 'set', ...a, '2']);
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /^vcpuctl: AGENT_UNREACHABLE: 0 of 5 domains done, 4 failed, 1 refused, 0 of 1 hosts unreachable\n$/);
    const d = JSON.parse(r.stdout) as Doc; // stdout holds exactly one document
    assert.deepEqual(d.exit, { status: 6, code: 'AGENT_UNREACHABLE' });
    assert.deepEqual(d.summary, { hosts: 1, unreachableHosts: 0, domains: 5, done: 0, refused: 1, failed: 4 });
    for (const name of a.slice(0, 4)) {
      assert.deepEqual(vcpuCount(name), { 'maximum config': 2, 'maximum live': 2, 'current config': 1, 'current live': 2 }, name);
      const e = entries(d).find((x) => x.domain === name)!;
      assert.deepEqual([e.outcome, e.plan!.strategy, e.error!.code, e.error!.exit], ['failed', 'hotplug', 'AGENT_UNREACHABLE', 6]);
      const report = JSON.parse(readFileSync(e.report!.json, 'utf8'));
      assert.deepEqual([report.domain, report.operation, report.outcome.code], [name, 'set', 'AGENT_UNREACHABLE']);
      assert.deepEqual(report.libvirtOperations, [`virsh setvcpus ${name} 2 --live`]);
      assert.equal(report.after.host.domain.live.current, 2);
    }
    const name = overMax(a);
    assert.deepEqual(vcpuCount(name), { 'maximum config': 1, 'maximum live': 1, 'current config': 1, 'current live': 1 });
    const e = entries(d).find((x) => x.domain === name)!;
    assert.deepEqual([e.outcome, e.plan!.refusal!.code, e.error!.code, e.error!.exit], ['refused', 'OVER_MAXIMUM', 'OVER_MAXIMUM', 8]);
    const report = JSON.parse(readFileSync(e.report!.json, 'utf8'));
    assert.deepEqual([report.outcome.code, report.libvirtOperations], ['OVER_MAXIMUM', []]);
    const written = readdirSync(reports)
      .filter((f) => f.endsWith('.json'))
      .sort();
    assert.deepEqual(
      written,
      entries(d)
        .map((x) => `${x.report!.id}.json`)
        .sort(),
      'one report per domain, five in all',
    );
  });

  it('--all --state running --name GLOB chooses as status --all does; the text table and summary say what happened', () => {
    const glob = `${tag}-b*`;
    const st = cli(['--json', 'status', '--all', '--state', 'running', '--name', glob]);
    assert.equal(st.code, 0, st.stderr);
    const chosen = (JSON.parse(st.stdout) as { hosts: { domains: { domain: string }[] }[] }).hosts[0]!.domains.map((x) => x.domain).sort();
    assert.deepEqual(chosen, [...b].sort(), 'status --all takes the running b domains, not the shut-off one');
    const dry = cli(['--json', 'set', '--all', '--state', 'running', '--name', glob, '2', '--dry-run']);
    assert.deepEqual(
      entries(JSON.parse(dry.stdout) as Doc)
        .map((x) => x.domain)
        .sort(),
      chosen,
    );

    const r = cli(['set', '--all', '--state', 'running', '--name', glob, '--parallel', '2', '2']);
    assert.equal(r.code, 6, r.stderr);
    const rows = r.stdout.split('\n').filter((l) => l.startsWith(`${tag}-`));
    assert.deepEqual(rows.map((l) => l.split(/\s+/)[0]).sort(), chosen);
    for (const n of b.slice(0, 4)) {
      assert.match(r.stdout, new RegExp(`^${n}\\s+live 1/2\\s+2\\s+hotplug\\s+\\S+-set-[0-9a-f]{6}\\s+FAILED AGENT_UNREACHABLE: `, 'm'));
      assert.equal(vcpuCount(n)['current live'], 2);
    }
    assert.match(r.stdout, new RegExp(`^${overMax(b)}\\s+live 1/1\\s+2\\s+-\\s+\\S+-set-[0-9a-f]{6}\\s+REFUSED OVER_MAXIMUM: `, 'm'));
    assert.match(r.stdout, new RegExp(`^5 domains on 1 host \\(0 unreachable\\): 0 done, 4 failed, 1 refused; reports in ${reports}$`, 'm'));
    assert.equal(vcpuCount(off)['current config'], 1, 'the shut-off domain was not chosen');
  });

  it('several connections: names found where they are defined, one unreachable URI is a per-host error (exit 5), a name found nowhere is named', () => {
    const unreachable = 'qemu+unix:///system?socket=/nonexistent';
    const args = ['--json', '-c', unreachable, '-c', 'test:///default', 'set', a[0]!, 'test', `${tag}-nosuch`, '2'];
    const dry = cli([...args, '--dry-run']);
    assert.equal(dry.code, 5, dry.stderr);
    const d = JSON.parse(dry.stdout) as Doc;
    assert.deepEqual(
      d.hosts.map((h) => [h.uri, h.reachable, h.domains.map((x) => x.domain)]),
      [
        [URI, true, [a[0]]],
        [unreachable, false, []],
        ['test:///default', true, ['test']],
      ],
    );
    assert.deepEqual(
      d.unmatched.map((x) => [x.domain, x.uri, x.error!.code]),
      [[`${tag}-nosuch`, null, 'DOMAIN_NOT_FOUND']],
    );
    assert.deepEqual(d.exit, { status: 5, code: 'LIBVIRT_UNREACHABLE' });
    // The real run: the same selection; the test driver's domain already has 2 (nothing to do, no guest to confirm it).
    const r = cli(args);
    assert.equal(r.code, 5, r.stderr);
    const doc = JSON.parse(r.stdout) as Doc;
    const t = doc.hosts[2]!.domains[0]!;
    assert.deepEqual([t.domain, t.uri, t.plan!.strategy, t.error!.code], ['test', 'test:///default', 'none', 'AGENT_UNREACHABLE']);
    assert.equal(JSON.parse(readFileSync(t.report!.json, 'utf8')).uri, 'test:///default');
    assert.deepEqual(doc.summary, { hosts: 3, unreachableHosts: 1, domains: 3, done: 0, refused: 1, failed: 2 });
  });

  it('bad input for several domains is refused before libvirt is touched (exit 2)', () => {
    for (const args of [
      ['set', '--all', a[0]!, '2'],
      ['set', '--state', 'running', a[0]!, a[1]!, '2'],
      ['set', a[0]!, a[1]!, '0'],
      ['set', '--all', '--parallel', '0', '2'],
      ['set', '2'],
    ]) {
      const r = cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^vcpuctl: USAGE: [^\n]+\n$/);
    }
  });
});
