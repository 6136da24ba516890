#!/usr/bin/env node
/**
 * Measures the guest agent and prints figures (quoted in the README), for
 * trees of 8, 64 and 256 CPUs:
 *  - latency from a change of the online file to the CpuEvent reaching a
 *    connected client, at the default poll interval (no kernel line: the
 *    poll finds it), and, on the 8-CPU tree, woken by the kernel line;
 *  - snapshot round trip over the socket, against one whole
 *    `lscpu --sysroot` process on the same tree, measured in the same run;
 *  - idle CPU, and resident memory idle with a connected controller, against
 *    a bare Node process (same binary, same flags) measured in the same run.
 * It runs the real CLI (`vcpuctl-agent run`) as a child process on
 * kernel-shaped trees, on 127.0.0.1 only. Run after `npm run build`.
 *
 * Environment: BENCH_CHANGES, BENCH_SNAPSHOTS, BENCH_IDLE_SECONDS,
 * BENCH_SIZES (e.g. "8,256"), AGENT_NODE_FLAGS (V8/Node flags for both the
 * agent and the bare-Node reference, e.g. "--lite-mode").
 */
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const { mkdtempSync, writeFileSync, readFileSync, rmSync, openSync, writeSync, closeSync, constants } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { CpuTreeBuilder } = require('../test/dist/helpers/cpu-tree-builder');
const { AgentClient } = require('@vcpuctl/host');

const AGENT = join(__dirname, '../packages/guest-agent/bin/vcpuctl-agent.js');
const CHANGES = Number(process.env.BENCH_CHANGES ?? 60);
const SNAPSHOTS = Number(process.env.BENCH_SNAPSHOTS ?? 60);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 10);
const SIZES = (process.env.BENCH_SIZES ?? '8,64,256').split(',').map(Number);
const NODE_FLAGS = (process.env.AGENT_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
const CLK_TCK = 100; // Linux USER_HZ for /proc/PID/stat times
const TOKEN = 'bench-token-0123456789abcdef';

const SPECS = {
  8: { sockets: 1, coresPerSocket: 8, threadsPerCore: 1 },
  64: { sockets: 2, coresPerSocket: 16, threadsPerCore: 2, nodes: 2 },
  256: { sockets: 4, coresPerSocket: 32, threadsPerCore: 2, nodes: 2 },
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const fmt = (ms) => `${ms.toFixed(2)} ms`;
const line = (xs) => `median ${fmt(pct(xs, 50))}, p95 ${fmt(pct(xs, 95))}, max ${fmt(Math.max(...xs))} (${xs.length})`;

function cpuTicks(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}
function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) / 1024;
}

/** RSS of a Node process doing nothing, started the same way as the agent. */
async function bareNodeRss() {
  const child = spawn(process.execPath, [...NODE_FLAGS, '-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    await sleep(1500);
    return rssMiB(child.pid);
  } finally {
    child.kill('SIGTERM');
  }
}

/** Median wall time of a whole `lscpu --sysroot` process, the operator's alternative. */
function lscpuMs(root, runs) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    execFileSync('lscpu', ['--sysroot', root], { stdio: 'ignore', env: { ...process.env, LC_ALL: 'C' } });
    times.push(performance.now() - t0);
  }
  return times;
}

async function benchSize(cpus) {
  const tree = new CpuTreeBuilder(SPECS[cpus]);
  const dir = mkdtempSync(join(tmpdir(), `vcpuctl-bench-${process.pid}-`));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  // A FIFO plays /dev/kmsg: the kernel logs a line for every hot-add, online and offline.
  const kmsg = join(dir, 'kmsg');
  execFileSync('mkfifo', [kmsg]);
  const kmsgWriter = openSync(kmsg, constants.O_RDWR | constants.O_NONBLOCK);
  const child = spawn(process.execPath, [...NODE_FLAGS, AGENT, 'run', '--listen', '127.0.0.1:0', '--token-file', tokenFile, '--sysroot', tree.root, '--kmsg', kmsg, '--no-auto-online'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const out = {};
  try {
    const port = await new Promise((resolve, reject) => {
      child.stdout.on('data', (d) => {
        const m = /listening on .*:(\d+)/.exec(String(d));
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`agent exited ${code}`)));
    });
    const client = await AgentClient.connect({ url: `ws://127.0.0.1:${port}`, token: TOKEN }, { timeoutMs: 5000 });
    await client.subscribe();
    // 0. memory idle with a controller connected and subscribed, before any load
    await sleep(2000);
    out.rssIdle = rssMiB(child.pid);

    // 1. change -> event. The kernel rewrites `online` in place; so does this
    // loop, flipping the last CPU off and on.
    const onlineFile = join(tree.cpuDir, 'online');
    const last = cpus - 1;
    let seq = 1000;
    const measure = async (withKernelLine) => {
      const latencies = [];
      for (let i = 0; i < CHANGES; i++) {
        const got = new Promise((resolve) => client.once('event', () => resolve(performance.now())));
        const t0 = performance.now();
        writeFileSync(onlineFile, i % 2 === 0 ? `0-${last - 1}\n` : `0-${last}\n`);
        if (withKernelLine) writeSync(kmsgWriter, `6,${seq++},${Math.round(t0 * 1000)},-;${i % 2 === 0 ? `smpboot: CPU ${last} is now offline` : `smpboot: Booting Node 0 Processor ${last} APIC 0x${last.toString(16)}`}\n`);
        latencies.push((await got) - t0);
        await sleep(5 + Math.random() * 50); // land the next change at a random phase of the poll
      }
      return latencies;
    };
    out.polled = await measure(false);
    if (cpus === SIZES[0]) out.logged = await measure(true);

    // 2. snapshot round trip, paced under the agent's per-connection rate
    // limit (50/s), interleaved with lscpu runs so both see the same load.
    out.trips = [];
    out.lscpu = [];
    for (let i = 0; i < SNAPSHOTS; i++) {
      const t0 = performance.now();
      const snap = await client.snapshot();
      out.trips.push(performance.now() - t0);
      if (i === 0 && snap.cpus.length !== cpus) throw new Error(`snapshot has ${snap.cpus.length} CPUs, expected ${cpus}`);
      if (i % 3 === 0) out.lscpu.push(...lscpuMs(tree.root, 1));
      await sleep(25);
    }

    // 3. idle CPU and memory after the load (subscribed client connected, nothing changing)
    await sleep(1000);
    const t0 = cpuTicks(child.pid);
    await sleep(IDLE_SECONDS * 1000);
    out.idlePct = ((cpuTicks(child.pid) - t0) / CLK_TCK / IDLE_SECONDS) * 100;
    out.rss = rssMiB(child.pid);
    await client.close();
    return out;
  } finally {
    child.kill('SIGTERM');
    closeSync(kmsgWriter);
    tree.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const bare = await bareNodeRss();
  const flags = NODE_FLAGS.length ? ` ${NODE_FLAGS.join(' ')}` : '';
  console.log(`vcpuctl-agent benchmark (default settings, node ${process.version}${flags})`);
  for (const cpus of SIZES) {
    const r = await benchSize(cpus);
    const trip = pct(r.trips, 50);
    const lscpu = pct(r.lscpu, 50);
    console.log(`${cpus}-CPU tree${SPECS[cpus].nodes ? ` (${SPECS[cpus].sockets} sockets x ${SPECS[cpus].coresPerSocket} cores x ${SPECS[cpus].threadsPerCore} threads, ${SPECS[cpus].nodes} nodes)` : ''}`);
    console.log(`  change -> event, found by the 50 ms poll:   ${line(r.polled)}`);
    if (r.logged) console.log(`  change -> event, woken by the kernel line:  ${line(r.logged)}`);
    console.log(`  snapshot round trip:        ${line(r.trips)}`);
    console.log(`  one lscpu --sysroot process: median ${fmt(lscpu)} (${r.lscpu.length} runs, same tree, same run); snapshot/lscpu = ${(trip / lscpu).toFixed(2)}x`);
    console.log(`  idle CPU:                   ${r.idlePct.toFixed(2)} % of one core (over ${IDLE_SECONDS} s)`);
    console.log(`  resident memory, idle, controller connected: ${r.rssIdle.toFixed(1)} MiB; bare node ${bare.toFixed(1)} MiB; agent - bare = ${(r.rssIdle - bare).toFixed(1)} MiB`);
    console.log(`  resident memory after the load above, idle:  ${r.rss.toFixed(1)} MiB; agent - bare = ${(r.rss - bare).toFixed(1)} MiB`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
