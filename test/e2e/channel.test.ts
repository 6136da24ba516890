/**
 * The agent's virtio-serial channel on a real guest: the agent runs with
 * --channel before the domain has any channel; the channel is hot-plugged
 * (virsh attach-device --live) and the running agent serves it; the host
 * reaches it through the unix socket libvirt names in the live XML, with the
 * project's AgentClient and no token; a host that disconnects mid-frame does
 * not corrupt the next session. One guest of its own.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentClient } from '@vcpuctl/host';
import { setupHost, vcpuCount, vcpuctlAsync, virsh } from '../helpers/libvirt';
import { TestSshd } from '../helpers/sshd';
import { UPGRADE, frameHeader, rawHost } from '../helpers/raw-ws-host';
import { until } from './e2e-helpers';
import { AGENT_CHANNEL, TestGuest, channelXml, removeRigLeftovers } from './rig/guest';

describe('e2e: the agent over a virtio-serial channel', function () {
  this.timeout(180_000);
  let g: TestGuest | undefined;
  let dir: string;
  let socket: string;

  before(async function () {
    this.timeout(20 * 60_000); // a fresh machine installs QEMU and libvirt first
    setupHost();
    removeRigLeftovers();
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-e2e-channel-'));
    g = await TestGuest.boot({ current: 1, maximum: 2, agentChannel: true });
    await g.waitForAgent();
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed' && g) process.stderr.write(`--- ${g.name} console ---\n${g.consoleTail(60)}\n`);
  });
  after(() => {
    g?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function snapshotOverChannel(timeoutMs = 10_000): Promise<{ online: string; uuid: string }> {
    const c = await AgentClient.connect({ url: TestGuest.channelUrl(socket), token: undefined }, { timeoutMs });
    try {
      return { online: (await c.snapshot(timeoutMs)).online, uuid: c.hello.productUuid.toLowerCase() };
    } finally {
      await c.close();
    }
  }

  it('a channel hot-plugged into the running domain is served by the already running agent, without a token', async () => {
    assert.equal(g!.channelSocket(), undefined, 'the domain has no channel at boot');
    const xml = join(dir, 'channel.xml');
    writeFileSync(xml, channelXml());
    virsh('attach-device', g!.name, xml, '--live');
    socket = g!.channelSocket()!;
    assert.ok(socket, `libvirt names the socket of ${AGENT_CHANNEL} in the live XML`);
    let snap: { online: string; uuid: string } | undefined;
    await until('the agent to serve the hot-plugged channel', 60_000, async () => {
      snap = await snapshotOverChannel(3000).catch(() => undefined);
      return snap !== undefined;
    });
    assert.equal(snap!.online, '0');
    assert.equal(snap!.uuid, g!.uuid.toLowerCase(), 'the agent answering is this guest');
  });

  it('each host connection is a fresh session', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await snapshotOverChannel()).online, '0');
  });

  it('a channel unplugged and plugged again is served again by the same agent, without a restart', async () => {
    const xml = join(dir, 'channel.xml');
    const live = join(dir, 'live-channel.xml');
    writeFileSync(live, g!.liveChannel()!);
    virsh('detach-device', g!.name, live, '--live');
    await until('libvirt to drop the channel', 30_000, () => g!.channelSocket() === undefined);
    await until('the agent to notice the port is gone', 30_000, () => /port lost \(\/dev\/vport\d+p\d+: ENODEV\)/.test(g!.console()));
    virsh('attach-device', g!.name, xml, '--live');
    socket = g!.channelSocket()!;
    let snap: { online: string; uuid: string } | undefined;
    await until('the agent to serve the channel again', 60_000, async () => {
      snap = await snapshotOverChannel(3000).catch(() => undefined);
      return snap !== undefined;
    });
    assert.equal(snap!.uuid, g!.uuid.toLowerCase());
    assert.equal((g!.console().match(/vcpuctl-agent: listening on/g) ?? []).length, 1, 'the agent was never restarted');
  });

  it('a host that disconnects in the middle of a frame does not corrupt the next session', async () => {
    const killed = await rawHost(socket, UPGRADE, /\r\n\r\n[\s\S]{10,}/, 10_000);
    assert.match(killed.reply, /^HTTP\/1\.1 101 /, 'the raw host got its upgrade');
    // Half of a frame that announces 500 bytes, then the host is gone, as a killed controller.
    await killed.end(Buffer.concat([frameHeader(500), Buffer.alloc(40, 0x55)]));
    assert.equal((await snapshotOverChannel()).online, '0');
  });

  it("through qemu+ssh:// to the test's own sshd: set 2 is confirmed by the agent over the channel, forwarded by the same ssh", async () => {
    const sshd = await TestSshd.start();
    const tmp = join(dir, 'tmp'); // vcpuctl's own temp dir, to see that the forward's private socket is gone afterwards
    mkdirSync(tmp);
    try {
      const uri = sshd.uri();
      const env = { VCPUCTL_LOCK_DIR: join(dir, 'locks'), TMPDIR: tmp };
      const r = await vcpuctlAsync(['-c', uri, '--report-dir', join(dir, 'reports'), '--json', 'set', g!.name, '2'], env);
      assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}\nsshd: ${sshd.output}`);
      const report = JSON.parse(r.stdout).report;
      assert.deepEqual([report.uri, report.hostName], [uri, '127.0.0.1']);
      for (const side of [report.before.guest, report.after.guest]) {
        assert.deepEqual([side.reachable, side.via, side.through], [true, 'channel', 'ssh to 127.0.0.1'], side.error);
      }
      assert.equal(report.after.guest.productUuid.toLowerCase(), g!.uuid.toLowerCase(), 'the agent that answered is this guest');
      assert.equal(report.after.guest.snapshot.present, '0-1');
      assert.ok(
        report.kernelLines.some((k: { message: string }) => k.message === 'CPU1 has been hot-added'),
        'kernel evidence came over the forwarded channel',
      );
      assert.ok(report.verdict.ok, JSON.stringify(report.verdict));
      assert.equal(vcpuCount(g!.name)['current live'], 2);
      // The channel was reached by an ssh -L to the socket libvirt named, with the URI's key and port: no other port, no other key.
      const argv = sshd.sshStarted();
      const forwards = argv.filter((a) => a.includes(' -L '));
      assert.ok(forwards.length >= 1, argv.join('\n'));
      for (const f of forwards) {
        assert.ok(f.includes(`-p ${sshd.port} -l root -i ${sshd.keyfile} -T -e none -o StrictHostKeyChecking=no -N `), f);
        assert.ok(f.endsWith(`:${g!.channelSocket()} -- 127.0.0.1`), f);
      }
      assert.ok(
        argv.some((a) => /virt-ssh-helper/.test(a)),
        'libvirt went through the same wrapper',
      );
      // The ssh children were reaped and their private sockets removed.
      assert.deepEqual(readdirSync(tmp), []);
      const md = readFileSync(join(dir, 'reports', `${report.id}.md`), 'utf8');
      assert.match(md, /- libvirt: `qemu\+ssh:\/\/root@127\.0\.0\.1:\d+\/system\?\S+` \(host 127\.0\.0\.1\)/);
      assert.match(md, /via channel \(ssh to 127\.0\.0\.1\)/);
      // status through the same URI, as text: names the host and how the guest was reached.
      const s = await vcpuctlAsync(['-c', uri, 'status', g!.name], env);
      assert.equal(s.code, 0, s.stderr);
      assert.match(s.stdout, /^ {2}host: 127\.0\.0\.1 \(qemu\+ssh:/m);
      assert.match(s.stdout, /guest .*\(via channel, ssh to 127\.0\.0\.1\): present 0-1/);
    } finally {
      await sshd.stop();
    }
    assert.ok(!existsSync(sshd.dir));
  });
});
