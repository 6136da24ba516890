#!/usr/bin/env node
/**
 * A confirmed `vcpuctl set` against the hot-add floor, on one real rig guest
 * (test/e2e/rig/guest.ts: the checkout's agent, auto-online on, 9p root, TCG).
 *
 * - floor: libvirt's setvcpus over its RPC (one connection opened before the
 *   clock starts) until the guest kernel lists the new CPUs online, read by a
 *   probe independent of vcpuctl: the rig helper's GET /cpu-online
 *   (/sys/devices/system/cpu/online) polled back to back through QEMU's
 *   network forward.
 * - vcpuctl set, CLI started by node as an operator runs it, through each
 *   backend: libvirt's RPC (qemu:///system) and virsh processes
 *   (qemu:///system?mode=legacy, a URI vcpuctl's RPC does not take, so the
 *   driver falls back to virsh). Its report's timeline says when libvirt
 *   returned and when the agent confirmed.
 *
 * Steps of +1 and +3 vCPUs. QEMU 7.2 under TCG crashes when a vCPU is plugged
 * again after an unplug (docs/RIG-FACTS), so every step only adds: the guest
 * boots with 1 of MAXIMUM, and a first +1 (not counted) pays the first
 * online's one-time cost. Run alone: it boots a guest and times it.
 *
 *   node bench/set-floor-bench.js [--rounds N] [--json]
 */
'use strict';
const { spawnSync } = require('node:child_process');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const http = require('node:http');

const ROOT = join(__dirname, '..');
const { TestGuest, removeRigLeftovers } = require(join(ROOT, 'test/dist/e2e/rig/guest'));
const { setupHost, VCPUCTL } = require(join(ROOT, 'test/dist/helpers/libvirt'));
const { LibvirtRpc, unixTransport } = require(join(ROOT, 'packages/host/dist'));

const args = process.argv.slice(2);
const ROUNDS = Number(args.includes('--rounds') ? args[args.indexOf('--rounds') + 1] : 2);
const JSON_OUT = args.includes('--json');
const STEPS = [1, 3];
const URIS = { rpc: 'qemu:///system', virsh: 'qemu:///system?mode=legacy' };
/** 1 at boot, the warm-up +1, then per round: a floor step and a set per backend, for each step size. */
const MAXIMUM = 2 + ROUNDS * STEPS.reduce((a, s) => a + s * (1 + Object.keys(URIS).length), 0);

const ms = (ns) => Number(ns) / 1e6;
const now = () => process.hrtime.bigint();

function cpuCount(list) {
  let n = 0;
  for (const part of list.trim().split(',').filter(Boolean)) {
    const [a, b] = part.split('-').map(Number);
    n += b === undefined ? 1 : b - a + 1;
  }
  return n;
}

function get(port, path) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res
        .setEncoding('utf8')
        .on('data', (d) => (body += d))
        .on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${path} timed out`)));
  });
}

async function waitOnline(g, want, deadlineMs = 30_000) {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (cpuCount(await get(g.helperPort, '/cpu-online')) >= want) return now();
    if (Date.now() > end) throw new Error(`the guest did not show ${want} CPUs online within ${deadlineMs / 1000} s`);
  }
}

async function floorStep(rpc, dom, g, target) {
  const t0 = now();
  await rpc.setVcpus(dom, target, { live: true, config: false });
  const returned = now();
  const online = await waitOnline(g, target);
  return { setvcpusMs: ms(returned - t0), onlineMs: ms(online - t0) };
}

function setStep(g, uri, target, reportDir) {
  const t0 = now();
  const r = spawnSync(process.execPath, [VCPUCTL, '-c', uri, '--agents-file', g.agentsFile, '--report-dir', reportDir, '--json', 'set', g.name, String(target)], { encoding: 'utf8', timeout: 120_000 });
  const wall = ms(now() - t0);
  if (r.status !== 0) throw new Error(`vcpuctl set ${target} via ${uri} exited ${r.status}: ${r.stderr}`);
  const { report } = JSON.parse(r.stdout);
  const first = report.timeline[0].atMs;
  const at = (re) => {
    const e = report.timeline.find((x) => re.test(x.what));
    return e ? e.atMs - first : undefined;
  };
  return { wallMs: wall, libvirtReturnedMs: at(/^libvirt returned/), confirmedMs: at(/^agent confirmed/), lastMarkMs: report.timeline[report.timeline.length - 1].atMs - first };
}

async function main() {
  setupHost();
  removeRigLeftovers();
  const reportDir = mkdtempSync(join(tmpdir(), 'vcpuctl-set-floor-'));
  process.stderr.write(`booting a rig guest with 1 of ${MAXIMUM} vCPUs...\n`);
  const g = await TestGuest.boot({ current: 1, maximum: MAXIMUM });
  const rpc = await LibvirtRpc.open(unixTransport('/run/libvirt/libvirt-sock'), 'qemu:///system');
  const results = { floor: {}, rpc: {}, virsh: {} };
  try {
    await g.waitForAgent();
    const dom = await rpc.lookup(g.name);
    let current = 1;
    await floorStep(rpc, dom, g, (current += 1)); // warm-up: the first online costs more, once
    for (let round = 0; round < ROUNDS; round++) {
      for (const step of STEPS) {
        (results.floor[step] ??= []).push(await floorStep(rpc, dom, g, (current += step)));
        for (const backend of Object.keys(URIS)) {
          (results[backend][step] ??= []).push(setStep(g, URIS[backend], (current += step), reportDir));
        }
        process.stderr.write(`round ${round + 1}, +${step}: ${current} vCPUs\n`);
      }
    }
  } finally {
    await rpc.close();
    g.destroy();
    rmSync(reportDir, { recursive: true, force: true });
  }
  if (JSON_OUT) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    return;
  }
  const median = (xs) => {
    const s = xs.filter((x) => x !== undefined).sort((a, b) => a - b);
    return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
  };
  const f = (x) => (Number.isNaN(x) ? '-' : `${Math.round(x)} ms`);
  console.log(`rounds ${ROUNDS}, medians (all runs in --json)`);
  console.log('step | floor: setvcpus / online | set via rpc: wall / libvirt returned / confirmed / done | set via virsh: wall / libvirt returned / confirmed / done');
  for (const step of STEPS) {
    const fl = results.floor[step];
    const cols = ['rpc', 'virsh'].map((b) => {
      const r = results[b][step];
      return [median(r.map((x) => x.wallMs)), median(r.map((x) => x.libvirtReturnedMs)), median(r.map((x) => x.confirmedMs)), median(r.map((x) => x.lastMarkMs))].map(f).join(' / ');
    });
    console.log(`+${step} | ${f(median(fl.map((x) => x.setvcpusMs)))} / ${f(median(fl.map((x) => x.onlineMs)))} | ${cols[0]} | ${cols[1]}`);
  }
  const runs = (xs, k) => xs.map((x) => Math.round(x[k])).join(', ');
  for (const step of STEPS) {
    console.log(
      `+${step} runs: floor online ${runs(results.floor[step], 'onlineMs')} ms; set via rpc wall ${runs(results.rpc[step], 'wallMs')} ms (confirmed at ${runs(results.rpc[step], 'confirmedMs')}); via virsh wall ${runs(results.virsh[step], 'wallMs')} ms (confirmed at ${runs(results.virsh[step], 'confirmedMs')})`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
