#!/usr/bin/env node
/**
 * What a hostile guest costs the host (issue 15), measured against the real
 * libvirtd with QEMU domains without an OS, each domain's "agent" a fake on
 * loopback (test/helpers/fake-guest.ts), and printed (quoted in the README):
 *  - `watch` over 20 domains: the honest guests' event latency (push to the
 *    line watch prints), p50/p99, without and then with one guest flooding
 *    events at line rate (from a process of its own), in the same run; and
 *    watch's RSS in both phases;
 *  - `status` against the worst single frame (8 MiB of empty Cpu entries)
 *    beside a normal status: wall time and peak RSS of the whole command.
 * Run after `npm run build` as root; it creates and removes its own domains.
 */
'use strict';
const { spawn } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const { FakeGuest, honestSnapshot } = require('../test/dist/helpers/fake-guest');
const { startFloodingGuest } = require('../test/dist/helpers/flooding-guest');
const { VCPUCTL, bareDomainXml, defineAndStart, removeDomain, setupHost, uniqueName, virsh } = require('../test/dist/helpers/libvirt');

const DOMAINS = Number(process.env.BENCH_DOMAINS ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 60);
const MAX_REPLY_BYTES = 8 * 1024 * 1024;
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

function varint(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
}

async function main() {
  setupHost();
  const dir = mkdtempSync(join(tmpdir(), 'vcpuctl-hostile-bench-'));
  const names = [];
  const fakes = [];
  const children = [];
  try {
    for (let i = 0; i < DOMAINS; i++) {
      const name = uniqueName('vcpuctl-hbench');
      names.push(name);
      defineAndStart(name, bareDomainXml(name, 1, 2));
    }
    const uuid = (n) => virsh('domuuid', n).trim();
    const agents = { domains: {} };
    const push = new Map();
    const [hostile, ...honest] = names;
    for (const n of honest) {
      const g = await FakeGuest.start(uuid(n), {
        snapshot: () => honestSnapshot(1),
        subscribed(s) {
          push.set(n, () => s.send({ id: 0, cpuEvent: { changes: [{ cpu: 0, kind: 3 }], detectedAtMs: Date.now(), snapshot: honestSnapshot(1) } }));
        },
      });
      fakes.push(g);
      agents.domains[n] = { url: g.url };
    }
    // The hostile guest floods from a process of its own, so its flood does not slow the honest fakes' pushes.
    const flooding = await startFloodingGuest(uuid(hostile));
    fakes.push(flooding);
    const floodUrl = flooding.url;
    // The hostile guest's entry is written only for the attack phase: the baseline watch has its domain without an agent.
    const agentsFile = join(dir, 'agents.json');
    const base = ['-c', 'qemu:///system', '--report-dir', join(dir, 'reports'), '--agents-file', agentsFile, '--agent-timeout', '5'];

    async function phase(label, withHostile) {
      writeFileSync(agentsFile, JSON.stringify(withHostile ? { domains: { ...agents.domains, [hostile]: { url: floodUrl } } } : agents));
      const child = spawn(process.execPath, [VCPUCTL, ...base, '--json', 'watch', ...names], { stdio: ['ignore', 'pipe', 'ignore'] });
      children.push(child);
      const waiters = new Set();
      let tail = '';
      let lines = 0;
      child.stdout.setEncoding('utf8').on('data', (d) => {
        const ls = (tail + d).split('\n');
        tail = ls.pop();
        for (const l of ls) {
          if (!l.trim()) continue;
          lines++;
          const r = JSON.parse(l);
          for (const w of [...waiters]) if (w(r)) waiters.delete(w);
        }
      });
      const wait = (pred, ms) =>
        new Promise((resolve, reject) => {
          const t = setTimeout(() => {
            waiters.delete(w);
            reject(new Error('timeout'));
          }, ms);
          const w = (r) => {
            if (!pred(r)) return false;
            clearTimeout(t);
            resolve(performance.now());
            return true;
          };
          waiters.add(w);
        });
      // Every honest guest subscribed, then a few seconds for the flood (if any) to settle into its budget.
      const deadline = Date.now() + 60_000;
      while (push.size < honest.length && Date.now() < deadline) await sleep(100);
      await sleep(withHostile ? 5000 : 2000);
      const latencies = [];
      let missed = 0;
      let peakRss = rssMiB(child.pid);
      const sampler = setInterval(() => {
        try {
          peakRss = Math.max(peakRss, rssMiB(child.pid));
        } catch {
          /* exited */
        }
      }, 100);
      for (let i = 0; i < ROUNDS; i++) {
        const n = honest[i % honest.length];
        const seen = wait((r) => r.domain === n && Array.isArray(r.changes) && r.changes.includes('cpu0 ONLINED'), 10_000);
        const t0 = performance.now();
        push.get(n)();
        try {
          latencies.push((await seen) - t0);
        } catch {
          missed++;
        }
        await sleep(100);
      }
      clearInterval(sampler);
      const alive = child.exitCode === null;
      child.kill('SIGTERM');
      push.clear();
      return { label, latencies, missed, peakRss, alive, lines };
    }

    console.log(`vcpuctl hostile-guest benchmark (node ${process.version}, ${DOMAINS} bare domains, fake agents on loopback)`);
    const calm = await phase('no attack', false);
    const sentBefore = flooding.sent();
    const attacked = await phase('one guest flooding', true);
    const flooded = flooding.sent() - sentBefore;
    for (const p of [calm, attacked]) {
      console.log(
        `  watch, ${p.label.padEnd(19)} honest guests' event latency: p50 ${pct(p.latencies, 0.5).toFixed(1)} ms, p99 ${pct(p.latencies, 0.99).toFixed(1)} ms (${p.latencies.length} events, ${p.missed} missed); watch peak RSS ${p.peakRss.toFixed(1)} MiB; ${p.alive ? 'still running' : 'EXITED'}`,
      );
    }
    console.log(`  the flooding guest sent about ${flooded} frames in the attack phase; watch printed ${attacked.lines} lines in it (all domains)`);
    console.log(`  p99 under attack / without: ${(pct(attacked.latencies, 0.99) / pct(calm.latencies, 0.99)).toFixed(2)}x (goal: at most 2x); RSS +${(attacked.peakRss - calm.peakRss).toFixed(1)} MiB (goal: at most +64 MiB)`);

    // status against the worst single frame, beside a normal one: wall and peak RSS of the whole command.
    const preload = join(dir, 'maxrss.js');
    writeFileSync(preload, "process.on('exit', () => process.stderr.write(`\\nMAXRSS ${process.resourceUsage().maxRSS}\\n`));\n");
    const n = honest[0];
    const cpus = Buffer.alloc(Math.floor((MAX_REPLY_BYTES - 64) / 2) * 2);
    for (let i = 0; i < cpus.length; i += 2) cpus[i] = 0x3a;
    const wrap = (field, body) => Buffer.concat([Buffer.from([(field << 3) | 2]), varint(body.length), body]);
    const worst = await FakeGuest.start(uuid(n), {
      snapshot: () => honestSnapshot(1),
      answer(env, s) {
        if (!env.snapshotRequest && !env.subscribeRequest) return false;
        s.send(Buffer.concat([Buffer.from([0x08]), varint(env.id), wrap(env.snapshotRequest ? 12 : 14, wrap(1, cpus))]));
        return true;
      },
    });
    fakes.push(worst);
    const run = (url) =>
      new Promise((resolve) => {
        writeFileSync(agentsFile, JSON.stringify({ domains: { [n]: { url } } }));
        const t0 = performance.now();
        const c = spawn(process.execPath, ['--require', preload, VCPUCTL, ...base, 'status', n], { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        c.stderr.setEncoding('utf8').on('data', (d) => (err += d));
        c.on('exit', (code) => resolve({ ms: performance.now() - t0, rss: Number(/MAXRSS (\d+)/.exec(err)?.[1] ?? 0) / 1024, code }));
      });
    const normal = [];
    const bad = [];
    for (let i = 0; i < 5; i++) {
      normal.push(await run(agents.domains[n].url));
      bad.push(await run(worst.url));
    }
    const med = (xs, k) =>
      pct(
        xs.map((x) => x[k]),
        0.5,
      );
    console.log(`  status, normal guest:          median ${med(normal, 'ms').toFixed(0)} ms, peak RSS ${med(normal, 'rss').toFixed(1)} MiB (5 runs)`);
    console.log(`  status, 8 MiB of empty Cpus:   median ${med(bad, 'ms').toFixed(0)} ms, peak RSS ${med(bad, 'rss').toFixed(1)} MiB (5 runs; goal: at most --agent-timeout + 1 s and +64 MiB)`);
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(fakes.map((g) => g.close()));
    for (const n of names) removeDomain(n);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
