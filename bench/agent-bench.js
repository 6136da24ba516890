#!/usr/bin/env node
/**
 * Measures the guest agent and prints figures (quoted in the README):
 *  - latency from a change of the online/present files to the CpuEvent
 *    reaching a connected client, at the default poll interval;
 *  - idle CPU use and resident memory of the agent process;
 *  - snapshot round trip over the socket.
 * It runs the real CLI (`vcpuctl-agent run`) as a child process on a
 * kernel-shaped tree, on 127.0.0.1 only. Run after `npm run build`.
 */
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const { mkdtempSync, writeFileSync, readFileSync, rmSync, openSync, writeSync, closeSync, constants } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { CpuTreeBuilder } = require('../test/dist/helpers/cpu-tree-builder');
const { AgentClient } = require('@vcpuctl/host');

const AGENT = join(__dirname, '../packages/guest-agent/bin/vcpuctl-agent.js');
const CHANGES = Number(process.env.BENCH_CHANGES ?? 100);
const SNAPSHOTS = Number(process.env.BENCH_SNAPSHOTS ?? 100);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 10);
const CLK_TCK = 100; // Linux USER_HZ for /proc/PID/stat times

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const fmt = (ms) => `${ms.toFixed(2)} ms`;

function cpuTicks(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}
function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) / 1024;
}

async function main() {
  const tree = new CpuTreeBuilder({ sockets: 1, coresPerSocket: 8, threadsPerCore: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'vcpuctl-bench-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'bench-token-0123456789abcdef\n', { mode: 0o600 });
  // A FIFO plays /dev/kmsg: the kernel logs a line for every hot-add, online and offline.
  const kmsg = join(dir, 'kmsg');
  execFileSync('mkfifo', [kmsg]);
  const kmsgWriter = openSync(kmsg, constants.O_RDWR | constants.O_NONBLOCK);
  const child = spawn(process.execPath, [AGENT, 'run', '--listen', '127.0.0.1:0', '--token-file', tokenFile, '--sysroot', tree.root, '--kmsg', kmsg, '--no-auto-online'], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, NODE_OPTIONS: process.env.AGENT_NODE_OPTIONS ?? '' } });
  try {
    const port = await new Promise((resolve, reject) => {
      child.stdout.on('data', (d) => {
        const m = /listening on .*:(\d+)/.exec(String(d));
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`agent exited ${code}`)));
    });
    const client = await AgentClient.connect({ url: `ws://127.0.0.1:${port}`, token: 'bench-token-0123456789abcdef' }, { timeoutMs: 5000 });
    await client.subscribe();

    // 1. change -> event latency. The kernel rewrites `online` in place; so
    // does this loop, flipping CPU 7 off and on. First with no kernel line
    // (the poll finds it), then with the line the kernel logs (kmsg wakes the agent).
    const onlineFile = join(tree.cpuDir, 'online');
    let seq = 1000;
    const measure = async (withKernelLine) => {
      const latencies = [];
      for (let i = 0; i < CHANGES; i++) {
        const got = new Promise((resolve) => client.once('event', () => resolve(performance.now())));
        const t0 = performance.now();
        writeFileSync(onlineFile, i % 2 === 0 ? '0-6\n' : '0-7\n');
        if (withKernelLine) writeSync(kmsgWriter, `6,${seq++},${Math.round(t0 * 1000)},-;${i % 2 === 0 ? 'smpboot: CPU 7 is now offline' : 'smpboot: Booting Node 0 Processor 7 APIC 0x7'}\n`);
        latencies.push((await got) - t0);
        await sleep(5 + Math.random() * 50); // land the next change at a random phase of the poll
      }
      return latencies;
    };
    const polled = await measure(false);
    const logged = await measure(true);

    // 2. snapshot round trip, paced under the agent's per-connection rate limit (50/s)
    const trips = [];
    for (let i = 0; i < SNAPSHOTS; i++) {
      const t0 = performance.now();
      await client.snapshot();
      trips.push(performance.now() - t0);
      await sleep(25);
    }

    // 3. idle CPU and memory (subscribed client connected, nothing changing)
    await sleep(1000);
    const t0 = cpuTicks(child.pid);
    await sleep(IDLE_SECONDS * 1000);
    const idlePct = ((cpuTicks(child.pid) - t0) / CLK_TCK / IDLE_SECONDS) * 100;
    const rss = rssMiB(child.pid);
    await client.close();

    const cores = 8;
    const line = (xs) => `median ${fmt(pct(xs, 50))}, p95 ${fmt(pct(xs, 95))}, max ${fmt(Math.max(...xs))} (${xs.length} changes)`;
    console.log(`vcpuctl-agent benchmark (${cores}-CPU tree, default settings, node ${process.version})`);
    console.log(`  change -> event, found by the 50 ms poll:   ${line(polled)}`);
    console.log(`  change -> event, woken by the kernel line:  ${line(logged)}`);
    console.log(`  snapshot round trip:       median ${fmt(pct(trips, 50))}, p95 ${fmt(pct(trips, 95))} (${SNAPSHOTS} requests)`);
    console.log(`  idle CPU:                  ${idlePct.toFixed(2)} % of one core (over ${IDLE_SECONDS} s)`);
    console.log(`  resident memory:           ${rss.toFixed(1)} MiB`);
  } finally {
    child.kill('SIGTERM');
    closeSync(kmsgWriter);
    tree.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
