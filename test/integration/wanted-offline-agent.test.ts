/**
 * The real vcpuctl-agent process (the CLI a service manager runs) keeps a
 * CPU the host wants offline offline across its own restart (a package
 * upgrade), from its state file, while a CPU hot-added after the restart is
 * still onlined. Auto-online is on here, as in a default install (the
 * AgentProcess helper always runs --no-auto-online and removes its tree on
 * stop, so this test starts the agent itself, twice on one tree).
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentClient } from '@vcpuctl/host';
import { CpuTreeBuilder } from '../helpers/cpu-tree-builder';
import { AGENT_BIN } from '../helpers/lscpu';

describe('wanted offline: a restarted agent process', function () {
  this.timeout(30_000);
  let tree: CpuTreeBuilder;
  let dir: string;
  let stopKernel: () => void;
  let child: ChildProcess | undefined;
  const token = `wanted-offline-${process.pid}-0123456789abcdef`;
  const log: string[] = [];

  before(() => {
    tree = new CpuTreeBuilder({ sockets: 1, coresPerSocket: 4, threadsPerCore: 1, present: 2 });
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-wanted-proc-'));
    writeFileSync(join(dir, 'token'), `${token}\n`, { mode: 0o600 });
    // The boot id the agent reads under its sysroot: the same across the restart, as in one boot.
    mkdirSync(join(tree.root, 'proc/sys/kernel/random'), { recursive: true });
    writeFileSync(join(tree.root, 'proc/sys/kernel/random/boot_id'), 'boot-1\n');
    stopKernel = tree.simulateKernel();
  });
  after(async () => {
    await stop();
    stopKernel();
    tree.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(): Promise<number> {
    const c = spawn(
      process.execPath,
      [AGENT_BIN, 'run', '--listen', '127.0.0.1:0', '--token-file', join(dir, 'token'), '--sysroot', tree.root, '--kmsg', join(dir, 'no-kmsg'), '--poll-interval', '10', '--state-file', join(dir, 'state/wanted-offline.json')],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = c;
    c.stderr!.on('data', (d: Buffer) => log.push(...d.toString('utf8').split('\n').filter(Boolean)));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`agent did not listen within 15 s:\n${log.join('\n')}`)), 15_000);
      c.stdout!.on('data', (d: Buffer) => {
        const m = /listening on .*:(\d+)/.exec(d.toString('utf8'));
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
  }

  async function stop(): Promise<void> {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await gone;
  }

  const connect = (port: number) => AgentClient.connect({ url: `ws://127.0.0.1:${port}`, token }, { timeoutMs: 5000 });

  async function until(what: string, check: () => boolean): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; online ${tree.onlineCpus()}\n${log.join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('keeps the wanted-offline CPU offline after a restart, and still onlines a CPU hot-added afterwards', async () => {
    let c = await connect(await start());
    assert.equal(c.hello.wantedOffline, '');
    tree.hotAdd(2);
    await until('cpu2 auto-onlined', () => tree.onlineCpus().includes(2));
    // What `vcpuctl set DOM 2 --strategy guest-offline` does: offline inside the guest, then tell the agent.
    await c.setOnline([{ cpu: 2, online: false }]);
    assert.deepEqual(await c.setWantedOffline('2'), { cpus: '2', persisted: true });
    await c.close();
    assert.equal(JSON.parse(readFileSync(join(dir, 'state/wanted-offline.json'), 'utf8')).cpus, '2');

    await stop();
    c = await connect(await start());
    try {
      assert.equal(c.hello.wantedOffline, '2', 'the restarted agent read its state file');
      assert.equal(c.hello.bootId, 'boot-1');
      // The CPU comes and goes again (an unplug and re-plug): the agent's auto-online still leaves it.
      tree.remove(2);
      await until('cpu2 gone', () => !readFileSync(join(tree.cpuDir, 'present'), 'utf8').includes('2'));
      await new Promise((r) => setTimeout(r, 100));
      tree.hotAdd(2);
      tree.hotAdd(3);
      await until('cpu3 auto-onlined', () => tree.onlineCpus().includes(3));
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(tree.onlineCpus(), [0, 1, 3], 'cpu2 is offline by intent; cpu3 was hot-added and onlined');
      assert.ok(
        log.some((l) => /auto-online: cpu2 left offline: the host wants it offline/.test(l)),
        log.join('\n'),
      );
      const snap = await c.snapshot();
      assert.equal(snap.online, '0-1,3');
      // A later `set` that onlines it shrinks the set: auto-online applies again.
      await c.setOnline([{ cpu: 2, online: true }]);
      assert.deepEqual(await c.setWantedOffline(''), { cpus: '', persisted: true });
    } finally {
      await c.close();
    }
  });
});
