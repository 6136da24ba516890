/**
 * `vcpuctl set`'s decisions, with a sinon fake standing in for libvirt (the
 * real thing is tested in test/libvirt and test/e2e): what it refuses before
 * touching anything, and which operation it chooses.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sinon from 'sinon';
import { Context, DomainSnapshot, HypervisorDriver, setGuestCpus, setVcpus } from '@vcpuctl/host';
import { VcpuctlError } from '@vcpuctl/proto';
import { fakeDriver } from '../helpers/fake-driver';
import { hostSnapshot } from '../helpers/host-fixtures';

function libvirtWith(snap: DomainSnapshot) {
  return fakeDriver('qemu:///system', {
    inspect: sinon.stub().resolves(snap),
    setVcpus: sinon.stub().resolves(),
    // The lock is keyed on the UUID (core/domain-lock.ts); these tests have one domain.
    uuidOf: sinon.stub().resolves('6695eb01-f6a4-8304-79aa-97f2502e193f'),
  });
}

describe('set: decisions (fake libvirt)', () => {
  let dir: string;
  let ctx: Context;
  const opts = { live: true, config: false, strategy: 'auto' as const, timeoutMs: 1000 };

  function context(driver: HypervisorDriver): Context {
    return {
      driver,
      reportDir: join(dir, 'reports'),
      lockDir: join(dir, 'locks'),
      lockWaitMs: 0,
      agentFlags: { agentsFile: join(dir, 'none.json') },
      agentTimeoutMs: 500,
      progress: () => undefined,
    };
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-set-'));
    writeFileSync(join(dir, 'none.json'), '{"domains":{}}');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a count above the live maximum without calling setvcpus, and still writes a report', async () => {
    const driver = libvirtWith(hostSnapshot());
    ctx = context(driver);
    await assert.rejects(setVcpus(ctx, 'vt-probe', 3, opts), (e: VcpuctlError) => e.code === 'OVER_MAXIMUM' && e.details?.maximum === 2);
    sinon.assert.notCalled(driver.setVcpus);
    assert.equal(readdirSync(ctx.reportDir).filter((n) => n.endsWith('.json')).length, 1);
  });

  it("refuses hotplug while libvirt's count and QEMU's differ (stale libvirt), touching nothing", async () => {
    const driver = libvirtWith(hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-1of2.json' }));
    ctx = context(driver);
    await assert.rejects(setVcpus(ctx, 'vt-probe', 2, opts), (e: VcpuctlError) => e.code === 'STALE_LIBVIRT');
    sinon.assert.notCalled(driver.setVcpus);
  });

  it('hot-adds with --live, and --config when asked', async () => {
    const driver = libvirtWith(hostSnapshot());
    ctx = context(driver);
    await setVcpus(ctx, 'vt-probe', 2, { ...opts, config: true }).catch(() => undefined); // no agent: not confirmed
    sinon.assert.calledOnceWithExactly(driver.setVcpus, 'vt-probe', 2, { live: true, config: true });
  });

  it('without an agent, going down unplugs hotpluggable vCPUs (auto strategy)', async () => {
    const driver = libvirtWith(hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' }));
    ctx = context(driver);
    await setVcpus(ctx, 'vt-probe', 1, opts).catch(() => undefined);
    sinon.assert.calledOnceWithExactly(driver.setVcpus, 'vt-probe', 1, { live: true, config: false });
  });

  it('libvirtd gone after the hot-add: the host view is read again until it answers, never the view from before (issue 20)', async () => {
    const after = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });
    const driver = libvirtWith(hostSnapshot());
    const gone = new VcpuctlError('LIBVIRT_UNREACHABLE', "failed to connect to the hypervisor: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory");
    driver.inspect.onCall(1).rejects(gone);
    driver.inspect.onCall(2).rejects(gone);
    driver.inspect.onCall(3).resolves(after);
    ctx = context(driver);
    const err = await setVcpus(ctx, 'vt-probe', 2, opts).then(
      () => undefined,
      (e: VcpuctlError) => e,
    );
    assert.equal(driver.inspect.callCount, 4);
    const report = JSON.parse(readFileSync(err!.details!.report as string, 'utf8'));
    assert.equal(report.after.host.domain.live.current, after.domain.live!.current);
    assert.notEqual(err!.code, 'LIBVIRT_UNREACHABLE');
  });

  it('libvirtd still gone at the deadline: LIBVIRT_UNREACHABLE, the host view named unavailable, no intent', async () => {
    const driver = libvirtWith(hostSnapshot());
    driver.inspect.onCall(1).rejects(new VcpuctlError('LIBVIRT_UNREACHABLE', 'failed to connect to the hypervisor'));
    driver.inspect.onCall(2).rejects(new VcpuctlError('LIBVIRT_UNREACHABLE', 'failed to connect to the hypervisor'));
    driver.inspect.onCall(3).rejects(new VcpuctlError('LIBVIRT_UNREACHABLE', 'failed to connect to the hypervisor'));
    ctx = { ...context(driver), hostAfterWaitMs: 300 };
    const err = await setVcpus(ctx, 'vt-probe', 2, opts).then(
      () => undefined,
      (e: VcpuctlError) => e,
    );
    assert.equal(err?.code, 'LIBVIRT_UNREACHABLE');
    assert.match(err!.message, /host view unavailable after the change/);
    const report = JSON.parse(readFileSync(err!.details!.report as string, 'utf8'));
    assert.equal(report.after.host, undefined, 'no host view stands in for the one after');
    assert.deepEqual(
      report.verdict.findings.map((f: { kind: string }) => f.kind),
      ['HOST_VIEW_UNAVAILABLE'],
    );
    assert.equal(report.intent, undefined);
  });

  it('a shut-off domain takes a --config change only', async () => {
    const driver = libvirtWith(hostSnapshot({ state: 'shut off', reason: 'shutdown' }));
    ctx = context(driver);
    await assert.rejects(setVcpus(ctx, 'vt-probe', 2, opts), (e: VcpuctlError) => e.code === 'DOMAIN_NOT_RUNNING');
    sinon.assert.notCalled(driver.setVcpus);
    await setVcpus(ctx, 'vt-probe', 2, { ...opts, live: false, config: true });
    sinon.assert.calledOnceWithExactly(driver.setVcpus, 'vt-probe', 2, { live: false, config: true });
  });

  it('rejects counts that are not whole numbers of at least 1 before locking or inspecting', async () => {
    const driver = libvirtWith(hostSnapshot());
    ctx = context(driver);
    for (const n of [0, -1, 1.5, NaN]) {
      await assert.rejects(setVcpus(ctx, 'vt-probe', n, opts), (e: VcpuctlError) => e.code === 'USAGE');
    }
    sinon.assert.notCalled(driver.inspect);
  });

  it('rejects counts above MAX_VCPUS and past 2^53 in the core too (library callers), touching nothing', async () => {
    const driver = libvirtWith(hostSnapshot());
    ctx = context(driver);
    for (const n of [8193, 2 ** 32 + 1, 2 ** 53 + 2]) {
      await assert.rejects(setVcpus(ctx, 'vt-probe', n, opts), (e: VcpuctlError) => e.code === 'USAGE' && /from 1 to 8192/.test(e.message));
    }
    sinon.assert.notCalled(driver.inspect);
    sinon.assert.notCalled(driver.setVcpus);
  });

  it('online/offline: a CPU number the agent would wrap to 32 bits is refused before the lock, libvirt or the agent', async () => {
    const driver = libvirtWith(hostSnapshot());
    ctx = context(driver);
    for (const cpus of [[2 ** 32 + 1], [2 ** 53 + 1], [-1], [8192], []]) {
      await assert.rejects(setGuestCpus(ctx, 'vt-probe', cpus, false), (e: VcpuctlError) => e.code === 'USAGE');
    }
    sinon.assert.notCalled(driver.inspect);
  });
});
