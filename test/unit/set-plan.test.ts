/**
 * The set planner's decisions (core/set-plan.ts), on host views built from
 * captured virsh output and hand-written guest views; that the real run and
 * --dry-run decide by this one planner (a sinon fake stands in for libvirt);
 * and the exit ranking of several domains' outcomes.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sinon from 'sinon';
import { Context, DomainSnapshot, FLEET_EXIT_RANK, lockDomain, GuestView, HypervisorDriver, planSet, SetPlan, setDryRun, setProblems, setVcpus, summarizeSet, worstProblem } from '@vcpuctl/host';
import { ERROR_CODES, ErrorCode } from '@vcpuctl/proto';
import { fakeDriver } from '../helpers/fake-driver';
import { hostSnapshot } from '../helpers/host-fixtures';

const UUID = '3e83ec5a-7b6c-4b60-b0aa-b26af08685a3';
const auto = { live: true, config: false, strategy: 'auto' as const };
const noGuest: GuestView = { reachable: false, error: 'no guest agent found' };

/** A guest view as the agent reports it: `online` of `present` CPUs, cpu0 not offlinable (as on x86). */
function guest(present: number[], online: number[], productUuid = UUID): GuestView {
  const list = (xs: number[]) => xs.join(',');
  return {
    reachable: true,
    via: 'channel',
    productUuid,
    snapshot: { present: list(present), online: list(online), cpus: present.map((index) => ({ index, present: true, online: online.includes(index), offlinable: index !== 0 })) },
  };
}

describe('set planner: decisions', () => {
  it('up, with an agent: hot-add, then wait for the guest to show them present and online', () => {
    const p = planSet('vt', 2, auto, hostSnapshot(), guest([0], [0]), true);
    assert.equal(p.strategy, 'hotplug');
    assert.equal(p.refusal, undefined);
    assert.deepEqual(p.from, { state: 'running', config: 1, configMaximum: 2, live: 1, liveMaximum: 2, guestOnline: 1 });
    assert.deepEqual(p.steps, ['virsh setvcpus vt 2 --live (hot-add 1)', 'wait until the guest shows 2 vCPUs present and online']);
  });

  it('up, without an agent: still a hot-add, and the plan says it cannot be confirmed', () => {
    const p = planSet('vt', 2, { ...auto, config: true }, hostSnapshot(), noGuest, false);
    assert.equal(p.strategy, 'hotplug');
    assert.equal(p.persistConfig, true);
    assert.match(p.steps[0]!, /--live --config/);
    assert.match(p.steps[1]!, /cannot be confirmed \(AGENT_UNREACHABLE\)/);
    assert.equal(p.from.guestOnline, undefined);
  });

  it('over the live maximum: refused (OVER_MAXIMUM) naming the maximum and the fix, no steps', () => {
    const p = planSet('vt', 3, auto, hostSnapshot(), guest([0], [0]), true);
    assert.equal(p.strategy, undefined);
    assert.equal(p.refusal!.code, 'OVER_MAXIMUM');
    assert.deepEqual(p.refusal!.details, { maximum: 2, requested: 3 });
    assert.match(p.refusal!.message, /vcpuctl set-max vt 3 --restart/);
    assert.deepEqual(p.steps, []);
  });

  it('a shut-off domain: refused without --config; with it, the persistent count only, bounded by the config maximum', () => {
    const off = hostSnapshot({ state: 'shut off', reason: 'shutdown' });
    assert.equal(planSet('vt', 2, auto, off, noGuest, false).refusal!.code, 'DOMAIN_NOT_RUNNING');
    const cfg = planSet('vt', 2, { ...auto, live: false, config: true }, off, noGuest, false);
    assert.deepEqual([cfg.strategy, cfg.persistConfig, cfg.refusal], ['config', true, undefined]);
    assert.equal(planSet('vt', 5, { ...auto, config: true }, off, noGuest, false).refusal!.code, 'OVER_MAXIMUM');
  });

  it("libvirt's count differs from QEMU's: refused (STALE_LIBVIRT)", () => {
    const stale = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-1of2.json' });
    assert.equal(planSet('vt', 2, auto, stale, guest([0], [0]), true).refusal!.code, 'STALE_LIBVIRT');
  });

  it('already there: nothing to do, or only persisting the count with --config', () => {
    const two = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });
    const p = planSet('vt', 2, auto, two, guest([0, 1], [0, 1]), true);
    assert.deepEqual([p.strategy, p.persistConfig, p.steps], ['none', false, ['nothing to do: 2 vCPUs already']]);
    const c = planSet('vt', 2, { ...auto, config: true }, two, guest([0, 1], [0, 1]), true);
    assert.deepEqual([c.strategy, c.persistConfig], ['none', true]);
    assert.match(c.steps[0]!, /^virsh setvcpus vt 2 --config/);
  });

  it('down, with an agent: offline inside the guest, highest offlinable CPUs first', () => {
    const two = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });
    const p = planSet('vt', 1, auto, two, guest([0, 1], [0, 1]), true);
    assert.deepEqual([p.strategy, p.cpus], ['guest-offline', [1]]);
    assert.match(p.steps[0]!, /^offline cpu1 inside the guest/);
  });

  it('down, without an agent: unplug where libvirt marks vCPUs hotpluggable, else refused (AGENT_UNREACHABLE)', () => {
    const hot = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });
    assert.equal(planSet('vt', 1, auto, hot, noGuest, false).strategy, 'unplug');
    // The same XML with no <vcpus> list: nothing libvirt calls hotpluggable.
    const cold: DomainSnapshot = { ...hot, domain: { ...hot.domain, live: { ...hot.domain.live!, vcpus: [] } } };
    const p = planSet('vt', 1, auto, cold, noGuest, false);
    assert.equal(p.refusal!.code, 'AGENT_UNREACHABLE');
  });

  it('a strategy that cannot reach the count is refused (USAGE); an agent of another machine is refused (IDENTITY_MISMATCH)', () => {
    const two = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });
    assert.equal(planSet('vt', 1, { ...auto, strategy: 'hotplug' }, two, guest([0, 1], [0, 1]), true).refusal!.code, 'USAGE');
    assert.equal(planSet('vt', 2, { ...auto, strategy: 'unplug' }, hostSnapshot(), guest([0], [0]), true).refusal!.code, 'USAGE');
    const other = guest([0], [0], '00000000-0000-4000-8000-000000000000');
    assert.equal(planSet('vt', 2, auto, hostSnapshot(), other, true).refusal!.code, 'IDENTITY_MISMATCH');
  });

  it('fewer online in the guest than asked, none to plug: online the offline ones inside the guest', () => {
    const two = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });
    const p = planSet('vt', 2, auto, two, guest([0, 1], [0]), true);
    assert.deepEqual([p.strategy, p.cpus], ['guest-online', [1]]);
    assert.equal(planSet('vt', 2, auto, two, noGuest, false).strategy, 'none', "without a guest view, libvirt's count stands for the guest");
  });
});

describe('set planner: the real run and --dry-run decide by the same plan (fake libvirt)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-plan-'));
    writeFileSync(join(dir, 'none.json'), '{"domains":{}}');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function context(snap: DomainSnapshot): Context & { driver: HypervisorDriver & { setVcpus: sinon.SinonStub; recordIntent: sinon.SinonStub } } {
    const driver = fakeDriver('qemu:///system', {
      inspect: sinon.stub().resolves(snap),
      inspectMany: sinon.stub().callsFake(async (names: string[]) => new Map(names.map((n) => [n, snap]))),
      setVcpus: sinon.stub().resolves(),
      recordIntent: sinon.stub().resolves(),
      uuidOf: sinon.stub().resolves(UUID),
    });
    return { driver, reportDir: join(dir, 'reports'), lockDir: join(dir, 'locks'), lockWaitMs: 0, agentFlags: { agentsFile: join(dir, 'none.json') }, agentTimeoutMs: 500, progress: () => undefined };
  }

  const cases: [string, DomainSnapshot, number][] = [
    ['up', hostSnapshot(), 2],
    ['over the maximum', hostSnapshot(), 3],
    ['down, hotpluggable', hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' }), 1],
    ['stale libvirt', hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-1of2.json' }), 2],
    ['shut off', hostSnapshot({ state: 'shut off', reason: 'shutdown' }), 2],
  ];
  for (const [what, snap, n] of cases) {
    it(`${what}: the plan --dry-run prints is the one the run executes; the dry run writes nothing`, async () => {
      const dry = context(snap);
      const planned = await setDryRun([dry], { names: ['vt'] }, n, auto, 1);
      sinon.assert.notCalled(dry.driver.setVcpus);
      sinon.assert.notCalled(dry.driver.recordIntent);
      assert.equal(existsSync(dry.reportDir), false, 'no report directory');
      assert.equal(existsSync(dry.lockDir), false, 'no lock directory');
      const real = context(snap);
      let executed: SetPlan | undefined;
      await setVcpus(real, 'vt', n, { ...auto, timeoutMs: 500 }, { onPlan: (p) => (executed = p) }).catch(() => undefined);
      const entry = planned.hosts[0]!.domains[0]!;
      assert.deepEqual(entry.plan, { ...(executed!.strategy ? { strategy: executed!.strategy } : {}), from: executed!.from, steps: executed!.steps, ...(executed!.refusal ? { refusal: executed!.refusal } : {}) });
      assert.equal(entry.error?.code, executed!.refusal?.code);
      if (executed!.refusal) sinon.assert.notCalled(real.driver.setVcpus);
      assert.equal(readdirSync(real.reportDir).filter((f) => f.endsWith('.json')).length, 1, 'the real run wrote its report');
    });
  }
});

describe('set --dry-run: a lock held now', () => {
  it('names the pid holding the domain lock (the real run would wait for it), and leaves the lock as it was', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vcpuctl-plan-lock-'));
    try {
      const lockDir = join(dir, 'locks');
      const lock = await lockDomain(lockDir, UUID, 0);
      const before = readdirSync(lock.path);
      const snap = hostSnapshot();
      const driver = fakeDriver('qemu:///system', { inspect: sinon.stub().resolves(snap), inspectMany: sinon.stub().resolves(new Map([['vt', snap]])), uuidOf: sinon.stub().resolves(UUID) });
      const ctx: Context = { driver, reportDir: join(dir, 'reports'), lockDir, lockWaitMs: 0, agentFlags: { agentsFile: join(dir, 'none.json') }, agentTimeoutMs: 500, progress: () => undefined };
      writeFileSync(join(dir, 'none.json'), '{"domains":{}}');
      const r = await setDryRun([ctx], { names: ['vt'] }, 2, auto, 1);
      assert.equal(r.hosts[0]!.domains[0]!.lockHeldBy, process.pid);
      assert.deepEqual(readdirSync(lock.path), before);
      lock.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('set on several domains: summary and exit ranking', () => {
  it('every error code is ranked, so the exit status never depends on the order domains finish in', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) assert.ok(FLEET_EXIT_RANK.includes(code), `${code} is not ranked`);
    assert.equal(new Set(FLEET_EXIT_RANK).size, FLEET_EXIT_RANK.length);
  });

  it('a change no guest confirmed ranks above a refusal that touched nothing; an unreachable host above both', () => {
    const d = (outcome: 'done' | 'refused' | 'failed', code?: ErrorCode) => ({ domain: 'x', uri: 'u', target: 2, outcome, ...(code ? { error: { code, exit: ERROR_CODES[code].exit, message: '' } } : {}) });
    const hosts = [{ uri: 'a', reachable: true, domains: [d('failed', 'AGENT_UNREACHABLE'), d('refused', 'OVER_MAXIMUM'), d('done')] }];
    assert.equal(worstProblem(setProblems({ hosts, unmatched: [] })), 'AGENT_UNREACHABLE');
    assert.equal(worstProblem(setProblems({ hosts: [...hosts].reverse(), unmatched: [] })), 'AGENT_UNREACHABLE');
    const one = (domains: ReturnType<typeof d>[]) => ({ hosts: [{ uri: 'a', reachable: true, domains }], unmatched: [] });
    assert.equal(worstProblem(setProblems(one([d('refused', 'USAGE'), d('refused', 'OVER_MAXIMUM')]))), 'OVER_MAXIMUM');
    const down = [...hosts, { uri: 'b', reachable: false, error: { code: 'LIBVIRT_UNREACHABLE' as ErrorCode, exit: 5, message: '' }, domains: [] }];
    assert.equal(worstProblem(setProblems({ hosts: down, unmatched: [] })), 'LIBVIRT_UNREACHABLE');
    assert.equal(worstProblem(setProblems(one([d('done'), d('done')]))), undefined);
    assert.deepEqual(summarizeSet(down, [d('refused', 'DOMAIN_NOT_FOUND')]), { hosts: 2, unreachableHosts: 1, domains: 4, done: 1, refused: 2, failed: 1 });
  });
});
