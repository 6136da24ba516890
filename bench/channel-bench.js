#!/usr/bin/env node
/**
 * The agent's virtio-serial channel, measured (figures quoted in the README):
 *  - snapshot round trip over the channel versus over TCP, on the same real
 *    rig guest (TCG), the host using the project's AgentClient both ways;
 *  - CPU use, inside that guest, of the agent while no host is connected;
 *  - on this host, the idle CPU the channel adds to an agent: no channel,
 *    --channel waiting for a port that is not there, and --channel on an
 *    idle port (a FIFO standing in: every poll is a read() that finds nothing).
 * Boots one guest (about 10 s to 3 min, depending on load) and removes it.
 * Run after `npm run build`.
 */
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, openSync, closeSync, constants } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { TestGuest, removeRigLeftovers } = require('../test/dist/e2e/rig/guest');
const { setupHost } = require('../test/dist/helpers/libvirt');
const { CpuTreeBuilder } = require('../test/dist/helpers/cpu-tree-builder');
const { AgentClient } = require('@vcpuctl/host');

const AGENT = join(__dirname, '../packages/guest-agent/bin/vcpuctl-agent.js');
const TRIPS = Number(process.env.BENCH_SNAPSHOTS ?? 50);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 30);
const CLK_TCK = 100; // Linux USER_HZ for /proc/PID/stat times

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const fmt = (ms) => `${ms.toFixed(2)} ms`;
const cpuTicks = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
};

async function roundTrips(url, token) {
  const c = await AgentClient.connect({ url, token }, { timeoutMs: 10_000 });
  const trips = [];
  try {
    await c.snapshot(); // warm up
    for (let i = 0; i < TRIPS; i++) {
      const t0 = performance.now();
      await c.snapshot();
      trips.push(performance.now() - t0);
      await sleep(50); // under the per-connection rate limit, and lets the channel's poll slow down between requests
    }
  } finally {
    await c.close();
  }
  return `median ${fmt(pct(trips, 50))}, p95 ${fmt(pct(trips, 95))} (${TRIPS} requests)`;
}

async function connectTime(url, token) {
  const xs = [];
  for (let i = 0; i < 10; i++) {
    await sleep(500); // idle: the channel's poll is at its slowest
    const t0 = performance.now();
    const c = await AgentClient.connect({ url, token }, { timeoutMs: 10_000 });
    xs.push(performance.now() - t0);
    await c.close();
  }
  return `median ${fmt(pct(xs, 50))}, max ${fmt(Math.max(...xs))} (10 connections)`;
}

async function guestFigures() {
  setupHost();
  removeRigLeftovers();
  const g = await TestGuest.boot({ current: 1, maximum: 2, agentChannel: true, channelAtBoot: true });
  try {
    await g.waitForAgent();
    const channel = TestGuest.channelUrl(g.channelSocket());
    const out = [];
    out.push(`  snapshot round trip, TCP (user net):  ${await roundTrips(g.agentUrl, g.token)}`);
    out.push(`  snapshot round trip, channel:         ${await roundTrips(channel, undefined)}`);
    out.push(`  connect + hello, TCP:                 ${await connectTime(g.agentUrl, g.token)}`);
    out.push(`  connect + hello, channel:             ${await connectTime(channel, undefined)}`);
    const idle = async (label) => {
      await sleep(3000);
      const t0 = Number(await g.helper('GET', '/agent/cpu-ticks'));
      await sleep(IDLE_SECONDS * 1000);
      const t1 = Number(await g.helper('GET', '/agent/cpu-ticks'));
      out.push(`  agent idle CPU in the guest, ${label}${(((t1 - t0) / CLK_TCK / IDLE_SECONDS) * 100).toFixed(2)} % of one vCPU (over ${IDLE_SECONDS} s)`);
    };
    await idle('--channel, no host connected:  ');
    await g.helper('POST', '/agent/restart?channel=0');
    await g.waitForAgent(120_000);
    await idle('no channel (--listen only):    ');
    return out;
  } finally {
    g.destroy();
  }
}

async function idleOnHost(label, args, tree) {
  const child = spawn(process.execPath, [AGENT, 'run', '--sysroot', tree.root, '--kmsg', '/nonexistent', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    await new Promise((resolve, reject) => {
      child.stdout.on('data', resolve);
      child.once('exit', (code) => reject(new Error(`agent exited ${code}`)));
    });
    await sleep(2000);
    const t0 = cpuTicks(child.pid);
    await sleep(IDLE_SECONDS * 1000);
    return `  ${label}${(((cpuTicks(child.pid) - t0) / CLK_TCK / IDLE_SECONDS) * 100).toFixed(2)} % of one core (over ${IDLE_SECONDS} s)`;
  } finally {
    child.kill('SIGTERM');
  }
}

async function hostFigures() {
  const tree = new CpuTreeBuilder({ sockets: 1, coresPerSocket: 2, threadsPerCore: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'vcpuctl-channel-bench-'));
  const dev = join(dir, 'dev');
  mkdirSync(dev);
  try {
    const out = [];
    out.push(await idleOnHost('no channel (--listen only):         ', ['--listen', '127.0.0.1:0', '--insecure-no-auth'], tree));
    out.push(await idleOnHost('--channel, port absent (scanning):  ', ['--channel', '--dev-root', dev], tree));
    const ports = join(tree.root, 'sys/class/virtio-ports/vport1p1');
    mkdirSync(ports, { recursive: true });
    writeFileSync(join(ports, 'name'), 'org.vcpuctl.agent.0\n');
    execFileSync('mkfifo', [join(dev, 'vport1p1')]);
    const holder = openSync(join(dev, 'vport1p1'), constants.O_RDWR | constants.O_NONBLOCK);
    try {
      out.push(await idleOnHost('--channel, idle port (FIFO):        ', ['--channel', '--dev-root', dev], tree));
    } finally {
      closeSync(holder);
    }
    return out;
  } finally {
    tree.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const host = await hostFigures();
  const guest = await guestFigures();
  console.log(`vcpuctl-agent channel benchmark (node ${process.version}; kernel log not followed on the host runs)`);
  console.log('on a real rig guest (1 vCPU, TCG), the same agent over both transports:');
  for (const l of guest) console.log(l);
  console.log('on this host, agent idle CPU (2-CPU tree, 50 ms sysfs poll, no client):');
  for (const l of host) console.log(l);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
