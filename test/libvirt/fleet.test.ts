/**
 * `status --all` / `verify --all` against the real libvirtd with 20 bare QEMU
 * domains of this run (16 running, 4 defined only), libvirt's in-memory test
 * driver as a second connection, and a URI whose socket does not exist. virsh
 * is reached through a PATH wrapper that counts its processes: the host side
 * must cost the same few whatever the number of domains.
 */
import { strict as assert } from 'node:assert';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bareDomainXml, removeLeftovers, setupHost, URI, VCPUCTL, vcpuctl, virshCountingPath } from '../helpers/libvirt';
import { TestSshd } from '../helpers/sshd';

const run = promisify(execFile);
const PREFIX = 'vcpuctl-fleet';
const RUNNING = 16;
const DEFINED_ONLY = 4;
const UNREACHABLE = 'qemu+unix:///system?socket=/nonexistent';

interface Doc {
  hosts: {
    uri: string;
    hostName: string;
    reachable: boolean;
    error?: { code: string; exit: number; message: string };
    domains: {
      domain: string;
      uri: string;
      hostName: string;
      state: string;
      checked: boolean;
      host?: { domain: { config: { current: number; maximum: number }; live?: { current: number } } };
      verdict?: { findings: { kind: string }[] };
    }[];
  }[];
  summary: { hosts: number; unreachableHosts: number; domains: number; byState: Record<string, number>; checked: number; failed: number; unread: number };
  exit: { status: number; code: string | null };
  reports?: { domain: string; json: string }[];
}

async function virshAsync(...args: string[]): Promise<void> {
  await run('virsh', ['-q', '-c', URI, ...args], { env: { ...process.env, LC_ALL: 'C' } });
}

describe('vcpuctl --all over many domains and several connections (real libvirtd)', function () {
  this.timeout(180_000);
  const tag = `${PREFIX}-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const web = Array.from({ length: RUNNING }, (_, i) => `${tag}-web${i}`);
  const db = Array.from({ length: DEFINED_ONLY }, (_, i) => `${tag}-db${i}`);
  const all = [...web, ...db];
  let dir: string;
  let env: Record<string, string>;
  let spawnLog: string;
  const defined: string[] = [];
  let sshd: TestSshd | undefined;

  const spawns = () => readFileSync(spawnLog, 'utf8').split('\n').filter(Boolean).length;
  const cli = (args: string[]) => {
    writeFileSync(spawnLog, '');
    const r = vcpuctl(['--report-dir', join(dir, 'reports'), '--agents-file', join(dir, 'agents.json'), ...args], env);
    return { ...r, spawns: spawns() };
  };
  const doc = (stdout: string): Doc => JSON.parse(stdout) as Doc;
  const ours = (d: Doc, uri = URI) => d.hosts.find((h) => h.uri === uri)!.domains.filter((x) => x.domain.startsWith(`${tag}-`));

  before(async function () {
    this.timeout(20 * 60_000);
    setupHost();
    removeLeftovers(PREFIX);
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-fleet-'));
    writeFileSync(join(dir, 'agents.json'), '{"domains":{}}\n');
    const counter = virshCountingPath(dir);
    spawnLog = counter.log;
    env = { PATH: `${counter.bin}:${process.env.PATH}` };
    // Defined and started in parallel: 20 QEMU starts one after another would take most of the timeout under load.
    await Promise.all(
      all.map(async (name, i) => {
        const file = join(dir, `${name}.xml`);
        writeFileSync(file, bareDomainXml(name, i < RUNNING ? 1 + (i % 2) : 1, i < RUNNING ? 2 : 3));
        await virshAsync('define', file);
        defined.push(name);
        if (i < RUNNING) await virshAsync('start', name);
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
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('status --all names all 20, lists the shut-off ones with their persistent counts, in one JSON document, with no virsh process', () => {
    const r = cli(['-c', URI, 'status', '--all', '--name', `${tag}-*`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const d = doc(r.stdout);
    const mine = ours(d);
    assert.deepEqual(mine.map((x) => x.domain).sort(), [...all].sort());
    assert.equal(d.summary.domains, 20);
    assert.deepEqual(d.summary.byState, { running: RUNNING, 'shut off': DEFINED_ONLY });
    assert.equal(d.summary.checked, RUNNING);
    assert.deepEqual(d.exit, { status: 0, code: null });
    for (const x of mine.filter((m) => m.domain.includes('-db'))) {
      assert.equal(x.checked, false);
      assert.equal(x.verdict, undefined);
      assert.deepEqual([x.host!.domain.config.current, x.host!.domain.config.maximum], [1, 3]);
      assert.equal(x.host!.domain.live, undefined);
    }
    for (const [i, name] of web.entries()) {
      const x = mine.find((m) => m.domain === name)!;
      assert.equal(x.checked, true);
      assert.equal(x.host!.domain.live!.current, 1 + (i % 2));
      assert.ok(
        x.verdict!.findings.some((f) => f.kind === 'AGENT_UNREACHABLE'),
        'a bare domain has no agent',
      );
    }
    // qemu:///system is read over libvirt's RPC on one socket: no virsh process at all, none per domain.
    assert.equal(r.spawns, 0, readFileSync(spawnLog, 'utf8'));
    assert.deepEqual([d.hosts[0]!.hostName, mine[0]!.hostName], [hostname(), hostname()], 'a local URI names this machine');
  });

  it("through qemu+ssh:// to the test's own sshd: status --all names all 20 and their host; root's ~/.ssh untouched", async () => {
    const homeSsh = '/root/.ssh/known_hosts';
    const before = existsSync(homeSsh) ? readFileSync(homeSsh, 'utf8') : undefined;
    sshd = await TestSshd.start();
    const uri = sshd.uri();
    const r = cli(['-c', uri, 'status', '--all', '--name', `${tag}-*`, '--json']);
    assert.equal(r.code, 0, `${r.stderr}\nsshd: ${sshd.output}`);
    const d = doc(r.stdout);
    assert.deepEqual(
      d.hosts.map((h) => [h.uri, h.hostName, h.reachable]),
      [[uri, '127.0.0.1', true]],
    );
    const mine = ours(d, uri);
    assert.deepEqual(mine.map((x) => x.domain).sort(), [...all].sort());
    assert.ok(mine.every((x) => x.uri === uri && x.hostName === '127.0.0.1'));
    assert.deepEqual(d.summary.byState, { running: RUNNING, 'shut off': DEFINED_ONLY });
    assert.equal(r.spawns, 0, "read over libvirt's RPC through ssh and virt-ssh-helper: no virsh process");
    // It went through our sshd with our key, and ssh recorded the host key in the fixture's file only.
    await sshd.waitForLog(/Accepted publickey for root from 127\.0\.0\.1/);
    assert.match(readFileSync(sshd.knownHosts, 'utf8'), new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} `, 'm'));
    assert.equal(existsSync(homeSsh) ? readFileSync(homeSsh, 'utf8') : undefined, before);
    const text = cli(['-c', uri, 'status', '--all', '--name', `${tag}-db*`]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /\(host 127\.0\.0\.1\): 4 domains/);
  });

  it("a key sshd does not know is a per-host error with ssh's reason, next to a reachable host, not a hang", async () => {
    sshd ??= await TestSshd.start();
    const wrong = sshd.uri({ keyfile: sshd.strangerKeyfile });
    const started = Date.now();
    const r = cli(['-c', URI, '-c', wrong, 'status', '--all', '--name', `${tag}-db*`, '--json']);
    const tookMs = Date.now() - started;
    assert.equal(r.code, 5, r.stderr);
    const d = doc(r.stdout);
    assert.deepEqual(
      d.hosts.map((h) => [h.hostName, h.reachable]),
      [
        [hostname(), true],
        ['127.0.0.1', false],
      ],
    );
    assert.equal(d.hosts[1]!.error!.code, 'LIBVIRT_UNREACHABLE');
    assert.match(d.hosts[1]!.error!.message, /Permission denied \(publickey\)/);
    assert.equal(ours(d).length, DEFINED_ONLY);
    // BatchMode: ssh refuses at once rather than asking for a password; well under the mocha timeout even loaded.
    assert.ok(tookMs < 60_000, `took ${tookMs} ms`);
  });

  it('the text output names every domain and the summary', () => {
    const r = cli(['-c', URI, 'status', '--all', '--name', `${tag}-*`]);
    assert.equal(r.code, 0, r.stderr);
    for (const name of all) assert.match(r.stdout, new RegExp(`^${name}\\s`, 'm'));
    assert.match(r.stdout, /20 domains \(16 running, 4 shut off\), 16 checked/);
  });

  it('--state and --name choose, and the process count stays the same', () => {
    const off = cli(['-c', URI, 'status', '--all', '--name', `${tag}-*`, '--state', 'shut-off', '--json']);
    assert.equal(off.code, 0, off.stderr);
    assert.deepEqual(
      ours(doc(off.stdout))
        .map((x) => x.domain)
        .sort(),
      [...db].sort(),
    );
    assert.equal(doc(off.stdout).summary.checked, 0);
    const web1 = cli(['-c', URI, 'status', '--all', '--name', `${tag}-web1*`, '--state', 'running,paused', '--json']);
    assert.equal(web1.code, 0, web1.stderr);
    assert.deepEqual(
      ours(doc(web1.stdout))
        .map((x) => x.domain)
        .sort(),
      web.filter((n) => /-web1\d*$/.test(n)).sort(),
    );
    assert.equal(web1.spawns, 0);
    const none = cli(['-c', URI, 'status', '--all', '--name', `${tag}-db*`, '--state', 'running', '--json']);
    assert.equal(doc(none.stdout).summary.domains, 0);
    const bad = cli(['-c', URI, 'status', '--all', '--state', 'asleep']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^vcpuctl: USAGE: --state wants one of running, paused, shut-off/);
    assert.equal(bad.spawns, 0, 'bad input is refused before libvirt is touched');
    for (const args of [
      ['status', '--all', '--parallel', '0'],
      ['status', '--all', '--parallel', '9999'],
      ['status', '--all', 'web1'],
      ['status', '--state', 'running', 'web1'],
      ['verify'],
      ['-c', URI, '-c', 'test:///default', 'status', 'web1'],
    ]) {
      const r = cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^vcpuctl: USAGE: [^\n]+\n$/);
      assert.equal(r.spawns, 0);
    }
  });

  it('two -c URIs in one call: results grouped by connection, in order', () => {
    const r = cli(['-c', URI, '-c', 'test:///default', 'status', '--all', '--name', `${tag}-web*`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const d = doc(r.stdout);
    assert.deepEqual(
      d.hosts.map((h) => h.uri),
      [URI, 'test:///default'],
    );
    assert.equal(ours(d).length, RUNNING);
    assert.equal(d.hosts[1]!.domains.length, 0, "the test driver's one domain is named 'test', not web*");
    const t = cli(['-c', URI, '-c', 'test:///default', 'status', '--all', '--name', 'test', '--json']);
    const td = doc(t.stdout);
    assert.deepEqual(
      td.hosts[1]!.domains.map((x) => [x.domain, x.uri, x.state]),
      [['test', 'test:///default', 'running']],
    );
    assert.equal(td.summary.hosts, 2);
    // test:///default lives inside its virsh process: a listing and one batched inspect there; none for qemu:///system (RPC).
    assert.equal(td.hosts[0]!.domains.length, 0);
    assert.equal(t.spawns, 2, readFileSync(spawnLog, 'utf8'));
  });

  it('one unreachable URI among reachable ones is a per-host error; the others are reported; exit 5', () => {
    const r = cli(['-c', URI, '-c', UNREACHABLE, '-c', 'test:///default', 'status', '--all', '--name', `${tag}-*`, '--json']);
    assert.equal(r.code, 5, r.stderr);
    const d = doc(r.stdout);
    assert.deepEqual(
      d.hosts.map((h) => [h.uri, h.reachable]),
      [
        [URI, true],
        [UNREACHABLE, false],
        ['test:///default', true],
      ],
    );
    assert.equal(d.hosts[1]!.error!.code, 'LIBVIRT_UNREACHABLE');
    assert.equal(ours(d).length, 20);
    assert.deepEqual([d.summary.unreachableHosts, d.exit.status, d.exit.code], [1, 5, 'LIBVIRT_UNREACHABLE']);
    assert.match(r.stderr, /^vcpuctl: LIBVIRT_UNREACHABLE: 1 of 3 hosts unreachable/);
  });

  it('a hosts file gives the connections', () => {
    const hosts = join(dir, 'hosts');
    writeFileSync(hosts, `# this test's fleet\n${URI}\n${UNREACHABLE}  # no such socket\n`);
    const r = cli(['status', '--all', '--hosts', hosts, '--name', `${tag}-db*`, '--json']);
    assert.equal(r.code, 5, r.stderr);
    const d = doc(r.stdout);
    assert.deepEqual(
      d.hosts.map((h) => h.uri),
      [URI, UNREACHABLE],
    );
    assert.equal(ours(d).length, DEFINED_ONLY);
  });

  it('watch --all --name follows only the matching domains', async () => {
    const child = spawn(process.execPath, [VCPUCTL, '-c', URI, '--agents-file', join(dir, 'agents.json'), '--json', 'watch', '--all', '--name', `${tag}-db*`], { stdio: ['ignore', 'pipe', 'pipe'] });
    const seen = new Set<string>();
    try {
      await new Promise<void>((resolve, reject) => {
        let buf = '';
        const timer = setTimeout(() => reject(new Error(`watch named only ${[...seen].join(', ')}`)), 90_000);
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          buf += d;
          for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
            const rec = JSON.parse(buf.slice(0, i)) as { domain?: string; changes?: string[] };
            buf = buf.slice(i + 1);
            if (rec.domain?.startsWith(`${tag}-`)) seen.add(rec.domain);
          }
          // Every domain's first record comes from one initial read: a web* among them would be here by now.
          if (seen.size >= DEFINED_ONLY)
            setTimeout(() => {
              clearTimeout(timer);
              resolve();
            }, 1000);
        });
        child.once('exit', (code) => reject(new Error(`watch exited ${code}`)));
      });
    } finally {
      child.kill('SIGINT');
    }
    assert.deepEqual([...seen].sort(), [...db].sort());
  });

  it('verify --all: one report per checked domain, exit of the worst verdict (6: no agent in a bare domain)', () => {
    const r = cli(['-c', URI, 'verify', '--all', '--name', `${tag}-*`, '--parallel', '4', '--json']);
    assert.equal(r.code, 6, r.stderr);
    const d = doc(r.stdout);
    assert.deepEqual(d.exit, { status: 6, code: 'AGENT_UNREACHABLE' });
    assert.equal(d.summary.failed, RUNNING);
    assert.deepEqual(d.reports!.map((x) => x.domain).sort(), [...web].sort());
    assert.equal(readdirSync(join(dir, 'reports')).filter((f) => f.endsWith('.json')).length, RUNNING);
    assert.equal(r.spawns, 0, "verify reads over libvirt's RPC: no virsh process");
  });
});
