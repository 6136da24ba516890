/**
 * CPUs wanted offline by the host's intent: the agent's state file
 * (guest-agent/src/wanted-offline.ts), its auto-online against a real
 * kernel-shaped tree, the verdict's INTENT_LOST_ON_REBOOT, and when watch
 * --reconcile re-applies (watch/watcher.ts, reconcileNeed).
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, treePaths } from '@vcpuctl/guest-agent';
import { WantedOffline } from '@vcpuctl/guest-agent/dist/wanted-offline';
import { GuestView, Intent, computeVerdict, verdictError } from '@vcpuctl/host';
import { reconcileNeed } from '@vcpuctl/host/dist/watch/watcher';
import { MAX_WANTED_OFFLINE_STATE_BYTES, VcpuctlError, parseCpuList } from '@vcpuctl/proto';
import { CpuTreeBuilder } from '../helpers/cpu-tree-builder';
import { hostSnapshot } from '../helpers/host-fixtures';

const BOOT = '0b1c2d3e-0000-4000-8000-000000000001';

describe('wanted offline: the state file', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'vcpuctl-wanted-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is written atomically under a directory it creates, and read back by the next agent of the same boot', () => {
    const file = join(dir, 'var/lib/vcpuctl-agent/wanted-offline.json');
    const log: string[] = [];
    const w = new WantedOffline(file, BOOT, (l) => log.push(l));
    w.load();
    assert.equal(w.list, '');
    assert.equal(w.set([3, 2]), true);
    const state = JSON.parse(readFileSync(file, 'utf8'));
    assert.deepEqual([state.version, state.bootId, state.cpus], [1, BOOT, '2-3']);
    const again = new WantedOffline(file, BOOT, (l) => log.push(l));
    again.load();
    assert.equal(again.list, '2-3');
    assert.ok(again.has(2) && again.has(3) && !again.has(1));
  });

  it('drops a set from an earlier boot, saying so', () => {
    const file = join(dir, 'state.json');
    new WantedOffline(file, 'old-boot', () => undefined).set([1]);
    const log: string[] = [];
    const w = new WantedOffline(file, BOOT, (l) => log.push(l));
    w.load();
    assert.equal(w.list, '');
    assert.match(log.join('\n'), /CPU 1 was wanted offline in an earlier boot \(old-boot\)/);
  });

  it('ignores a file past its bound, or not its own, and reads nothing of it beyond the bound', () => {
    const file = join(dir, 'state.json');
    writeFileSync(file, JSON.stringify({ version: 1, bootId: BOOT, cpus: '1', pad: 'x'.repeat(MAX_WANTED_OFFLINE_STATE_BYTES) }));
    const log: string[] = [];
    const w = new WantedOffline(file, BOOT, (l) => log.push(l));
    w.load();
    assert.equal(w.list, '');
    assert.match(log.join('\n'), /cannot read .*at most 40960/);
    writeFileSync(file, '{"version":1,"bootId":"' + BOOT + '","cpus":"0-99999"}');
    w.load();
    assert.equal(w.list, '');
    assert.match(log.join('\n'), /ignoring .*malformed cpulist/);
  });

  it('keeps the set in memory when the file cannot be written, and says an agent restart forgets it', () => {
    writeFileSync(join(dir, 'file'), '');
    const log: string[] = [];
    const w = new WantedOffline(join(dir, 'file', 'state.json'), BOOT, (l) => log.push(l));
    assert.equal(w.set([2]), false);
    assert.equal(w.list, '2');
    assert.match(log.join('\n'), /kept in memory only/);
  });
});

describe('wanted offline: the agent on a kernel-shaped tree', () => {
  let tree: CpuTreeBuilder;
  let dir: string;
  let agent: Agent | undefined;
  let stopKernel: () => void;
  beforeEach(() => {
    tree = new CpuTreeBuilder({ sockets: 1, coresPerSocket: 4, threadsPerCore: 1, present: 2 });
    stopKernel = tree.simulateKernel();
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-wanted-agent-'));
  });
  afterEach(() => {
    agent?.stop();
    stopKernel();
    tree.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = (log: string[]) => {
    agent = new Agent({
      paths: treePaths(tree.root),
      kmsgPath: join(dir, 'no-kmsg'),
      pollIntervalMs: 5,
      autoOnline: true,
      stateFile: join(dir, 'state.json'),
      log: (l) => log.push(l),
      system: { hostname: 'g', kernel: '6.1.0', os: 'Debian', productUuid: '', virtualization: '', manufacturer: '', product: '', bootId: BOOT },
    });
    agent.start();
    return agent;
  };

  const until = async (what: string, check: () => boolean) => {
    const deadline = Date.now() + 3000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('auto-onlines a hot-added CPU, but not one the host wants offline', async () => {
    const log: string[] = [];
    const a = start(log);
    assert.deepEqual(a.setWantedOffline('3', 'test'), { cpus: '3', persisted: true });
    tree.hotAdd(2);
    tree.hotAdd(3);
    await until('cpu2 online', () => tree.onlineCpus().includes(2));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(tree.onlineCpus(), [0, 1, 2]);
    assert.match(log.join('\n'), /auto-online: cpu3 left offline: the host wants it offline/);
    assert.equal(a.hello().hello?.wantedOffline, '3');
  });

  it('refuses a list that is not a bounded cpulist, changing nothing', () => {
    const a = start([]);
    a.setWantedOffline('2', 'test');
    for (const bad of ['0-8192', 'x', '1,'.repeat(20_000)]) {
      assert.throws(
        () => a.setWantedOffline(bad, 'test'),
        (e: VcpuctlError) => e.code === 'USAGE',
      );
    }
    assert.equal(a.wantedOffline, '2');
  });
});

const UUID = '3e83ec5a-7b6c-4b60-b0aa-b26af08685a3';

function guest(present: string, online: string, opts: Partial<GuestView> = {}): GuestView {
  const on = new Set(parseCpuList(online));
  return {
    reachable: true,
    productUuid: UUID,
    hostname: 'guest',
    snapshot: { present, online, cpus: parseCpuList(present).map((index) => ({ index, present: true, online: on.has(index), offlinable: index !== 0 })) },
    ...opts,
  };
}

describe('wanted offline: the verdict after a reboot', () => {
  const at = '2026-11-27T23:00:00.000Z';
  // Made in the running domain whose libvirt id the fixture's live XML carries (id='1').
  const offlineIntent: Intent = { online: 1, cpus: '0', operation: 'set', strategy: 'guest-offline', at, report: 'r1', runId: 1 };
  const host = (intent: Intent = offlineIntent) => hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json', intent });

  it("reads the running domain's libvirt id, the run an intent was made in", () => {
    assert.equal(host().domain.runId, 1);
  });

  it('names INTENT_LOST_ON_REBOOT (an error, with the fix) when the guest booted after a guest-side offline was recorded', () => {
    const v = computeVerdict(host(), guest('0-1', '0-1', { bootedAtMs: Date.parse(at) + 60_000 }));
    const f = v.findings.find((x) => x.kind === 'INTENT_LOST_ON_REBOOT');
    assert.ok(f, JSON.stringify(v.findings));
    assert.equal(f.severity, 'error');
    assert.equal(v.ok, false);
    assert.ok(!v.findings.some((x) => x.kind === 'GUEST_DRIFT'));
    assert.match(f.message, /the guest rebooted at .* a guest-side offline does not survive a reboot, .* the intent is not applied/);
    assert.match(f.advice, /vcpuctl set \S+ 1`.*watch --reconcile/);
    assert.equal(verdictError(v)?.code, 'MISMATCH');
  });

  it("is GUEST_DRIFT after a new start of the domain (another run id: it booted with the config's count, and a later hot-add was onlined)", () => {
    for (const intent of [
      { ...offlineIntent, runId: 7 },
      { ...offlineIntent, runId: undefined },
    ]) {
      const v = computeVerdict(host(intent), guest('0-1', '0-1', { bootedAtMs: Date.parse(at) + 60_000 }));
      assert.ok(
        v.findings.some((x) => x.kind === 'GUEST_DRIFT'),
        JSON.stringify(v.findings),
      );
      assert.ok(!v.findings.some((x) => x.kind === 'INTENT_LOST_ON_REBOOT'));
    }
  });

  it('is GUEST_DRIFT when the guest booted before the intent (something in it onlined the CPU)', () => {
    const v = computeVerdict(host(), guest('0-1', '0-1', { bootedAtMs: Date.parse(at) - 60_000 }));
    assert.ok(v.findings.some((x) => x.kind === 'GUEST_DRIFT'));
    assert.ok(!v.findings.some((x) => x.kind === 'INTENT_LOST_ON_REBOOT'));
  });

  it('is clean once the intent is applied again in the new boot', () => {
    const v = computeVerdict(host(), guest('0-1', '0', { bootedAtMs: Date.parse(at) + 60_000 }));
    assert.ok(!v.findings.some((x) => x.kind === 'INTENT_LOST_ON_REBOOT' || x.kind === 'GUEST_DRIFT'), JSON.stringify(v.findings));
    assert.equal(v.ok, true);
  });

  it('reconcile re-applies a lost intent (the very CPUs), or drift right after an agent restart, and nothing else', () => {
    const lost = guest('0-1', '0-1', { bootedAtMs: Date.parse(at) + 60_000 });
    const s = { host: host(), guest: lost, verdict: computeVerdict(host(), lost) };
    assert.deepEqual(reconcileNeed(s, ['agent connected'])?.offline, [1]);
    const drifted = guest('0-1', '0-1', { bootedAtMs: Date.parse(at) - 60_000 });
    const d = { host: host(), guest: drifted, verdict: computeVerdict(host(), drifted) };
    assert.equal(reconcileNeed(d, ['agent connected']), undefined);
    assert.deepEqual(reconcileNeed(d, ['agent connected', 'agent restarted'])?.offline, [1]);
    const fine = guest('0-1', '0', { bootedAtMs: Date.parse(at) + 60_000 });
    assert.equal(reconcileNeed({ host: host(), guest: fine, verdict: computeVerdict(host(), fine) }, ['agent restarted']), undefined);
  });
});
