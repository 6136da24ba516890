/**
 * Recorded intent, drift, `watch` and the exporter on the walkthrough's
 * guest, after its last step (4 of 4 vCPUs online, intent recorded): they
 * are registered inside the walkthrough's describe so they share its guest
 * and run in order after it.
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDomainXml } from '@vcpuctl/host';
import { parseCpuList } from '@vcpuctl/proto';
import { VCPUCTL, virsh } from '../helpers/libvirt';
import { freePort } from './rig/guest';
import { kinds, reportOf, SuiteGuest } from './e2e-helpers';
import { httpGet } from '../helpers/http-get';

type Rec = Record<string, any>;

/** A long-lived vcpuctl child printing one JSON object per line, with event-driven waits on its output. */
class JsonLines {
  readonly records: { rec: Rec; atMs: number }[] = [];
  private waiters: (() => void)[] = [];
  private stderr = '';
  readonly child: ChildProcess;

  constructor(args: string[], env: Record<string, string>) {
    this.child = spawn(process.execPath, [VCPUCTL, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const lines = (tail + d).split('\n');
      tail = lines.pop()!;
      for (const l of lines) if (l.trim()) this.records.push({ rec: JSON.parse(l), atMs: Date.now() });
      for (const w of this.waiters) w();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
  }

  /** The first record from index `from` on that satisfies `pred`. */
  waitFor(what: string, pred: (r: Rec) => boolean, ms: number, from = 0): Promise<{ rec: Rec; atMs: number }> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.records.slice(from).find((r) => pred(r.rec));
        if (!hit) return false;
        done();
        resolve(hit);
        return true;
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `watch printed no ${what} within ${ms} ms; it printed:\n${this.records
              .slice(from)
              .map((r) => JSON.stringify(r.rec).slice(0, 400))
              .join('\n')}\nstderr: ${this.stderr}`,
          ),
        );
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      this.waiters.push(check);
      check();
    });
  }

  stop(): Promise<void> {
    if (this.child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill('SIGTERM');
    });
  }
}

const has = (r: Rec, kind: string) => (r.verdict?.findings ?? []).some((f: Rec) => f.kind === kind);

export function intentAndWatchSteps(suite: SuiteGuest): void {
  let watch: JsonLines | undefined;
  let name: string;
  const env = () => ({ VCPUCTL_LOCK_DIR: join(suite.dir, 'locks') });
  const common = () => ['--report-dir', join(suite.dir, 'reports'), '--agents-file', suite.guest.agentsFile];

  describe('recorded intent, drift, watch and the exporter (same guest, after the walkthrough)', function () {
    this.timeout(180_000);
    before(async () => {
      name = suite.name;
      watch = new JsonLines([...common(), '--json', 'watch', name], env());
      await watch.waitFor('agent connection', (r) => r.domain === name && r.guest?.reachable === true, 30_000);
    });
    after(async () => watch?.stop());

    it('the last set recorded its intent in the live and persistent metadata', () => {
      const live = parseDomainXml(virsh('dumpxml', name)).intent;
      const config = parseDomainXml(virsh('dumpxml', '--inactive', name)).intent;
      assert.equal(live?.online, 4);
      assert.equal(live?.cpus, '0-3');
      assert.match(live?.report ?? '', new RegExp(`-${name}-set-`));
      assert.deepEqual(config, live);
    });

    it('a CPU offlined inside the guest behind vcpuctl: watch prints GUEST_DRIFT within 2 s, verify exits 3 with GUEST_DRIFT', async () => {
      const g = suite.guest;
      const from = watch!.records.length;
      const asked = Date.now();
      assert.equal((await g.helper('POST', '/cpu-online?cpu=3&value=0')).trim(), '0-2');
      // The write has returned inside the guest: the CPU is offline from here on.
      const done = Date.now();
      const { rec, atMs } = await watch!.waitFor('GUEST_DRIFT', (r) => r.domain === name && has(r, 'GUEST_DRIFT'), 30_000, from);
      console.log(`      watch printed the drift ${atMs - done} ms after the offline returned in the guest (${atMs - asked} ms after it was asked through the rig helper): ${rec.changes.join('; ')}`);
      assert.ok(atMs - done < 2000, `${atMs - done} ms after the offline`);
      assert.equal(rec.guest.online, '0-2');
      assert.ok(rec.changes.includes('cpu3 OFFLINED'), rec.changes.join());
      const v = await suite.cli(['verify', name]);
      assert.equal(v.code, 3, v.stderr);
      assert.match(v.stdout, /GUEST_DRIFT \(error\): the guest has 3 CPUs online \(0-2\) but vcpuctl's recorded intent is 4 \(0-3\)/);
      assert.match(v.stderr, /^vcpuctl: MISMATCH: GUEST_DRIFT: /);
    });

    it('an intended `set DOM 1 --config` by guest-side offline: recorded, verify exits 0 (pending restart), watch sees the new intent', async () => {
      const from = watch!.records.length;
      const r = await suite.cli(['--json', 'set', name, '1', '--config']);
      assert.equal(r.code, 0, r.stderr);
      const report = reportOf(r);
      assert.deepEqual(kinds(report), ['GUEST_OFFLINE_HOST_COUNTS']);
      assert.equal(report.intent.intent.online, 1);
      assert.equal(report.intent.intent.strategy, 'guest-offline');
      assert.deepEqual(report.intent.flags, { live: true, config: true });
      assert.equal(report.intent.error, undefined);
      const v = await suite.cli(['verify', name]);
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, /GUEST_OFFLINE_HOST_COUNTS \(expected\)/);
      const seen = await watch!.waitFor('the new intent', (x) => x.domain === name && x.intent?.online === 1 && x.verdict?.ok === true, 10_000, from);
      assert.ok(!has(seen.rec, 'GUEST_DRIFT'));
      // While set offlined the CPUs and before it wrote the new intent, the
      // guest differed from the old one: that was vcpuctl's own change, not drift.
      const during = watch!.records
        .slice(from)
        .map((x) => x.rec)
        .filter((x) => x.domain === name);
      assert.ok(
        during.some((x) => x.changes.some((c: string) => /^cpu\d+ OFFLINED/.test(c))),
        'watch saw the guest-side offlines',
      );
      assert.deepEqual(
        during.filter((x) => has(x, 'GUEST_DRIFT')),
        [],
        "no drift was reported for vcpuctl's own change",
      );
    });

    it('the intent survives `virsh dumpxml --inactive` and a guest restart; watch follows the restart and reconnects to the agent', async function () {
      this.timeout(300_000);
      const config = parseDomainXml(virsh('dumpxml', '--inactive', name));
      assert.equal(config.intent?.online, 1);
      assert.equal(config.vcpu.current, 1);
      const from = watch!.records.length;
      virsh('destroy', name);
      await watch!.waitFor('the stop', (r) => r.domain === name && r.changes.some((c: string) => /domain stopped/.test(c)), 20_000, from);
      virsh('start', name);
      await watch!.waitFor('the start', (r) => r.domain === name && r.changes.some((c: string) => /domain started/.test(c)), 20_000, from);
      await suite.guest.waitForAgent();
      await watch!.waitFor('the agent back', (r) => r.domain === name && r.changes.includes('agent connected') && r.guest.reachable, 60_000, from);
      const s = await suite.cli(['--json', 'status', name]);
      assert.equal(s.code, 0, s.stderr);
      const [st] = JSON.parse(s.stdout);
      assert.equal(st.host.domain.intent.online, 1, 'the running domain carries the intent');
      assert.equal(st.host.domain.intent.report, config.intent!.report, 'the same intent, report id and all');
      assert.equal(st.guest.snapshot.online, '0');
      assert.deepEqual(st.verdict, { ok: true, findings: [] });
      const text = await suite.cli(['status', name]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /intent: 1 online \(0\), by set \(guest-offline\) at /);
    });

    it('watch reports a hot-add done with plain `virsh setvcpus` within 2 s, and the drift it makes (more online than intended) the moment the guest onlines it', async () => {
      const from = watch!.records.length;
      const t0 = Date.now();
      virsh('setvcpus', name, '2', '--live');
      const added = await watch!.waitFor('the hot-add', (r) => r.domain === name && r.changes.includes('cpu1 HOT_ADDED'), 10_000, from);
      // The agent onlines the new CPU (as a udev rule would); how long that
      // takes is the guest kernel's business under TCG: the drift must come
      // with the very change that makes it.
      const onlined = await watch!.waitFor('the onlining', (r) => r.domain === name && r.changes.some((c: string) => /^cpu1 ONLINED/.test(c)), 20_000, from);
      console.log(`      hot-add printed after ${added.atMs - t0} ms (${added.rec.changes.join('; ')}); the guest onlined it and the drift was printed after ${onlined.atMs - t0} ms`);
      assert.ok(added.atMs - t0 < 2000, `hot-add after ${added.atMs - t0} ms`);
      assert.equal(added.rec.libvirt.live.current, 2, 'the hot-add was judged on a fresh host view');
      assert.equal(added.rec.qemuPlugged, 2);
      assert.ok(has(onlined.rec, 'GUEST_DRIFT'), JSON.stringify(onlined.rec.verdict));
      assert.equal(onlined.rec.guest.online, '0-1');
      assert.match(onlined.rec.verdict.findings.find((f: Rec) => f.kind === 'GUEST_DRIFT').message, /more CPUs online than intended/);
    });

    it("a real Prometheus scrapes the exporter: the guest's online-vCPU series is what the guest kernel shows", async function () {
      this.timeout(120_000);
      const dir = join(suite.dir, 'prometheus');
      mkdirSync(join(dir, 'data'), { recursive: true });
      const [exporterPort, promPort] = [await freePort(), await freePort()];
      writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: vcpuctl\n    static_configs:\n      - targets: ['127.0.0.1:${exporterPort}']\n`);
      const exporter = spawn(process.execPath, [VCPUCTL, ...common(), 'exporter', name, '--listen', `127.0.0.1:${exporterPort}`], { env: { ...process.env, ...env() }, stdio: 'ignore' });
      const prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
      const stop = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null ? r() : (c.once('exit', () => r()), c.kill('SIGTERM'))));
      try {
        const kernel = parseCpuList((await suite.guest.helper('GET', '/cpu-online')).trim()).length;
        const query = `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(`vcpuctl_guest_cpus_online{domain="${name}"}`)}`;
        let last = '';
        const deadline = Date.now() + 90_000;
        for (;;) {
          last = await httpGet(query).catch((e: Error) => e.message);
          const result = (() => {
            try {
              return JSON.parse(last).data?.result ?? [];
            } catch {
              return [];
            }
          })();
          if (result.length === 1) {
            assert.equal(result[0].metric.uuid, suite.guest.uuid);
            assert.equal(result[0].metric.uri, 'qemu:///system');
            assert.equal(Number(result[0].value[1]), kernel, `Prometheus has ${result[0].value[1]}, the guest kernel shows ${kernel} online`);
            console.log(`      Prometheus: vcpuctl_guest_cpus_online{domain="${name}"} = ${result[0].value[1]}; guest kernel: ${kernel} online`);
            break;
          }
          if (Date.now() > deadline) throw new Error(`Prometheus never had the series: ${last}`);
          await new Promise((r) => setTimeout(r, 500));
        }
        const drift = JSON.parse(await httpGet(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(`vcpuctl_verdict_finding{domain="${name}",kind="GUEST_DRIFT"}`)}`));
        assert.equal(drift.data.result[0]?.value[1], '1', 'the drift left by the previous step is a 1');
      } finally {
        await Promise.all([stop(exporter), stop(prom)]);
      }
    });
  });
}
