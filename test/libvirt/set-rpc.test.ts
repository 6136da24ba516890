/**
 * The changing commands over libvirt's RPC (packages/host/src/libvirt/rpc-writer.ts)
 * against the real libvirtd, with bare QEMU domains of this run: `set`,
 * `set --config`, `set-max` and `agent attach/detach` start no virsh process
 * on qemu:///system nor through qemu+ssh:// (counted through a PATH wrapper,
 * as fleet.test.ts does), and leave the domain as virsh's path left it
 * (virsh vcpucount, the intent in dumpxml's <metadata>). URIs the RPC does
 * not take still go through virsh.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LibvirtDriver } from '@vcpuctl/host';
import { bareDomainXml, defineAndStart, removeDomain, removeLeftovers, setupHost, uniqueName, URI, vcpuCount, vcpuctl, virsh, virshCountingPath } from '../helpers/libvirt';
import { TestSshd } from '../helpers/sshd';

const PREFIX = 'vcpuctl-setrpc';

describe("set, set-max and agent attach/detach over libvirt's RPC: no virsh process (real libvirtd)", function () {
  this.timeout(120_000);
  let dir: string;
  let spawnLog: string;
  let env: Record<string, string>;
  let sshd: TestSshd | undefined;
  const domains: string[] = [];

  const spawned = () => readFileSync(spawnLog, 'utf8').split('\n').filter(Boolean);
  const cli = (args: string[], uri = URI) => {
    writeFileSync(spawnLog, '');
    const r = vcpuctl(['-c', uri, '--report-dir', join(dir, 'reports'), '--agents-file', join(dir, 'agents.json'), ...args], env);
    return { ...r, spawns: spawned() };
  };
  const running = (current: number, maximum: number) => {
    const name = uniqueName(PREFIX);
    domains.push(name);
    defineAndStart(name, bareDomainXml(name, current, maximum));
    return name;
  };
  const shutOff = (current: number, maximum: number) => {
    const name = uniqueName(PREFIX);
    domains.push(name);
    const file = join(dir, `${name}.xml`);
    writeFileSync(file, bareDomainXml(name, current, maximum));
    virsh('define', file);
    return name;
  };
  /** vcpuctl's element of <metadata>, as virsh reads it back. */
  const intentOf = (name: string, inactive: boolean) => /<vcpuctl:intent [^>]*\/>/.exec(virsh('dumpxml', ...(inactive ? ['--inactive'] : []), name))?.[0];

  before(function () {
    this.timeout(20 * 60_000);
    setupHost();
    removeLeftovers(PREFIX);
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-setrpc-'));
    writeFileSync(join(dir, 'agents.json'), '{"domains":{}}\n');
    const counter = virshCountingPath(dir);
    spawnLog = counter.log;
    env = { PATH: `${counter.bin}:${process.env.PATH}` };
  });

  after(async function () {
    this.timeout(120_000);
    for (const d of domains) removeDomain(d);
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('set DOM 2 hot-adds on a 1-of-2 domain; with no guest it is unconfirmed (exit 6), as through virsh; no virsh process', () => {
    const dom = running(1, 2);
    const r = cli(['set', dom, '2']);
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /^vcpuctl: AGENT_UNREACHABLE: /);
    assert.deepEqual(r.spawns, []);
    assert.deepEqual(vcpuCount(dom), { 'maximum config': 2, 'maximum live': 2, 'current config': 1, 'current live': 2 });
    const reportFile = /report: (\S+)\.md\)/.exec(r.stderr)![1]!;
    const report = JSON.parse(readFileSync(`${reportFile}.json`, 'utf8')) as { libvirtOperations: string[]; intent?: unknown; backend?: string };
    assert.deepEqual(report.libvirtOperations, [`virsh setvcpus ${dom} 2 --live`], 'the report names what an operator would type');
    assert.equal(report.backend, 'rpc', 'the report says how libvirt was reached');
    assert.match(readFileSync(`${reportFile}.md`, 'utf8'), /^- libvirt: `qemu:\/\/\/system` \(host [^)]+\), through libvirt's RPC$/m);
    assert.equal(report.intent, undefined, 'unconfirmed: no intent recorded');
    assert.equal(intentOf(dom, false), undefined);
  });

  it('set --config on a shut-off domain changes the config and records the intent there; no virsh process', () => {
    const dom = shutOff(1, 4);
    const r = cli(['set', '--config', dom, '3']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.spawns, []);
    assert.deepEqual(vcpuCount(dom), { 'maximum config': 4, 'current config': 3 });
    assert.match(intentOf(dom, true) ?? '', /^<vcpuctl:intent xmlns:vcpuctl="https:\/\/vcpuctl\.dev\/xmlns\/intent\/1" online="3" operation="set" strategy="config" at="[^"]+" report="[^"]+"\/>$/);
  });

  it('set --config on a running domain: live and config both to 2 (unconfirmed, exit 6); no virsh process', () => {
    const dom = running(1, 3);
    const r = cli(['set', '--config', dom, '2']);
    assert.equal(r.code, 6, r.stderr);
    assert.deepEqual(r.spawns, []);
    assert.deepEqual(vcpuCount(dom), { 'maximum config': 3, 'maximum live': 3, 'current config': 2, 'current live': 2 });
  });

  it('the intent written over the RPC reads back exactly as the one virsh metadata --set writes, live and persistent', async () => {
    const [a, b] = [running(1, 2), running(1, 2)];
    const intent = { online: 1, operation: 'set', strategy: 'none', at: '2026-12-05T00:00:00.000Z', report: 'r-1' };
    const rpc = new LibvirtDriver(URI);
    const viaVirsh = new LibvirtDriver(URI, 'virsh', { rpc: false });
    try {
      await rpc.recordIntent(a, intent, { live: true, config: true });
      await viaVirsh.recordIntent(b, intent, { live: true, config: true });
      assert.equal(rpc.backend, 'rpc');
      assert.equal(viaVirsh.backend, 'virsh');
      assert.equal(rpc.spawns, 0);
      for (const inactive of [false, true]) {
        assert.ok(intentOf(b, inactive));
        assert.equal(intentOf(a, inactive), intentOf(b, inactive), inactive ? 'persistent' : 'live');
      }
      assert.equal((await rpc.inspect(a)).domain.intent?.report, 'r-1');
    } finally {
      await rpc.close();
    }
  });

  it("over the maximum: OVER_MAXIMUM both ways, with libvirt's own words and numbers over the RPC", async () => {
    const dom = running(1, 2);
    const rpc = new LibvirtDriver(URI);
    const viaVirsh = new LibvirtDriver(URI, 'virsh', { rpc: false });
    try {
      for (const d of [rpc, viaVirsh]) {
        await assert.rejects(
          d.setVcpus(dom, 3, { live: true, config: false }),
          (e: Error & { code?: string }) => e.code === 'OVER_MAXIMUM' && /requested vcpus is greater than max allowable vcpus for the live domain: 3 > 2/.test(e.message),
        );
      }
      await assert.rejects(
        rpc.setVcpus(dom, 3, { live: true, config: false }),
        (e: { details?: { libvirt?: { name?: string; from?: string } } }) => e.details?.libvirt?.name === 'VIR_ERR_INVALID_ARG' && e.details.libvirt.from === 'VIR_FROM_QEMU',
      );
      assert.equal(rpc.spawns, 0);
      assert.equal(vcpuCount(dom)['current live'], 1);
    } finally {
      await rpc.close();
    }
  });

  it("an unknown domain is DOMAIN_NOT_FOUND in virsh's words (exit 4); a UUID and an id find the domain as virsh does", async () => {
    const r = cli(['set', `${PREFIX}-${process.pid}-nosuch`, '2']);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /^vcpuctl: DOMAIN_NOT_FOUND: failed to get domain '[^']+-nosuch'/);
    assert.deepEqual(r.spawns, []);
    const dom = running(1, 2);
    const rpc = new LibvirtDriver(URI);
    try {
      const uuid = virsh('domuuid', dom).trim();
      const id = virsh('domid', dom).trim();
      assert.equal(await rpc.uuidOf(dom), uuid);
      assert.equal(await rpc.uuidOf(uuid.toUpperCase()), uuid);
      assert.equal(await rpc.uuidOf(id), uuid);
      assert.equal((await rpc.inspect(uuid)).domain.name, dom);
    } finally {
      await rpc.close();
    }
  });

  it('qemu-guest-agent commands over the RPC fail as through virsh: not configured, not connected, not running', async () => {
    const bare = running(1, 2);
    const withGa = uniqueName(PREFIX);
    domains.push(withGa);
    defineAndStart(withGa, bareDomainXml(withGa, 1, 2).replace('</devices>', "<channel type='unix'><source mode='bind'/><target type='virtio' name='org.qemu.guest_agent.0'/></channel></devices>"));
    const off = shutOff(1, 2);
    const rpc = new LibvirtDriver(URI);
    const viaVirsh = new LibvirtDriver(URI, 'virsh', { rpc: false });
    try {
      for (const [dom, code, words] of [
        [bare, 'AGENT_UNREACHABLE', /QEMU guest agent is not configured/],
        [withGa, 'AGENT_UNREACHABLE', /QEMU guest agent is not connected/],
        [off, 'DOMAIN_NOT_RUNNING', /domain is not running/],
      ] as const) {
        const messages: string[] = [];
        for (const d of [rpc, viaVirsh]) {
          await assert.rejects(d.guestAgentPing(dom), (e: Error & { code?: string }) => {
            assert.equal(e.code, code, `${dom}: ${e.message}`);
            assert.match(e.message, words);
            messages.push(e.message);
            return true;
          });
        }
        assert.equal(messages[0], messages[1], 'the same words both ways');
      }
      assert.equal(rpc.spawns, 0);
    } finally {
      await rpc.close();
    }
  });

  it('set-max --restart --force: shutdown, destroy, new maximum, start, all over the RPC; no virsh process', () => {
    const dom = running(1, 2);
    const r = cli(['set-max', dom, '3', '--restart', '--force', '--shutdown-timeout', '1', '--agent-wait', '0']);
    assert.equal(r.code, 6, r.stderr); // restarted, but no agent to confirm
    assert.deepEqual(r.spawns, []);
    assert.deepEqual(vcpuCount(dom), { 'maximum config': 3, 'maximum live': 3, 'current config': 1, 'current live': 1 });
    assert.equal(virsh('domstate', dom).trim(), 'running');
  });

  it('agent attach and detach: the channel added to and removed from the persistent config; no virsh process', () => {
    const dom = shutOff(1, 2);
    const channel = /<channel type='unix'>[\s\S]*?org\.vcpuctl\.agent\.0[\s\S]*?<\/channel>/;
    const a = cli(['--json', 'agent', 'attach', dom]);
    assert.equal(a.code, 0, a.stderr);
    assert.deepEqual(a.spawns, []);
    assert.deepEqual([JSON.parse(a.stdout).live, JSON.parse(a.stdout).config], ['not running', 'added']);
    assert.match(virsh('dumpxml', '--inactive', dom), channel);
    const d = cli(['--json', 'agent', 'detach', dom]);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(d.spawns, []);
    assert.equal(JSON.parse(d.stdout).config, 'removed');
    assert.doesNotMatch(virsh('dumpxml', '--inactive', dom), channel);
  });

  it('agent attach and detach on a running domain with a virtio-serial controller: live and persistent; no virsh process', () => {
    const dom = uniqueName(PREFIX);
    domains.push(dom);
    defineAndStart(dom, bareDomainXml(dom, 1, 2).replace('</devices>', "<controller type='virtio-serial'/></devices>"));
    const a = cli(['--json', 'agent', 'attach', dom]);
    assert.equal(a.code, 0, a.stderr);
    assert.deepEqual(a.spawns, []);
    const attached = JSON.parse(a.stdout) as { live: string; config: string; guest?: string };
    assert.deepEqual([attached.live, attached.config, attached.guest], ['added', 'added', 'not open']);
    assert.match(virsh('dumpxml', dom), /name='org\.vcpuctl\.agent\.0'/);
    const d = cli(['--json', 'agent', 'detach', dom]);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(d.spawns, []);
    assert.deepEqual([JSON.parse(d.stdout).live, JSON.parse(d.stdout).config], ['removed', 'removed']);
    assert.doesNotMatch(virsh('dumpxml', dom), /org\.vcpuctl\.agent\.0/);
    assert.doesNotMatch(virsh('dumpxml', '--inactive', dom), /org\.vcpuctl\.agent\.0/);
  });

  it('URIs the RPC does not take still go through virsh (test:///default), and --json says which backend each took', () => {
    const r = cli(['status', 'test'], 'test:///default');
    assert.ok(r.spawns.length > 0, 'virsh is the fallback');
    assert.match(r.stdout, /test/);
    const v = cli(['--json', 'status', 'test'], 'test:///default');
    assert.equal(v.code, 0, v.stderr);
    assert.equal((JSON.parse(v.stdout) as { backend: string }[])[0]!.backend, 'virsh');
    const dom = running(1, 2);
    const s = cli(['--json', 'status', dom]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal((JSON.parse(s.stdout) as { backend: string }[])[0]!.backend, 'rpc');
    assert.deepEqual(s.spawns, [], 'status: no virsh process');
    const checked = cli(['verify', dom]);
    assert.equal(checked.code, 6, checked.stderr); // a bare domain: no agent to ask
    assert.deepEqual(checked.spawns, [], 'verify: no virsh process');
    const all = cli(['--json', 'status', '--all', '--name', dom]);
    assert.equal(all.code, 0, all.stderr);
    assert.equal((JSON.parse(all.stdout) as { hosts: { backend: string }[] }).hosts[0]!.backend, 'rpc');
  });

  it("through qemu+ssh:// to the test's own sshd: set and set --config, one ssh each, no virsh process", async () => {
    sshd = await TestSshd.start();
    const uri = sshd.uri();
    const sshCount = () => sshd!.sshStarted().length;
    const dom = running(1, 2);
    let before = sshCount();
    const r = cli(['set', dom, '2'], uri);
    assert.equal(r.code, 6, `${r.stderr}\nsshd: ${sshd.output}`);
    assert.deepEqual(r.spawns, []);
    assert.equal(sshCount() - before, 1, 'one ssh handshake for the whole command');
    assert.equal(vcpuCount(dom)['current live'], 2);
    const off = shutOff(1, 4);
    before = sshCount();
    const c = cli(['set', '--config', off, '2'], uri);
    assert.equal(c.code, 0, c.stderr);
    assert.deepEqual(c.spawns, []);
    assert.equal(sshCount() - before, 1);
    assert.equal(vcpuCount(off)['current config'], 2);
    assert.match(intentOf(off, true) ?? '', /online="2" operation="set"/);
    // The two commands shared one ssh connection (libvirt/ssh-share.ts): sshd authenticated once. Without sharing, a new one.
    const unshared = vcpuctl(['-c', uri, '--report-dir', join(dir, 'reports'), '--agents-file', join(dir, 'agents.json'), 'status', off], { ...env, VCPUCTL_SSH_SHARE: 'off' });
    assert.equal(unshared.code, 0, unshared.stderr);
    await sshd.waitForLog(/Accepted publickey[\s\S]*Accepted publickey/);
    assert.equal(sshd.output.match(/Accepted publickey/g)!.length, 2, 'set and set --config on one authenticated connection, the unshared status on its own');
  });

  it("a qemu+ssh:// domain's QEMU log (for crash reports) is read on its host through the URI's ssh: one ssh running tail", async () => {
    sshd ??= await TestSshd.start();
    const dom = running(1, 2);
    const local = readFileSync(`/var/log/libvirt/qemu/${dom}.log`, 'utf8').trimEnd().split('\n').slice(-3);
    assert.equal(local.length, 3, 'libvirt wrote the log of the start');
    const before = sshd.sshStarted().length;
    const driver = new LibvirtDriver(sshd.uri());
    assert.deepEqual(await driver.qemuLogTail(dom, 3), local);
    const started = sshd.sshStarted().slice(before);
    assert.equal(started.length, 1, 'one ssh');
    assert.match(started[0]!, new RegExp(`tail -c \\d+ -- '/var/log/libvirt/qemu/${dom}\\.log'`));
    assert.deepEqual(await driver.qemuLogTail(`${PREFIX}-nosuch-${process.pid}`, 3), [], 'no log: no lines, no error');
    await driver.close();
  });
});
