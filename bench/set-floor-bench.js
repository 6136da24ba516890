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
 *   of (--backends, default rpc,ssh): libvirt's RPC on the local socket
 *   (rpc: qemu:///system), the same RPC through ssh to a loopback sshd
 *   started for the bench (ssh: qemu+ssh://root@127.0.0.1:PORT/system, the
 *   test fixture's, run without this machine's slow ~/.bashrc; the
 *   connection is shared between commands, and the first status after
 *   ending it is timed apart), and virsh processes (virsh: qemu:///system?mode=legacy,
 *   a URI vcpuctl's RPC does not take). Its report's timeline says when
 *   libvirt returned and when the agent confirmed. Each set is compared
 *   with the floor step of its own round (the floor of a +3 varies by 2x
 *   between rounds on this guest), and the median of those ratios is given.
 * - single-domain `status`, local and through ssh, alternated (--status-runs).
 *
 * Steps of +1 and +3 vCPUs. QEMU 7.2 under TCG crashes when a vCPU is plugged
 * again after an unplug (docs/RIG-FACTS), so every step only adds: the guest
 * boots with 1 of MAXIMUM, and a first +1 (not counted) pays the first
 * online's one-time cost. Run alone: it boots a guest and times it.
 *
 *   node bench/set-floor-bench.js [--rounds N] [--backends rpc,ssh,virsh] [--status-runs N] [--json]
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
const { TestSshd } = require(join(ROOT, 'test/dist/helpers/sshd'));
const { LibvirtRpc, unixTransport } = require(join(ROOT, 'packages/host/dist'));

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const ROUNDS = Number(opt('--rounds', 3));
const STATUS_RUNS = Number(opt('--status-runs', 7));
const BACKENDS = opt('--backends', 'rpc,ssh').split(',');
const JSON_OUT = args.includes('--json');
const STEPS = [1, 3];
/** 1 at boot, the warm-up +1, then per round: a floor step and a set per backend, for each step size. */
const MAXIMUM = 2 + ROUNDS * STEPS.reduce((a, s) => a + s * (1 + BACKENDS.length), 0);

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

function statusRun(g, uri) {
  const t0 = now();
  const r = spawnSync(process.execPath, [VCPUCTL, '-c', uri, '--agents-file', g.agentsFile, '--json', 'status', g.name], { encoding: 'utf8', timeout: 60_000 });
  const wall = ms(now() - t0);
  if (r.status !== 0) throw new Error(`vcpuctl status via ${uri} exited ${r.status}: ${r.stderr}`);
  return wall;
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
  // Root's ~/.bashrc on this machine (pyenv) costs every ssh session 0.4-0.8 s: the bench's sshd runs without it (test/helpers/sshd.ts).
  const sshd = BACKENDS.includes('ssh') ? await TestSshd.start({ plainShell: true }) : undefined;
  const URIS = { rpc: 'qemu:///system', virsh: 'qemu:///system?mode=legacy', ...(sshd ? { ssh: sshd.uri() } : {}) };
  const results = { floor: {}, status: {} };
  for (const b of BACKENDS) results[b] = {};
  try {
    await g.waitForAgent();
    const dom = await rpc.lookup(g.name);
    let current = 1;
    await floorStep(rpc, dom, g, (current += 1)); // warm-up: the first online costs more, once
    for (let round = 0; round < ROUNDS; round++) {
      for (const step of STEPS) {
        (results.floor[step] ??= []).push(await floorStep(rpc, dom, g, (current += step)));
        for (const backend of BACKENDS) {
          (results[backend][step] ??= []).push(setStep(g, URIS[backend], (current += step), reportDir));
        }
        process.stderr.write(`round ${round + 1}, +${step}: ${current} vCPUs\n`);
      }
    }
    if (sshd) {
      // The first command to a host opens the connection later ones share (libvirt/ssh-share.ts).
      sshd.endSharedConnections();
      results.statusSshCold = statusRun(g, URIS.ssh);
    }
    for (let i = 0; i < STATUS_RUNS; i++) for (const backend of BACKENDS) (results.status[backend] ??= []).push(statusRun(g, URIS[backend]));
  } finally {
    await rpc.close();
    await sshd?.stop();
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
  const x2 = (x) => (Number.isNaN(x) ? '-' : `${x.toFixed(2)}x`);
  console.log(`rounds ${ROUNDS}, medians (all runs in --json); ratios are each set's against the floor of its own round`);
  console.log(`step | floor: setvcpus / online | ${BACKENDS.map((b) => `set via ${b}: wall / libvirt returned / confirmed / done (confirmed, done vs floor)`).join(' | ')}`);
  for (const step of STEPS) {
    const fl = results.floor[step];
    const cols = BACKENDS.map((b) => {
      const r = results[b][step];
      const vs = (k) => median(r.map((x, i) => x[k] / fl[i].onlineMs));
      return `${[median(r.map((x) => x.wallMs)), median(r.map((x) => x.libvirtReturnedMs)), median(r.map((x) => x.confirmedMs)), median(r.map((x) => x.lastMarkMs))].map(f).join(' / ')} (${x2(vs('confirmedMs'))}, ${x2(vs('lastMarkMs'))})`;
    });
    console.log(`+${step} | ${f(median(fl.map((x) => x.setvcpusMs)))} / ${f(median(fl.map((x) => x.onlineMs)))} | ${cols.join(' | ')}`);
  }
  const runs = (xs, k) => xs.map((x) => Math.round(x[k])).join(', ');
  for (const step of STEPS) {
    console.log(
      `+${step} runs: floor online ${runs(results.floor[step], 'onlineMs')} ms; ${BACKENDS.map((b) => `set via ${b} done at ${runs(results[b][step], 'lastMarkMs')} (confirmed at ${runs(results[b][step], 'confirmedMs')})`).join('; ')}`,
    );
  }
  if (BACKENDS.includes('ssh')) {
    for (const step of STEPS) {
      const ratio = median(results.ssh[step].map((x, i) => x.lastMarkMs / results.rpc[step][i].lastMarkMs));
      console.log(`+${step}: set done through ssh against local, per round: ${x2(ratio)}`);
    }
  }
  for (const b of BACKENDS) console.log(`status via ${b}: median wall ${f(median(results.status[b] ?? []))} (runs ${(results.status[b] ?? []).map(Math.round).join(', ')} ms)`);
  if (BACKENDS.includes('ssh')) {
    console.log(`status through ssh against local: ${x2(median(results.status.ssh) / median(results.status.rpc))}`);
    console.log(`status through ssh, the first command (a new ssh connection): ${f(results.statusSshCold)}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
