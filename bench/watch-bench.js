#!/usr/bin/env node
/**
 * Measures `vcpuctl watch` and `vcpuctl exporter` against the real libvirtd
 * and QEMU of this machine and prints figures (quoted in the README):
 *  - exporter scrape time with 20 domains (QEMU domains with no OS);
 *  - watch's own CPU while idle with the same 20 domains;
 *  - drift detection latency on a real guest (rig): from asking the guest to
 *    offline a CPU (through the rig helper, whose round trip is printed too)
 *    to `watch --json` printing GUEST_DRIFT.
 * Run after `npm run build` as root; it creates and removes its own domains.
 * BENCH_SKIP_GUEST=1 skips the real guest, BENCH_SKIP_FLEET=1 the 20 domains.
 */
'use strict';
const { spawn } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { get } = require('node:http');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { VCPUCTL, bareDomainXml, defineAndStart, removeDomain, setupHost, uniqueName, virsh } = require('../test/dist/helpers/libvirt');
const { TestGuest, freePort } = require('../test/dist/e2e/rig/guest');

const DOMAINS = Number(process.env.BENCH_DOMAINS ?? 20);
const SCRAPES = 100;
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 30);
const DRIFTS = Number(process.env.BENCH_DRIFTS ?? 20);
const CLK_TCK = 100; // USER_HZ on Linux
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function stat(pid) {
  return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
}

/** The process's own CPU, and with the virsh children it ran (exited: cutime/cstime; still running: the event stream). */
function cpuTicks(pid) {
  const f = stat(pid);
  const own = Number(f[11]) + Number(f[12]);
  let children = Number(f[13]) + Number(f[14]);
  for (const c of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) {
    try {
      const g = stat(c);
      children += Number(g[11]) + Number(g[12]);
    } catch {
      /* gone */
    }
  }
  return { own, all: own + children };
}

function httpGet(url) {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res
        .setEncoding('utf8')
        .on('data', (d) => (body += d))
        .on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** A vcpuctl child printing JSON lines; resolves waits as lines arrive. */
function jsonChild(args) {
  const child = spawn(process.execPath, [VCPUCTL, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const waiters = new Set();
  let tail = '';
  child.stdout.setEncoding('utf8').on('data', (d) => {
    const lines = (tail + d).split('\n');
    tail = lines.pop();
    for (const l of lines) {
      if (!l.trim()) continue;
      const rec = JSON.parse(l);
      for (const w of [...waiters])
        if (w.pred(rec)) {
          waiters.delete(w);
          w.resolve(performance.now());
        }
    }
  });
  return {
    child,
    next(pred, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.add(w);
        setTimeout(() => {
          if (waiters.delete(w)) reject(new Error('no such line in time'));
        }, ms);
      });
    },
    stop() {
      child.kill('SIGTERM');
    },
  };
}

async function fleet(dir) {
  const names = Array.from({ length: DOMAINS }, () => uniqueName('vcpuctl-bench'));
  for (const n of names) defineAndStart(n, bareDomainXml(n, 1, 4));
  const agents = join(dir, 'agents.json');
  writeFileSync(agents, '{"domains":{}}');
  const base = ['--agents-file', agents, '--report-dir', join(dir, 'reports')];
  try {
    const port = await freePort();
    const exp = spawn(process.execPath, [VCPUCTL, ...base, 'exporter', ...names, '--listen', `127.0.0.1:${port}`], { stdio: 'ignore' });
    try {
      const url = `http://127.0.0.1:${port}/metrics`;
      for (let i = 0; ; i++) {
        const body = await httpGet(url).catch(() => '');
        if ((body.match(/^vcpuctl_libvirt_vcpus_current\{.*view="live"/gm) ?? []).length === DOMAINS) break;
        if (i > 600) throw new Error('exporter never had every domain');
        await sleep(100);
      }
      const times = [];
      let bytes = 0;
      for (let i = 0; i < SCRAPES; i++) {
        const t0 = performance.now();
        bytes = (await httpGet(url)).length;
        times.push(performance.now() - t0);
      }
      console.log(`  exporter scrape, ${DOMAINS} domains:    median ${pct(times, 0.5).toFixed(2)} ms, p95 ${pct(times, 0.95).toFixed(2)} ms (${SCRAPES} scrapes, ${bytes} bytes)`);
    } finally {
      exp.kill('SIGTERM');
    }
    const w = jsonChild(['--json', ...base, 'watch', ...names]);
    try {
      await sleep(5000); // start-up: every domain read, every feed settled
      const t0 = cpuTicks(w.child.pid);
      const s0 = performance.now();
      await sleep(IDLE_SECONDS * 1000);
      const t1 = cpuTicks(w.child.pid);
      const wall = (performance.now() - s0) / 1000;
      const share = (ticks) => ((100 * ticks) / CLK_TCK / wall).toFixed(2);
      console.log(
        `  watch idle CPU, ${DOMAINS} domains:     ${share(t1.own - t0.own)} % of one core for watch itself, ${share(t1.all - t0.all)} % with its virsh children (event stream, safety poll) (over ${IDLE_SECONDS} s, default 30 s poll)`,
      );
    } finally {
      w.stop();
    }
  } finally {
    for (const n of names) removeDomain(n);
  }
}

async function drift(dir) {
  const g = await TestGuest.boot({ current: 2, maximum: 2 });
  try {
    await g.waitForAgent();
    const w = jsonChild(['--json', '--agents-file', g.agentsFile, '--report-dir', join(dir, 'reports'), 'watch', g.name]);
    try {
      await w.next((r) => r.guest && r.guest.reachable, 30_000);
      // Record the intent (2 online) so an offline is drift.
      const set = spawn(process.execPath, [VCPUCTL, '--agents-file', g.agentsFile, '--report-dir', join(dir, 'reports'), 'set', g.name, '2'], { stdio: 'ignore', env: { ...process.env, VCPUCTL_LOCK_DIR: join(dir, 'locks') } });
      await new Promise((r) => set.once('exit', r));
      await w.next((r) => r.intent && r.intent.online === 2, 30_000);
      const lat = [];
      const afterDone = [];
      const rtt = [];
      for (let i = 0; i < DRIFTS; i++) {
        const t = performance.now();
        await g.helper('GET', '/cpu-online');
        rtt.push(performance.now() - t);
        const seen = w.next((r) => r.verdict && r.verdict.findings.some((f) => f.kind === 'GUEST_DRIFT'));
        const t0 = performance.now();
        await g.helper('POST', '/cpu-online?cpu=1&value=0');
        const done = performance.now(); // the write has returned inside the guest
        const printed = await seen;
        lat.push(printed - t0);
        afterDone.push(printed - done);
        const back = w.next((r) => r.verdict && r.verdict.ok);
        await g.helper('POST', '/cpu-online?cpu=1&value=1');
        await back;
        await sleep(200);
      }
      console.log(`  drift: guest-side offline -> watch prints GUEST_DRIFT (${DRIFTS} offlines)`);
      console.log(
        `    from the offline's write returning in the guest: median ${pct(afterDone, 0.5).toFixed(1)} ms, p95 ${pct(afterDone, 0.95).toFixed(1)} ms, max ${Math.max(...afterDone).toFixed(1)} ms (negative: printed before the rig helper's answer reached the host)`,
      );
      console.log(
        `    from asking the rig helper:                      median ${pct(lat, 0.5).toFixed(1)} ms, p95 ${pct(lat, 0.95).toFixed(1)} ms (includes a shell started in the TCG guest; the helper's plain GET round trip is median ${pct(rtt, 0.5).toFixed(1)} ms)`,
      );
    } finally {
      w.stop();
    }
  } finally {
    g.destroy();
  }
}

async function main() {
  setupHost();
  const dir = mkdtempSync(join(tmpdir(), 'vcpuctl-watch-bench-'));
  try {
    console.log(`vcpuctl watch/exporter benchmark (libvirt ${virsh('version', '--daemon').match(/libvirt (\S+)/i)?.[1] ?? '?'}, QEMU TCG, node ${process.version})`);
    if (!process.env.BENCH_SKIP_FLEET) await fleet(dir);
    if (!process.env.BENCH_SKIP_GUEST) await drift(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
