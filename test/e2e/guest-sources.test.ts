/**
 * How vcpuctl reaches a real guest without configuration (no agents file, no
 * --agent), on one shared rig guest booted with qemu-guest-agent's channel:
 *   (a) only qemu-guest-agent runs: `set` onlines the hot-added vCPU through
 *       guest-set-vcpus, with the agent's guards, and says the view is reduced;
 *   (b) vcpuctl-agent runs --channel, `vcpuctl agent attach` adds the channel
 *       live, and `set` is confirmed over it;
 *   (c) a controller killed mid-session, or gone mid-frame, does not stop the next;
 *   (d) two controllers at once take turns; a channel held by another program
 *       or another vcpuctl is named as such.
 * The steps run in order on the same guest.
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliResult, URI, VCPUCTL, vcpuCount, vcpuctlAsync, virsh } from '../helpers/libvirt';
import { INTENT_NAMESPACE } from '@vcpuctl/host';
import { lockHolder } from '@vcpuctl/host/dist/core/lock';
import { FakeGuest, honestSnapshot } from '../helpers/fake-guest';
import { httpGet } from '../helpers/http-get';
import { kinds, until } from './e2e-helpers';
import { TestSshd } from '../helpers/sshd';
import { channelGuest } from './guests';
import { TestGuest } from './rig/guest';

const CHANNEL = 'org.vcpuctl.agent.0';

/** The guest's online list, from the real lscpu inside it. */
async function guestOnline(g: TestGuest): Promise<string> {
  const lscpu = await g.helper('GET', '/lscpu');
  return /^On-line CPU\(s\) list:\s+(\S+)$/m.exec(lscpu)?.[1] ?? '';
}

/** Opens the channel's host socket and reads until the agent's 101 has come (or the socket ends). */
function rawChannel(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let got = '';
    const timer = setTimeout(() => reject(new Error('no 101 on the channel within 30 s')), 30_000);
    s.once('error', reject);
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('101')) {
        clearTimeout(timer);
        s.removeAllListeners('data');
        resolve(s);
      }
    });
    s.write('GET / HTTP/1.1\r\nHost: channel\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  });
}

describe('e2e: guest sources on a real guest (qemu-guest-agent, the agent channel, discovery)', function () {
  this.timeout(240_000);
  let g: TestGuest;
  let dir: string;
  let locks: string;
  const cli = (args: string[]): Promise<CliResult> => vcpuctlAsync(['--report-dir', join(dir, 'reports'), ...args], { VCPUCTL_LOCK_DIR: locks });
  const statusJson = async (args: string[] = []) => {
    const r = await cli(['--json', ...args, 'status', g.name]);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    return JSON.parse(r.stdout)[0];
  };

  before(async function () {
    this.timeout(20 * 60_000);
    g = await channelGuest();
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-e2e-sources-'));
    locks = join(dir, 'locks');
  });
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('(a) a guest running only qemu-guest-agent: set 2 onlines the hot-added vCPU, the JSON names qemu-ga', async () => {
    await g.helper('POST', '/agent/kill');
    await g.helper('POST', '/qemu-ga/start');
    await until('qemu-ga answering guest-ping', 60_000, () => spawnSync('virsh', ['-q', '-c', URI, 'qemu-agent-command', g.name, '{"execute":"guest-ping"}'], { stdio: 'ignore' }).status === 0);
    const r = await cli(['--json', 'set', g.name, '2']);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const report = JSON.parse(r.stdout).report;
    assert.equal(report.after.guest.via, 'qemu-ga');
    assert.equal(report.before.guest.via, 'qemu-ga');
    assert.ok(report.verdict.ok);
    assert.deepEqual(kinds(report), ['GUEST_VIEW_REDUCED', 'LIVE_CONFIG_DIFFER']);
    assert.ok(
      report.timeline.some((t: { what: string }) => /online hot-added cpu1/.test(t.what)),
      'vcpuctl asked qemu-ga to online cpu1',
    );
    assert.equal(report.after.guest.snapshot.online, '0-1');
    assert.equal(await guestOnline(g), '0,1', 'lscpu inside the guest');
    assert.equal(vcpuCount(g.name)['current live'], 2);
  });

  it("(a) qemu-guest-agent through qemu+ssh:// to the test's own sshd: libvirt carries guest-get-vcpus, the host is named", async () => {
    const sshd = await TestSshd.start();
    try {
      const r = await cli(['-c', sshd.uri(), '--json', 'status', g.name]);
      assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}\nsshd: ${sshd.output}`);
      const s = JSON.parse(r.stdout)[0];
      assert.deepEqual([s.hostName, s.guest.reachable, s.guest.via, s.guest.snapshot.online], ['127.0.0.1', true, 'qemu-ga', '0-1'], s.guest.error);
      assert.equal(s.guest.through, undefined, 'qemu-ga needs no forward: libvirt carries it');
      assert.ok(!readFileSync(sshd.argvLog, 'utf8').includes(' -L '), 'no channel forward was opened');
    } finally {
      await sshd.stop();
    }
  });

  it('(a) guest-side online/offline through qemu-ga keep the guards: cpu0 cannot be offlined, nothing changed', async () => {
    const refused = await cli(['offline', g.name, '0']);
    assert.equal(refused.code, 9, refused.stderr);
    assert.match(refused.stderr, /^vcpuctl: CPU_REFUSED: CPU 0 cannot be offlined/);
    const absent = await cli(['online', g.name, '2']);
    assert.equal(absent.code, 9, absent.stderr);
    assert.match(absent.stderr, /CPU 2 does not exist/);
    assert.equal(await guestOnline(g), '0,1');
    const off = await cli(['offline', g.name, '1']);
    assert.equal(off.code, 0, off.stderr);
    assert.equal(await guestOnline(g), '0');
    const on = await cli(['online', g.name, '1']);
    assert.equal(on.code, 0, on.stderr);
    assert.equal(await guestOnline(g), '0,1');
    const text = await cli(['status', g.name]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /guest \(via qemu-ga\): present 0-1, online 0-1/);
    assert.match(text.stdout, /GUEST_VIEW_REDUCED \(expected\): the guest view comes from qemu-ga: no CPU topology/);
  });

  it('(b) agent attach adds the channel live; set 3 is then confirmed over it, no agents file, no --agent', async () => {
    await g.helper('POST', '/agent/start'); // --channel: waits for the port to appear
    const a = await cli(['--json', 'agent', 'attach', g.name]);
    assert.equal(a.code, 0, a.stderr);
    const { guest: opened, ...sides } = JSON.parse(a.stdout);
    assert.deepEqual(sides, { domain: g.name, channel: CHANNEL, live: 'added', config: 'added' });
    assert.ok(opened === 'open' || opened === 'not open', `attach says whether the guest opened the port: ${opened}`);
    // Node starts slowly over 9p under TCG: wait for the agent to answer on the channel.
    await until('the agent on the channel', 180_000, async () => (await statusJson()).guest.via === 'channel');
    // Now that it serves the channel, attach is a no-op that says the port is open.
    const again = await cli(['--json', 'agent', 'attach', g.name]);
    assert.deepEqual(JSON.parse(again.stdout), { domain: g.name, channel: CHANNEL, live: 'already', config: 'already', guest: 'open' });
    const s = await statusJson();
    assert.equal(s.guest.reachable, true);
    assert.equal(s.guest.productUuid, g.uuid);
    assert.match(s.guest.snapshot.lscpu, /^Architecture:/);
    const r = await cli(['--json', 'set', g.name, '3', '--config']);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const report = JSON.parse(r.stdout).report;
    assert.equal(report.after.guest.via, 'channel');
    assert.deepEqual(kinds(report), []);
    assert.ok(
      report.kernelLines.some((k: { message: string }) => k.message === 'CPU2 has been hot-added'),
      'kernel evidence over the channel',
    );
    assert.equal(await guestOnline(g), '0-2');
  });

  it('(c) a controller killed mid-session, or gone mid-frame, does not stop the next one', async () => {
    // Killed at several points of its session: as it takes the channel, and a little later.
    for (const delayMs of [0, 50, 150, 400]) {
      const child: ChildProcess = spawn(process.execPath, [VCPUCTL, '--report-dir', join(dir, 'reports'), 'status', g.name], { env: { ...process.env, VCPUCTL_LOCK_DIR: locks }, stdio: 'ignore' });
      const exited = new Promise((r) => child.once('exit', r));
      await until('the controller taking the channel', 30_000, () => existsSync(locks) && readdirSync(locks).some((n) => n.startsWith('channel-')));
      await new Promise((r) => setTimeout(r, delayMs));
      child.kill('SIGKILL');
      await exited;
      const s = await statusJson();
      assert.deepEqual([s.guest.reachable, s.guest.via], [true, 'channel'], `after a kill ${delayMs} ms in: ${s.guest.error}`);
    }
    // A host that goes away in the middle of a WebSocket frame.
    const path = g.channelSocket();
    assert.ok(path);
    const raw = await rawChannel(path!);
    raw.write(Buffer.from([0x82, 0xfe, 0x01, 0x00, 1, 2, 3, 4, 5, 6, 7])); // masked binary frame of 256 bytes, 3 given
    raw.destroy();
    const s = await statusJson();
    assert.deepEqual([s.guest.reachable, s.guest.via], [true, 'channel'], s.guest.error);
  });

  it('(d2) a watch holding the channel gives it up to a status and takes it back, with no line for either; an offline after it still shows', async () => {
    const watch = spawn(process.execPath, [VCPUCTL, '--json', 'watch', g.name], { env: { ...process.env, VCPUCTL_LOCK_DIR: locks }, stdio: ['ignore', 'pipe', 'inherit'] });
    const records: { changes: string[]; guest: { reachable: boolean; via?: string } }[] = [];
    let buf = '';
    watch.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        records.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
    });
    // Who has the channel: its lock (guest/channel.ts), held for as long as a session is open.
    const watchHolds = () => lockHolder(locks, `channel-${g.uuid}`) === watch.pid;
    try {
      await until('watch on the channel', 60_000, () => records.some((r) => r.guest.reachable && r.guest.via === 'channel') && watchHolds());
      const from = records.length;
      const t0 = Date.now();
      const s = await statusJson();
      assert.deepEqual([s.guest.reachable, s.guest.via], [true, 'channel'], s.guest.error);
      // Well inside --lock-wait (30 s): the watch let go at once.
      assert.ok(Date.now() - t0 < 15_000, `status took ${Date.now() - t0} ms`);
      await until('watch holding the channel again', 10_000, watchHolds);
      // Neither is news: a line for each would make a reader that runs a command per line (the Cockpit page) loop.
      assert.deepEqual(records.slice(from), [], 'lending the channel and taking it back print nothing');
      const offAt = Date.now();
      await g.helper('POST', '/cpu-online?cpu=2&value=0');
      await until('the offline shown', 10_000, () => records.slice(from).some((r) => r.changes.includes('cpu2 OFFLINED')));
      assert.ok(Date.now() - offAt < 3000, `the offline shown after ${Date.now() - offAt} ms`);
    } finally {
      watch.kill();
      await new Promise((r) => (watch.exitCode !== null || watch.signalCode !== null ? r(undefined) : watch.once('exit', r)));
      await g.helper('POST', '/cpu-online?cpu=2&value=1').catch(() => undefined);
    }
  });

  /** A vcpuctl child printing JSON lines, with its records. */
  function follow(args: string[]): { child: ChildProcess; records: Record<string, any>[]; stderr(): string; stop(): Promise<void> } {
    const child = spawn(process.execPath, [VCPUCTL, ...args], { env: { ...process.env, VCPUCTL_LOCK_DIR: locks }, stdio: ['ignore', 'pipe', 'pipe'] });
    const records: Record<string, any>[] = [];
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('{')) records.push({ ...JSON.parse(line), seenAtMs: Date.now() });
      }
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    return {
      child,
      records,
      stderr: () => err,
      stop: async () => {
        child.kill();
        await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));
      },
    };
  }

  /**
   * Under a running watch on the channel: `disrupt` takes the agent away and
   * brings it back (it resolves once started again); the watch must say it went
   * away within 3 s, be back within 3 s of the agent serving its channel, name
   * why (`named`), and show an offline made afterwards within 3 s.
   */
  async function underWatch(disrupt: () => Promise<void>, named: string): Promise<void> {
    const w = follow(['--json', 'watch', g.name]);
    // On a failure, what watch printed says why.
    const seen = () => `${w.records.map((r) => `${new Date(r.seenAtMs).toISOString()} ${JSON.stringify({ changes: r.changes, guest: r.guest })}`).join('\n')}\n--- stderr ---\n${w.stderr()}`;
    try {
      const has = (from: number, pred: (r: Record<string, any>) => boolean) => w.records.slice(from).find(pred);
      await until('watch on the channel', 60_000, () => !!has(0, (r) => r.guest.reachable && r.guest.via === 'channel'));
      let from = w.records.length;
      const goneAt = Date.now();
      const back = disrupt();
      await until('watch saying the agent went away', 10_000, () => !!has(from, (r) => r.changes.includes('agent went away'))).catch((err) => {
        throw new Error(`${(err as Error).message}; watch printed:\n${seen()}`);
      });
      const gone = has(from, (r) => r.changes.includes('agent went away'))!;
      assert.ok(gone.seenAtMs - goneAt <= 3000, `the agent's absence shown ${gone.seenAtMs - goneAt} ms after it`);
      from = w.records.length;
      await back;
      // The agent starts slowly under TCG (Node over 9p): time the reconnect from when it answers on the channel.
      await until('the agent serving the channel again', 180_000, async () => virsh('dumpxml', g.name).includes(`name='${CHANNEL}' state='connected'`));
      const readyAt = Date.now();
      // Meanwhile the watch may read the guest through qemu-guest-agent (if it runs); it comes back to the channel.
      const onChannel = (r: Record<string, any>) => r.changes.includes('agent connected') && r.guest.via === 'channel';
      await until('watch back on the channel', 30_000, () => !!has(from, onChannel));
      const again = has(from, onChannel)!;
      assert.ok(again.seenAtMs - readyAt <= 3000, `reconnected ${again.seenAtMs - readyAt} ms after the agent was back`);
      assert.ok(again.changes.includes(named), JSON.stringify(again.changes));
      from = w.records.length;
      const offAt = Date.now();
      await g.helper('POST', '/cpu-online?cpu=2&value=0');
      await until('the offline shown', 10_000, () => !!has(from, (r) => r.changes.includes('cpu2 OFFLINED')));
      assert.ok(has(from, (r) => r.changes.includes('cpu2 OFFLINED'))!.seenAtMs - offAt <= 3000);
    } finally {
      await w.stop();
      // Cleanup only: after a reset the helper may not be up yet, and the test's own failure is the one to see.
      await g.helper('POST', '/cpu-online?cpu=2&value=1').catch(() => undefined);
    }
  }

  it('(d3) the agent restarted under a running watch: gone within 3 s, back within 3 s of the agent, the restart named, a later offline shown within 3 s (issue 20)', async () => {
    await underWatch(async () => {
      await g.helper('POST', '/agent/kill');
      await g.helper('POST', '/agent/start');
    }, 'agent restarted');
  });

  it('(d4) a watch and an exporter following one guest for 30 s share the channel: sessions bounded, the second says it reads every 30 s; a status still answers within 2 s (issue 20)', async () => {
    const w = follow(['--json', 'watch', g.name]);
    let e: ReturnType<typeof follow> | undefined;
    try {
      await until('watch on the channel', 60_000, () => w.records.some((r) => r.guest.reachable && r.guest.via === 'channel'));
      const consoleAt = g.console().length;
      e = follow(['exporter', '--listen', '127.0.0.1:0', g.name]);
      let err = '';
      e.child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      await until('the exporter serving', 30_000, () => /serving http:\/\/\S+\/metrics/.test(err));
      const url = /serving (http:\/\/\S+\/metrics)/.exec(err)![1]!;
      await new Promise((r) => setTimeout(r, 30_000));
      const metrics = await httpGet(url);
      assert.match(metrics, new RegExp(`vcpuctl_guest_channel_shared\\{domain="${g.name}"[^}]*\\} 1`), 'the exporter says it reads the guest now and then');
      assert.match(metrics, new RegExp(`vcpuctl_guest_cpus_online\\{domain="${g.name}"[^}]*\\} [1-9]`), 'and it has a guest view');
      // Without sharing, the two took the channel from each other about every 0.5 s (60+ sessions in 30 s).
      // Counted by the agent (its console line per session): taking the channel back after a lend prints nothing in watch.
      const sessions = (
        g
          .console()
          .slice(consoleAt)
          .match(/#\d+: connected\r?$/gm) ?? []
      ).length;
      assert.ok(sessions <= 8, `${sessions} channel sessions in 30 s`);
      const t0 = Date.now();
      const st = await statusJson();
      assert.deepEqual([st.guest.reachable, st.guest.via], [true, 'channel'], st.guest.error);
      assert.ok(Date.now() - t0 < 2000, `status took ${Date.now() - t0} ms with two followers on the channel`);
    } finally {
      await Promise.all([w.stop(), e?.stop()]);
    }
  });

  it('(d) two controllers at once take turns on the channel; one held elsewhere is named, not waited on forever', async () => {
    const both = await Promise.all([cli(['--json', 'status', g.name]), cli(['--json', 'status', g.name])]);
    for (const r of both) {
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual([JSON.parse(r.stdout)[0].guest.reachable, JSON.parse(r.stdout)[0].guest.via], [true, 'channel']);
    }
    // A real holder: another process that took the channel lock with vcpuctl's own lock code, then dies.
    const lockModule = require.resolve('@vcpuctl/host/dist/core/lock');
    const holder = spawn(
      process.execPath,
      ['-e', `require(${JSON.stringify(lockModule)}).lockDomain(${JSON.stringify(locks)}, ${JSON.stringify(`channel-${g.uuid}`)}, 0)` + `.then(() => { process.stdout.write('held\\n'); setInterval(() => undefined, 1000); })`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
        holder.once('exit', (code) => reject(new Error(`the lock holder exited (${code}) before taking the lock`)));
      });
      const r = await cli(['--lock-wait', '1', 'status', g.name]);
      assert.equal(r.code, 12, r.stderr);
      assert.match(r.stderr, new RegExp(`^vcpuctl: LOCKED: another vcpuctl \\(pid ${holder.pid}\\) is using the org\\.vcpuctl\\.agent\\.0 channel of ${g.name}`));
      assert.equal(r.stderr.trim().split('\n').length, 1);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => (holder.exitCode !== null || holder.signalCode !== null ? r(undefined) : holder.once('exit', r)));
    }
    // The holder gone, its lock is taken over.
    assert.equal((await statusJson()).guest.via, 'channel');
    // Another program holding QEMU's one host connection.
    const raw = await rawChannel(g.channelSocket()!);
    try {
      const r = await cli(['status', g.name]);
      assert.equal(r.code, 12, r.stderr);
      assert.match(r.stderr, /^vcpuctl: LOCKED: another program holds the org\.vcpuctl\.agent\.0 channel/);
    } finally {
      raw.destroy();
    }
    assert.equal((await statusJson()).guest.via, 'channel');
  });

  it('(b) agent detach removes the channel again; discovery falls back to qemu-guest-agent', async () => {
    const d = await cli(['--json', 'agent', 'detach', g.name]);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(JSON.parse(d.stdout), { domain: g.name, channel: CHANNEL, live: 'removed', config: 'removed' });
    assert.ok(!virsh('dumpxml', g.name).includes(CHANNEL));
    const s = await statusJson();
    assert.deepEqual([s.guest.reachable, s.guest.via], [true, 'qemu-ga']);
  });

  describe("(e) the guest's word on offline CPUs, checked with the hypervisor's accounting (issue 15)", () => {
    const viaAgent = () => ['--agent', g.agentUrl, '--token-file', g.tokenFile];
    let fake: FakeGuest | undefined;
    after(async () => {
      await fake?.close();
      await g.helper('POST', '/busy/stop');
    });

    it('a truthful guest-side offline is confirmed by the host: the vCPU stopped running; the idle online ones are not taken for offline', async () => {
      const r = await cli(['--json', ...viaAgent(), 'set', g.name, '2']);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout).report;
      assert.equal(report.timeline.find((t: { what: string }) => /^host check/.test(t.what))?.what.match(/none contradicted/)?.[0], 'none contradicted', JSON.stringify(report.timeline));
      const v = await cli(['--json', ...viaAgent(), 'verify', g.name]);
      assert.equal(v.code, 0, v.stdout);
      assert.deepEqual(
        kinds(JSON.parse(v.stdout).report).filter((k) => k === 'GUEST_CLAIM_CONTRADICTED' || k === 'HOTADDED_NEVER_RAN'),
        [],
      );
      const on = await cli([...viaAgent(), 'online', g.name, '2']);
      assert.equal(on.code, 0, on.stderr);
    });

    it('an "agent" that claims a CPU offline while it runs a busy loop is caught: verify exits 3, set records no intent', async () => {
      // The real guest keeps CPU 2 online and busy; a fake agent answering for this domain says it is offline.
      await g.helper('POST', '/busy?cpu=2&seconds=60');
      const claim = { ...honestSnapshot(3, 2), present: '0-2', online: '0-1', offline: '2' };
      fake = await FakeGuest.start(g.uuid, { snapshot: () => claim });
      const intentNow = () => spawnSync('virsh', ['-c', URI, 'metadata', g.name, '--live', INTENT_NAMESPACE], { encoding: 'utf8' }).stdout;
      const intentBefore = intentNow();
      const v = await cli(['--json', '--agent', fake.url, 'verify', g.name]);
      assert.equal(v.code, 3, `${v.stdout}\n${v.stderr}`);
      const f = JSON.parse(v.stdout).report.verdict.findings.find((x: { kind: string }) => x.kind === 'GUEST_CLAIM_CONTRADICTED');
      assert.match(f?.message ?? '', /^vCPU 2, reported offline by the guest, ran \d+ ms in the last \d+\.\d s/);
      const set = await cli(['--json', '--agent', fake.url, 'set', g.name, '2']);
      assert.equal(set.code, 3, `${set.stdout}\n${set.stderr}`);
      assert.match(set.stderr, /GUEST_CLAIM_CONTRADICTED/);
      assert.equal(intentNow(), intentBefore, 'the intent is what it was');
    });
  });

  // Last on this guest, after every other step: it is reset, then its agents are replaced by liars.
  describe('(f, g) the guest reset under a watch, then its agents replaced by ones that lie', () => {
    it('(f) virsh reset under a running watch: gone within 3 s, back within 3 s of the agent, the reset named, a later offline shown within 3 s (issue 20)', async () => {
      // Last on this guest: it boots again, with the helper and the agent (not qemu-ga) started by its init.
      const a = await cli(['agent', 'attach', g.name]); // detached by (b) above
      assert.equal(a.code, 0, a.stderr);
      await until('the agent serving the re-attached channel', 60_000, async () => virsh('dumpxml', g.name).includes(`name='${CHANNEL}' state='connected'`));
      await underWatch(async () => {
        virsh('reset', g.name);
        await g.waitForAgent(180_000);
      }, 'guest rebooted or reset (new boot id)');
    });

    /** Runs `verify` until it exits 13 (the replaced agent reached and refused), and gives the GUEST_MISBEHAVING finding's message. */
    async function misbehavingOnceReached(what: string, ms: number): Promise<string> {
      let v: CliResult | undefined;
      await until(what, ms, async () => {
        v = await cli(['--json', 'verify', g.name]);
        return v.code === 13;
      });
      const f = JSON.parse(v!.stdout).report.verdict.findings.find((x: { kind: string }) => x.kind === 'GUEST_MISBEHAVING');
      return f?.message ?? '';
    }

    it('(g) the agent replaced in the guest by one that lies (escapes, a list past every bound) over the channel: GUEST_MISBEHAVING, verify exits 13, nothing raw reaches the terminal (issue 15)', async () => {
      await until('the rig helper back after the reset', 180_000, () =>
        g.helper('GET', '/cpu-online').then(
          () => true,
          () => false,
        ),
      );
      await g.helper('POST', '/agent/hostile');
      const f = await misbehavingOnceReached('the replacement answering on the channel', 180_000);
      assert.match(f, /present that is not a CPU list: .*characters; at most 32768/);
      const text = await cli(['status', g.name]);
      assert.equal(text.code, 0, text.stderr);
      assert.doesNotMatch(text.stdout + text.stderr, /[\x00-\x08\x0b-\x1f\x7f]/);
      assert.match(text.stdout, /GUEST_MISBEHAVING/);
    });

    it('(g2) qemu-guest-agent replaced in the guest by one listing 9000 vCPUs (relayed by libvirt): GUEST_MISBEHAVING, verify exits 13 (issue 15)', async () => {
      await g.helper('POST', '/qemu-ga/hostile');
      const f = await misbehavingOnceReached('the host reaching the replacement through libvirt', 120_000);
      assert.match(f, /qemu-guest-agent lists 9000 vCPUs/);
    });
  });
});
