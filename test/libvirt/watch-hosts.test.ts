/**
 * `vcpuctl watch` and `vcpuctl exporter` over several connections in one
 * process, against the real libvirtd: a bare QEMU domain of the test's own on
 * `qemu:///system`, libvirt's test driver (`test:///default`, its domain
 * `test`), a URI whose socket does not exist, and a "host" the test drops and
 * brings back: libvirtd's own socket reached through a unix proxy of the
 * test's, so the real libvirtd keeps running for everyone else.
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { AddressInfo, createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { VCPUCTL, URI, bareDomainXml, defineAndStart, removeDomain, setupHost, uniqueName, virsh } from '../helpers/libvirt';
import { httpGet } from '../helpers/http-get';
import { jsonLines, Rec } from '../helpers/json-lines';
import { UnixProxy } from '../helpers/unix-proxy';

const TEST_URI = 'test:///default';
const UNREACHABLE = 'qemu+unix:///system?socket=/nonexistent';
/** Waits are event-driven; this long only bounds them on a loaded machine. */
const WAIT_MS = 90_000;

function libvirtSocket(): string {
  for (const p of ['/run/libvirt/libvirt-sock', '/var/run/libvirt/libvirt-sock']) if (existsSync(p)) return p;
  throw new Error('libvirtd socket not found');
}

describe('vcpuctl watch and exporter over several connections (real libvirtd)', function () {
  this.timeout(240_000);
  const children: ChildProcess[] = [];
  let dir: string;
  let name: string;
  let base: string[];
  let proxy: UnixProxy;
  let proxyUri: string;

  before(async function () {
    this.timeout(20 * 60_000);
    setupHost();
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-watch-hosts-'));
    writeFileSync(join(dir, 'agents.json'), '{"domains":{}}\n');
    base = ['--report-dir', join(dir, 'reports'), '--agents-file', join(dir, 'agents.json')];
    proxy = new UnixProxy(join(dir, 'libvirt-sock'), libvirtSocket());
    proxyUri = `qemu+unix:///system?socket=${proxy.path}`;
    await proxy.start();
    name = uniqueName('vcpuctl-hosts');
    defineAndStart(name, bareDomainXml(name, 1, 3));
  });

  after(async function () {
    this.timeout(60_000);
    await Promise.all(children.map((c) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : (c.once('exit', () => r()), c.kill('SIGTERM'))))));
    await proxy?.stop();
    if (name) removeDomain(name);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const start = (args: string[]) => {
    const c = spawn(process.execPath, [VCPUCTL, ...base, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VCPUCTL_LOCK_DIR: join(dir, 'locks') } });
    children.push(c);
    return c;
  };
  const up = (uri: string, value: boolean) => (r: Rec) => r.uri === uri && r.connection?.up === value;

  it('watch --json: each connection up or down on its own, every record naming its connection; a dropped host is down, retried and re-read while the others are watched', async () => {
    const c = start(['--json', '-c', URI, '-c', TEST_URI, '-c', UNREACHABLE, '-c', proxyUri, 'watch', name, 'test', '--host-poll', '2']);
    const w = jsonLines(c);
    const here = hostname();

    const down = await w.waitFor('the unreachable host down', up(UNREACHABLE, false), WAIT_MS);
    assert.match(down.connection.error, /nonexistent/);
    assert.equal(down.host, here, 'a local URI names this machine');
    assert.ok(Date.parse(down.connection.retryAt) > Date.parse(down.at), 'a retry is scheduled');
    for (const uri of [URI, TEST_URI, proxyUri]) await w.waitFor(`${uri} up`, up(uri, true), WAIT_MS);

    const direct = await w.waitFor('our domain on qemu:///system', (r) => r.domain === name && r.uri === URI && r.changes.includes('watching'), WAIT_MS);
    assert.equal(direct.host, here);
    assert.deepEqual(direct.libvirt.live, { current: 1, maximum: 3 });
    const viaProxy = await w.waitFor('our domain through the proxy', (r) => r.domain === name && r.uri === proxyUri && r.changes.includes('watching'), WAIT_MS);
    assert.equal(viaProxy.uuid, direct.uuid, 'the same domain, reached through the other connection');
    const testDomain = await w.waitFor("the test driver's domain", (r) => r.domain === 'test' && r.uri === TEST_URI && r.state === 'running', WAIT_MS);
    assert.equal(testDomain.libvirt.live.current, testDomain.libvirt.config.current);
    assert.ok(!w.records.some((r) => r.domain === name && r.uri === TEST_URI), 'a domain is reported only by the connections that have it');

    // The proxied host goes away: it is down, and the others are still watched.
    const dropAt = w.records.length;
    await proxy.stop();
    const dropped = await w.waitFor('the proxied host down', up(proxyUri, false), WAIT_MS, dropAt);
    assert.match(dropped.connection.error, /libvirt-sock|connect/);
    const changeAt = w.records.length;
    virsh('setvcpus', name, '2', '--live');
    const seen = await w.waitFor('the hot-add on qemu:///system', (r) => r.domain === name && r.uri === URI && r.changes.includes('libvirt live count 1 -> 2'), WAIT_MS, changeAt);
    assert.equal(seen.host, here);
    assert.ok(!w.records.slice(dropAt).some(up(proxyUri, true)), 'the proxied host stays down while its socket is gone');

    // It comes back: up again, and its domain is re-read, the change made meanwhile reported with its connection.
    const backAt = w.records.length;
    await proxy.start();
    await w.waitFor('the proxied host up again', up(proxyUri, true), WAIT_MS, backAt);
    const reread = await w.waitFor('the change seen through the proxy once back', (r) => r.domain === name && r.uri === proxyUri && r.changes.includes('libvirt live count 1 -> 2'), WAIT_MS, backAt);
    assert.deepEqual(reread.libvirt.live, { current: 2, maximum: 3 });

    assert.ok(!w.records.some(up(UNREACHABLE, true)), 'the unreachable host never came up');
    assert.equal(c.exitCode, null, 'one host down is never a failed run');
  });

  it('watch --hosts FILE: plain lines name each connection; on a terminal the live table groups domains by connection, the down one headed DOWN', async () => {
    const hostsFile = join(dir, 'hosts');
    writeFileSync(hostsFile, `# the test's hosts\n${TEST_URI}\n${UNREACHABLE}  # nothing listens there\n`);
    const here = hostname();
    const text = (c: ChildProcess) => {
      let out = '';
      c.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      c.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
      return {
        get out() {
          return out;
        },
        until: (what: string, pred: (o: string) => boolean) =>
          new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no ${what} within ${WAIT_MS} ms:\n${out}`)), WAIT_MS);
            const check = () => {
              if (pred(out)) {
                clearTimeout(timer);
                c.stdout!.off('data', check);
                resolve();
              }
            };
            c.stdout!.on('data', check);
            c.once('exit', (code) => {
              clearTimeout(timer);
              reject(new Error(`exited ${code} before ${what}:\n${out}`));
            });
            check();
          }),
      };
    };

    const plain = text(start(['watch', 'test', '--hosts', hostsFile, '--host-poll', '2']));
    await plain.until('both connections', (o) => /test:\/\/\/default test: watching -> verdict: /.test(o) && o.includes(`${UNREACHABLE} (${here}): DOWN since `));
    assert.match(plain.out, new RegExp(`test:///default \\(${here}\\): up, 1 domain`));

    // A terminal, for real: the live table is drawn only when stdout is a TTY.
    const tty = spawn('script', ['-qfec', [process.execPath, VCPUCTL, ...base, 'watch', 'test', '--hosts', hostsFile, '--host-poll', '2'].map((a) => `'${a}'`).join(' '), '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, VCPUCTL_LOCK_DIR: join(dir, 'locks') },
    });
    children.push(tty);
    const screen = text(tty);
    const lastFrame = (o: string) => o.split('\x1b[2J').pop()!;
    await screen.until('a whole frame with both groups', (o) => {
      const f = lastFrame(o);
      // The terminal's output comes in chunks: a frame is whole once its last part, the recent changes, has come.
      return f.includes('recent changes:') && f.includes(`${TEST_URI} (${here}): up, 1 domain`) && f.includes(`${UNREACHABLE} (${here}): DOWN since`) && /\ntest +running/.test(f);
    });
    const frame = lastFrame(screen.out);
    const order = [frame.indexOf(`${TEST_URI} (${here})`), frame.indexOf('DOMAIN  '), frame.search(/\ntest +running/), frame.indexOf(`${UNREACHABLE} (${here})`), frame.indexOf('recent changes:')];
    assert.deepEqual(
      [...order].sort((x, y) => x - y),
      order,
      `groups in the hosts file's order, each heading above its rows:\n${frame}`,
    );
    assert.match(frame, /next try in \d+ s/);
  });

  it('exporter: series for every connection labelled with its uri, vcpuctl_host_up{uri,host} 1 or 0, nothing served for the host that is down', async () => {
    const uuid = virsh('domuuid', name).trim();
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const c = start(['-c', URI, '-c', TEST_URI, '-c', UNREACHABLE, 'exporter', name, 'test', '--listen', `127.0.0.1:${port}`, '--host-poll', '2']);
    let err = '';
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    const here = hostname();
    const wanted = [
      `vcpuctl_host_up{uri="${URI}",host="${here}"} 1`,
      `vcpuctl_host_up{uri="${TEST_URI}",host="${here}"} 1`,
      `vcpuctl_host_up{uri="${UNREACHABLE}",host="${here}"} 0`,
      `vcpuctl_qemu_vcpus_plugged{domain="${name}",uuid="${uuid}",uri="${URI}"}`,
      `vcpuctl_domain_running{domain="test",`,
    ];
    let body = '';
    const until = Date.now() + WAIT_MS;
    while (Date.now() < until && c.exitCode === null && !wanted.every((x) => body.includes(x))) {
      body = await httpGet(`http://127.0.0.1:${port}/metrics`).catch(() => '');
      if (!wanted.every((x) => body.includes(x))) await new Promise((r) => setTimeout(r, 250));
    }
    for (const x of wanted) assert.ok(body.includes(x), `${x} missing:\n${body}\n${err}`);
    const live = virsh('vcpucount', name, '--live', '--active').trim();
    assert.ok(body.includes(`vcpuctl_libvirt_vcpus_current{domain="${name}",uuid="${uuid}",uri="${URI}",view="live"} ${live}`), body);
    assert.match(body, /vcpuctl_domain_running\{domain="test",uuid="[0-9a-f-]+",uri="test:\/\/\/default"\} 1/);
    assert.match(body, /# HELP vcpuctl_host_up 1 while libvirt answers/);
    assert.match(body, new RegExp(`vcpuctl_host_domains\\{uri="${URI.replace(/\//g, '\\/')}",host="${here}"\\} 2`));
    assert.ok(!body.split('\n').some((l) => !l.startsWith('vcpuctl_host_') && l.includes(`uri="${UNREACHABLE}"`)), 'no domain series for the host that is down');
    assert.equal(c.exitCode, null, 'the exporter keeps serving');
    assert.match(err, new RegExp(`${UNREACHABLE.replace(/[?/+]/g, '\\$&')}: DOWN`));
  });
});
