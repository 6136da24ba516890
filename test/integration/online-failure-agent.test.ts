/**
 * Online writes the kernel refuses, on a real agent and a real tree whose
 * `online` file refuses the write with a real errno: a symlink to
 * /proc/self/mem makes the write(2) at offset 0 fail with EIO (address 0 is
 * not mapped in the writer), /dev/full with ENOSPC. The agent retries EIO a
 * bounded number of times (ONLINE_ATTEMPTS, ONLINE_RETRY_DELAY_MS) and
 * ENOSPC not at all; the failure, with its errno and the kernel lines read
 * from the (FIFO) kernel log around it, is in every snapshot until the CPU
 * comes online, for a request and for auto-online of a hot-add; the host's
 * boundary accepts it and the verdict names CPU_ONLINE_FAILED with the cause.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sinon from 'sinon';
import { ONLINE_ATTEMPTS, ONLINE_RETRY_DELAY_MS, setCpusOnline } from '@vcpuctl/guest-agent/dist/cpu-control';
import { treePaths } from '@vcpuctl/guest-agent/dist/sysfs/paths';
import { Context, computeVerdict, setVcpus } from '@vcpuctl/host';
import { checkSnapshot } from '@vcpuctl/host/dist/guest/guest-input';
import { VcpuctlError, v1 } from '@vcpuctl/proto';
import { AgentHarness } from '../helpers/agent-harness';
import { fakeDriver } from '../helpers/fake-driver';
import { hostSnapshot } from '../helpers/host-fixtures';

const Outcome = v1.CpuResult.Outcome;

/** The guest view the host builds from a snapshot that passed its boundary. */
const view = (s: v1.ISnapshot) => ({ reachable: true, via: 'channel' as const, autoOnline: true, snapshot: v1.Snapshot.toObject(checkSnapshot(s), { defaults: true }) });

describe('online writes the kernel refuses (a real agent on a tree whose online file refuses the write)', function () {
  this.timeout(30_000);
  // cpu2 present and offline; cpu3 possible, hot-added by the test.
  const h = new AgentHarness({ sockets: 1, coresPerSocket: 4, threadsPerCore: 1, present: 3, offline: [2] });
  before(() => h.start({ autoOnline: true }));
  after(() => h.stop());

  /** Makes a CPU's online file refuse writes: a symlink to `target`, made before the kernel (tree) would create the file. */
  function refuse(cpu: number, target: string): void {
    const dir = join(h.tree.cpuDir, `cpu${cpu}`);
    mkdirSync(dir, { recursive: true });
    rmSync(join(dir, 'online'), { force: true });
    symlinkSync(target, join(dir, 'online'));
  }

  it('EIO on a request: retried ONLINE_ATTEMPTS times, no more, then FAILED with its errno and the kernel lines around it', async () => {
    refuse(2, '/proc/self/mem');
    const c = await h.connect();
    // The kernel's lines, as a failing bring-up logs them, arrive while the agent retries.
    const says = setTimeout(() => {
      h.kernelSays(7001, 'smpboot: Booting Node 0 Processor 2 APIC 0x2');
      h.kernelSays(7002, 'smpboot: do_boot_cpu failed(-1) to wakeup CPU#2');
    }, 200);
    const started = Date.now();
    const reply = await c.setOnline([{ cpu: 2, online: true }]);
    const took = Date.now() - started;
    clearTimeout(says);
    const r = reply.results[0]!;
    assert.equal(r.outcome, Outcome.FAILED);
    assert.equal(r.errorCode, 'EIO');
    assert.equal(r.attempts, ONLINE_ATTEMPTS);
    const waits = (ONLINE_ATTEMPTS - 1) * ONLINE_RETRY_DELAY_MS;
    assert.ok(took >= waits, `${took} ms: the retries wait ${waits} ms`);
    assert.ok(took < waits + 2000, `${took} ms: bounded (${waits} ms of waits)`);
    assert.equal(h.log.filter((l) => /cpu2: kernel refused online: EIO; writing again/.test(l)).length, ONLINE_ATTEMPTS - 1, h.log.join('\n'));

    // The reply's snapshot carries the failure; the host's boundary takes it, and the verdict names it.
    const f = (reply.snapshot!.onlineFailures ?? []).find((x) => x.cpu === 2)!;
    assert.ok(f, JSON.stringify(reply.snapshot!.onlineFailures ?? []));
    assert.equal(f.errno, 'EIO');
    assert.equal(f.attempts, ONLINE_ATTEMPTS);
    assert.equal(f.byAutoOnline, false);
    assert.deepEqual(
      (f.kernelLines ?? []).map((l) => l.message),
      ['smpboot: Booting Node 0 Processor 2 APIC 0x2', 'smpboot: do_boot_cpu failed(-1) to wakeup CPU#2'],
    );
    const v = computeVerdict(hostSnapshot(), view(reply.snapshot!));
    const finding = v.findings.find((x) => x.kind === 'CPU_ONLINE_FAILED');
    assert.ok(finding, JSON.stringify(v.findings));
    assert.equal(finding.severity, 'error');
    assert.match(finding.message, /refused to online CPU 2 \(by a request\): EIO .* after 3 writes; kernel: .*"smpboot: do_boot_cpu failed\(-1\) to wakeup CPU#2"; likely cause: .*live-migrated/);
    assert.match(finding.advice, /vcpuctl doctor/);
    assert.ok(!v.findings.some((x) => x.kind === 'HOTADDED_OFFLINE'), 'named once, with its cause');
  });

  it('no write is retried past the window, whatever the attempts left (a kernel that took its 10 s per write)', async () => {
    refuse(2, '/proc/self/mem');
    const lines: string[] = [];
    const started = Date.now();
    const r = await setCpusOnline(treePaths(h.tree.root), [{ cpu: 2, online: true }], (l) => lines.push(l), { attempts: 10, delayMs: 300, windowMs: 700 });
    // Writes at about 0, 300 and 600 ms; a fourth would start past 700 ms.
    assert.equal(r.results[0]!.attempts, 3, lines.join('\n'));
    assert.ok(Date.now() - started < 1500, `${Date.now() - started} ms`);
  });

  it('ENOSPC is not the kernel being late: one write, FAILED at once', async () => {
    refuse(2, '/dev/full');
    const c = await h.connect();
    const started = Date.now();
    const reply = await c.setOnline([{ cpu: 2, online: true }]);
    assert.ok(Date.now() - started < ONLINE_RETRY_DELAY_MS, `${Date.now() - started} ms`);
    assert.equal(reply.results[0]!.errorCode, 'ENOSPC');
    assert.equal(reply.results[0]!.attempts, 1);
    const f = (reply.snapshot!.onlineFailures ?? []).find((x) => x.cpu === 2)!;
    assert.equal(f.errno, 'ENOSPC', 'the newest failure replaces the older one of the same CPU');
    assert.match(computeVerdict(hostSnapshot(), view(reply.snapshot!)).findings.find((x) => x.kind === 'CPU_ONLINE_FAILED')!.message, /ENOSPC/);
  });

  it("auto-online of a hot-add goes through the same path: the failure is pushed to subscribers and named as auto-online's", async () => {
    const c = await h.connect();
    await c.subscribe();
    const pushed = new Promise<v1.CpuEvent>((resolve) => c.on('event', (e: v1.CpuEvent) => (e.snapshot?.onlineFailures ?? []).some((x) => x.cpu === 3) && resolve(e)));
    refuse(3, '/proc/self/mem');
    h.tree.hotAdd(3);
    const e = await pushed;
    const f = (e.snapshot!.onlineFailures ?? []).find((x) => x.cpu === 3)!;
    assert.equal(f.errno, 'EIO');
    assert.equal(f.byAutoOnline, true);
    assert.equal(f.attempts, ONLINE_ATTEMPTS);
    assert.ok(
      h.log.some((l) => /auto-online: cpu3 stays offline: the kernel refused online with EIO after 3 writes/.test(l)),
      h.log.join('\n'),
    );
    const finding = computeVerdict(hostSnapshot(), view(e.snapshot!)).findings.find((x) => x.kind === 'CPU_ONLINE_FAILED' && /CPU 3/.test(x.message));
    assert.match(finding?.message ?? '', /by the agent's auto-online of the hot-add/);
  });

  it('a CPU that comes online afterwards is no longer a failure', async () => {
    const c = await h.connect();
    rmSync(join(h.tree.cpuDir, 'cpu2/online'));
    h.tree.setOnline(2, false); // the kernel's file again, "0"
    const reply = await c.setOnline([{ cpu: 2, online: true }]);
    assert.equal(reply.results[0]!.outcome, Outcome.CHANGED);
    assert.ok(!(reply.snapshot!.onlineFailures ?? []).some((x) => x.cpu === 2), JSON.stringify(reply.snapshot!.onlineFailures ?? []));
  });
});

describe('set, when the kernel refuses the hot-added vCPU (a real agent; libvirt faked)', function () {
  this.timeout(30_000);
  // One vCPU of a maximum of 2, as the host fixtures describe; the hot-add's online file refuses with EIO.
  const h = new AgentHarness({ sockets: 1, coresPerSocket: 2, threadsPerCore: 1, present: 1 });
  let dir: string;
  before(async () => {
    h.tree.setProductUuid(hostSnapshot().domain.uuid!.toUpperCase());
    await h.start({ autoOnline: true });
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-set-eio-'));
  });
  after(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stops waiting at the refusal (PARTIAL), and the report names CPU_ONLINE_FAILED with the errno', async () => {
    const after = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });
    const inspect = sinon.stub().resolves(hostSnapshot());
    const driver = fakeDriver('qemu:///system', {
      inspect,
      uuidOf: sinon.stub().resolves(hostSnapshot().domain.uuid!),
      setVcpus: sinon.stub().callsFake(async () => {
        const dirOf = join(h.tree.cpuDir, 'cpu1');
        mkdirSync(dirOf, { recursive: true });
        symlinkSync('/proc/self/mem', join(dirOf, 'online'));
        h.tree.hotAdd(1);
        inspect.resolves(after);
      }),
    });
    const ctx: Context = {
      driver,
      reportDir: join(dir, 'reports'),
      lockDir: join(dir, 'locks'),
      lockWaitMs: 0,
      agentFlags: { agent: h.url, tokenFile: h.tokenFile },
      agentTimeoutMs: 20_000,
      progress: () => undefined,
    };
    const started = Date.now();
    const err = await setVcpus(ctx, 'vt-probe', 2, { live: true, config: false, strategy: 'auto', timeoutMs: 20_000 }).then(
      () => undefined,
      (e: VcpuctlError) => e,
    );
    const took = Date.now() - started;
    assert.equal(err?.code, 'PARTIAL', err?.message);
    assert.match(err!.message, /the guest kernel refused to online cpu1 \(EIO\)/);
    // The agent's retries (2 s), not the agent timeout (20 s + 60 s).
    assert.ok(took < 10_000, `${took} ms`);
    const report = JSON.parse(readFileSync(err!.details!.report as string, 'utf8'));
    const kinds = report.verdict.findings.map((f: { kind: string }) => f.kind);
    assert.ok(kinds.includes('CPU_ONLINE_FAILED'), kinds.join());
    assert.ok(!kinds.includes('HOTADDED_OFFLINE'), kinds.join());
    assert.match(report.verdict.findings.find((f: { kind: string }) => f.kind === 'CPU_ONLINE_FAILED').message, /by the agent's auto-online of the hot-add\): EIO/);
  });
});
