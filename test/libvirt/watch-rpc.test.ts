/**
 * libvirt's events over the RPC connection (packages/host/src/libvirt/rpc-event-stream.ts)
 * against the real libvirtd, with bare QEMU domains of this run: `watch` and
 * the exporter start no virsh process on qemu:///system nor through
 * qemu+ssh:// (counted through a PATH wrapper that only their processes
 * get, as set-rpc.test.ts does; the test's own virsh commands are not
 * counted), the events come as virsh's did, they are registered again when
 * the connection comes back (libvirtd's socket cut through a proxy of the
 * test's, so the real libvirtd keeps running for everyone else), and the
 * daemon keeps the connection alive with keepalive pings that are answered.
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEventLine, LibvirtDriver } from '@vcpuctl/host';
import { LibvirtRpc } from '@vcpuctl/host/dist/libvirt/rpc-procedures';
import { unixTransport } from '@vcpuctl/host/dist/libvirt/rpc-transport';
import { bareDomainXml, defineAndStart, removeDomain, removeLeftovers, restartLibvirtd, setupHost, uniqueName, URI, VCPUCTL, virsh, virshCountingPath } from '../helpers/libvirt';
import { httpGet } from '../helpers/http-get';
import { jsonLines, Rec } from '../helpers/json-lines';
import { TestSshd } from '../helpers/sshd';
import { UnixProxy } from '../helpers/unix-proxy';

const PREFIX = 'vcpuctl-watchrpc';
/** Waits are event-driven; this long only bounds them on a loaded machine. */
const WAIT_MS = 30_000;
/** A poll this slow never runs during a test: what is seen came from an event. */
const NO_POLL = ['--host-poll', '600'];

function libvirtSocket(): string {
  for (const p of ['/run/libvirt/libvirt-sock', '/var/run/libvirt/libvirt-sock']) if (existsSync(p)) return p;
  throw new Error('libvirtd socket not found');
}

describe("watch and exporter over libvirt's RPC: events registered on the connection, no virsh process (real libvirtd)", function () {
  this.timeout(120_000);
  let dir: string;
  let spawnLog: string;
  let env: NodeJS.ProcessEnv;
  let sshd: TestSshd | undefined;
  let proxy: UnixProxy | undefined;
  const domains: string[] = [];
  const children: ChildProcess[] = [];

  const spawned = () => readFileSync(spawnLog, 'utf8').split('\n').filter(Boolean);
  const running = (current: number, maximum: number, devices = '') => {
    const name = uniqueName(PREFIX);
    domains.push(name);
    defineAndStart(name, bareDomainXml(name, current, maximum).replace('</devices>', `${devices}</devices>`));
    return name;
  };
  const start = (args: string[]) => {
    const c = spawn(process.execPath, [VCPUCTL, '--report-dir', join(dir, 'reports'), '--agents-file', join(dir, 'agents.json'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    children.push(c);
    return c;
  };
  const stop = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : (c.once('exit', () => r()), c.kill('SIGTERM'))));
  const has = (name: string, change: RegExp) => (r: Rec) => r.domain === name && Array.isArray(r.changes) && r.changes.some((c: string) => change.test(c));

  /** A watch of one domain sees it stopped and started again (virsh, from the test, is not counted). */
  const watchStopAndStart = async (args: string[], name: string) => {
    const w = jsonLines(start(args));
    await w.waitFor('the first record', has(name, /^watching$/), WAIT_MS);
    virsh('destroy', name);
    await w.waitFor('the stop', has(name, /^domain stopped: shut off/), WAIT_MS);
    virsh('start', name);
    await w.waitFor('the start', has(name, /^domain started/), WAIT_MS);
  };

  before(function () {
    this.timeout(20 * 60_000);
    setupHost();
    removeLeftovers(PREFIX);
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-watchrpc-'));
    writeFileSync(join(dir, 'agents.json'), '{"domains":{}}\n');
    const counter = virshCountingPath(dir);
    spawnLog = counter.log;
    env = { ...process.env, PATH: `${counter.bin}:${process.env.PATH}`, VCPUCTL_LOCK_DIR: join(dir, 'locks') };
  });

  afterEach(() => Promise.all(children.splice(0).map(stop)));

  after(async function () {
    this.timeout(120_000);
    for (const d of domains) removeDomain(d);
    await proxy?.stop();
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('watch --json: a plain `virsh setvcpus` (the poll), a stop and a start (events), each with its verdict; no virsh process', async () => {
    writeFileSync(spawnLog, '');
    const name = running(1, 3);
    const w = jsonLines(start(['--json', 'watch', name, '--host-poll', '1']));
    const first = await w.waitFor('the first record', has(name, /^watching$/), WAIT_MS);
    assert.deepEqual(first.libvirt, { live: { current: 1, maximum: 3 }, config: { current: 1, maximum: 3 } });
    virsh('setvcpus', name, '2', '--live');
    const added = await w.waitFor('the count change', has(name, /^libvirt live count 1 -> 2$/), WAIT_MS);
    assert.ok(added.changes.includes('QEMU plugged 1 -> 2'), added.changes.join());
    virsh('destroy', name);
    const stopped = await w.waitFor('the stop', has(name, /^domain stopped: shut off/), WAIT_MS);
    assert.deepEqual(
      stopped.verdict.findings.map((f: Rec) => f.kind),
      ['DOMAIN_NOT_RUNNING'],
    );
    virsh('start', name);
    await w.waitFor('the start', has(name, /^domain started/), WAIT_MS);
    assert.deepEqual(spawned(), [], 'watch started no virsh process');
  });

  it('the changes come from the registered events, not the poll: a stop and a start; no virsh process', async () => {
    writeFileSync(spawnLog, '');
    const name = running(1, 2);
    await watchStopAndStart(['--json', 'watch', name, ...NO_POLL], name);
    assert.deepEqual(spawned(), []);
  });

  it("the driver's events are the ones `virsh event --all` prints for the same changes (lifecycle, device-added, metadata-change)", async () => {
    const name = running(1, 2, "<controller type='virtio-serial'/>");
    const driver = new LibvirtDriver(URI);
    const rpcEvents: string[] = [];
    const stream = driver.events({ event: (e) => e.domain === name && rpcEvents.push(`${e.kind}: ${e.detail}`), reconnected: () => undefined, lost: () => undefined });
    const virshChild = spawn('virsh', ['-c', URI, 'event', '--all', '--loop'], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, LC_ALL: 'C' } });
    children.push(virshChild);
    let virshOut = '';
    virshChild.stdout!.setEncoding('utf8').on('data', (d: string) => (virshOut += d));
    try {
      // Both are registered once a first event reaches both.
      for (let i = 0; i < 100 && !(rpcEvents.length && virshOut.includes(name)); i++) {
        virsh('metadata', name, '--uri', 'http://vcpuctl.example/probe/1', '--key', 'p', '--set', `<p i="${i}"/>`, '--live');
        await new Promise((r) => setTimeout(r, 100));
      }
      rpcEvents.length = 0;
      virshOut = '';
      const file = join(dir, `${name}-channel.xml`);
      writeFileSync(file, "<channel type='unix'><source mode='bind'/><target type='virtio' name='org.vcpuctl.agent.0'/></channel>");
      virsh('attach-device', name, file, '--live');
      virsh('destroy', name);
      virsh('start', name);
      const fromVirsh = () =>
        virshOut
          .split('\n')
          .map((l) => parseEventLine(l))
          .filter((e) => e?.domain === name)
          .map((e) => `${e!.kind}: ${e!.detail}`);
      for (const end = Date.now() + WAIT_MS; Date.now() < end && !(fromVirsh().includes('lifecycle: Started Booted') && rpcEvents.includes('lifecycle: Started Booted'));) await new Promise((r) => setTimeout(r, 100));
      assert.ok(rpcEvents.includes('device-added: channel0') && rpcEvents.includes('lifecycle: Stopped Destroyed'), rpcEvents.join('\n'));
      // virsh --all also prints the events watch does not register for (none of these changes raises one).
      assert.deepEqual(rpcEvents, fromVirsh());
      assert.equal(driver.spawns, 0);
    } finally {
      stream.close();
      await driver.close();
    }
  });

  it('exporter: the series from the cache, and a stop seen from its event; no virsh process', async () => {
    writeFileSync(spawnLog, '');
    const name = running(2, 4);
    const uuid = virsh('domuuid', name).trim();
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const c = start(['exporter', name, '--listen', `127.0.0.1:${port}`, ...NO_POLL]);
    let err = '';
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    const labels = `domain="${name}",uuid="${uuid}",uri="qemu:///system"`;
    const until = async (want: string) => {
      let body = '';
      for (const end = Date.now() + WAIT_MS; Date.now() < end && !body.includes(want); await new Promise((r) => setTimeout(r, 100))) body = await httpGet(`http://127.0.0.1:${port}/metrics`).catch(() => '');
      assert.ok(body.includes(want), `${want} missing:\n${body}\n${err}`);
      return body;
    };
    const body = await until(`vcpuctl_qemu_vcpus_plugged{${labels}} 2`);
    assert.ok(body.includes(`vcpuctl_libvirt_vcpus_current{${labels},view="live"} 2`));
    assert.ok(body.includes(`vcpuctl_domain_running{${labels}} 1`), body);
    virsh('destroy', name);
    await until(`vcpuctl_domain_running{${labels}} 0`);
    assert.deepEqual(spawned(), [], 'the exporter started no virsh process');
  });

  it("libvirtd's socket cut and back (through a proxy): the loss and the return are said as before, the events are registered again on the new connection; no virsh process", async () => {
    writeFileSync(spawnLog, '');
    proxy = new UnixProxy(join(dir, 'libvirt-sock'), libvirtSocket());
    await proxy.start();
    const name = running(1, 2);
    const w = jsonLines(start(['--json', '-c', `qemu+unix:///system?socket=${proxy.path}`, 'watch', name, ...NO_POLL]));
    await w.waitFor('the first record', has(name, /^watching$/), WAIT_MS);
    const cutAt = w.records.length;
    await proxy.stop();
    const lost = await w.waitFor('the loss', (r) => /^libvirt event stream lost \(.+\); retrying in \d+ ms$/.test(r.notice ?? ''), WAIT_MS, cutAt);
    assert.match(lost.notice, /libvirt/);
    const backAt = w.records.length;
    await proxy.start();
    await w.waitFor('the return', (r) => r.notice === 'libvirt event stream back: re-reading every domain', WAIT_MS, backAt);
    virsh('destroy', name);
    await w.waitFor('a stop, from an event on the new connection', has(name, /^domain stopped: shut off/), WAIT_MS, backAt);
    assert.deepEqual(spawned(), []);
  });

  it('the real libvirtd stopped and started under a watch: the loss and the return said, the events registered again (a stop after it is seen); no virsh process', async () => {
    writeFileSync(spawnLog, '');
    const name = running(1, 2);
    const w = jsonLines(start(['--json', 'watch', name, ...NO_POLL]));
    await w.waitFor('the first record', has(name, /^watching$/), WAIT_MS);
    const restartAt = w.records.length;
    restartLibvirtd(); // running domains survive it; libvirtd reconnects to their QEMUs
    await w.waitFor('the loss', (r) => /^libvirt event stream lost \(.+\); retrying in \d+ ms$/.test(r.notice ?? ''), WAIT_MS, restartAt);
    await w.waitFor('the return', (r) => r.notice === 'libvirt event stream back: re-reading every domain', WAIT_MS, restartAt);
    const backAt = w.records.length;
    virsh('destroy', name);
    await w.waitFor('a stop, from an event on the new connection', has(name, /^domain stopped: shut off/), WAIT_MS, backAt);
    assert.deepEqual(spawned(), []);
  });

  it('keepalive: the daemon pings a connection that asked for it, and the pings are answered (the connection stays open)', async function () {
    this.timeout(60_000);
    const rpc = await LibvirtRpc.open(unixTransport(libvirtSocket()), 'qemu:///system');
    try {
      let failure: Error | undefined;
      rpc.onFailure((e) => (failure = e));
      assert.equal(await rpc.startKeepalive(), true, 'libvirtd 9.0 speaks keepalive');
      // The daemon pings after its keepalive_interval (5 s) of silence from this side.
      for (const end = Date.now() + 20_000; Date.now() < end && rpc.keepalive.pingsAnswered < 2;) await new Promise((r) => setTimeout(r, 250));
      assert.ok(rpc.keepalive.pingsAnswered >= 2, `pings answered: ${rpc.keepalive.pingsAnswered}`);
      assert.equal(failure, undefined);
      assert.ok((await rpc.listAllDomains()).length >= 0, 'still usable');
    } finally {
      await rpc.close();
    }
  });

  it("through qemu+ssh:// to the test's own sshd: the stop and the start from events, one ssh, no virsh process", async function () {
    this.timeout(120_000);
    sshd = await TestSshd.start();
    const sshCount = () => sshd!.sshStarted().length;
    writeFileSync(spawnLog, '');
    const name = running(1, 2);
    const before = sshCount();
    await watchStopAndStart(['--json', '-c', sshd.uri(), 'watch', name, ...NO_POLL], name);
    assert.deepEqual(spawned(), []);
    assert.equal(sshCount() - before, 1, `one ssh for the reads and the events:\n${sshd.output}`);
  });
});
