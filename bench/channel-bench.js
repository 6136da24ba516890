#!/usr/bin/env node
/**
 * The agent's virtio-serial channel, measured (figures quoted in the README):
 *  - snapshot round trip over the channel versus over TCP, on the same real
 *    rig guest (TCG), the host using the project's AgentClient both ways;
 *  - CPU use, inside that guest, of the agent while no host is connected;
 *  - on this host, the idle CPU the channel adds to an agent: no channel,
 *    --channel waiting for a port that is not there, and --channel on an
 *    idle port (a FIFO standing in: every poll is a read() that finds nothing).
 *  - the cost of the channel's idle poll alone, in one process.
 * Boots one guest (about 10 s to 3 min, depending on load) and removes it;
 * BENCH_GUEST=0 prints only the last figure.
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

/**
 * The cost of the channel's idle poll itself, in this process: a
 * DeviceReader at the channel's periods on a FIFO with no writer (read()
 * returns 0, as the port does while no host is connected), then on a FIFO
 * with a writer that sends nothing (EAGAIN, as with an idle host), against
 * the same time spent with no reader at all.
 */
async function pollCost() {
  const { DeviceReader } = require('../packages/guest-agent/dist/device/device-reader');
  const { NonBlockingDevice } = require('../packages/guest-agent/dist/device/nonblocking-device');
  const { CHANNEL_POLL } = require('../packages/guest-agent/dist/server/channel');
  const dir = mkdtempSync(join(tmpdir(), 'vcpuctl-channel-bench-'));
  const fifo = join(dir, 'port');
  execFileSync('mkfifo', [fifo]);
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const measure = async (withReader, hostConnected) => {
    const holder = hostConnected ? openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK) : undefined;
    let polls = 0;
    let reader;
    if (withReader) {
      reader = new DeviceReader(NonBlockingDevice.open(fifo, 'read'), {
        periods: CHANNEL_POLL,
        readBytes: 65536,
        maxBytesPerTick: 262144,
        onData: () => undefined,
        onEof: () => void polls++,
        onError: () => 'continue',
      });
      const drain = reader.drain.bind(reader);
      reader.drain = () => {
        if (hostConnected) polls++;
        return drain();
      };
      reader.start();
    }
    const u0 = process.cpuUsage();
    await sleep(IDLE_SECONDS * 1000);
    const u = process.cpuUsage(u0);
    reader?.stop();
    reader?.device.close();
    if (holder !== undefined) closeSync(holder);
    return { pct: ((u.user + u.system) / 1e6 / IDLE_SECONDS) * 100, polls };
  };
  try {
    const base = await measure(false, false);
    const noHost = await measure(true, false);
    const idleHost = await measure(true, true);
    const line = (label, m) => `  ${label}${m.polls / IDLE_SECONDS} polls/s, ${(m.pct - base.pct).toFixed(3)} % of one core above a process doing nothing (${base.pct.toFixed(3)} %)`;
    return [line('no host connected (read() = 0):  ', noHost), line('host connected, idle (EAGAIN):  ', idleHost)];
  } finally {
    clearInterval(keepAlive);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const poll = await pollCost();
  if (process.env.BENCH_GUEST === '0') {
    console.log(`the channel's idle poll on this host (node ${process.version}, over ${IDLE_SECONDS} s each):`);
    for (const l of poll) console.log(l);
    return;
  }
  const host = await hostFigures();
  const guest = await guestFigures();
  console.log(`vcpuctl-agent channel benchmark (node ${process.version}; kernel log not followed on the host runs)`);
  console.log('on a real rig guest (1 vCPU, TCG), the same agent over both transports:');
  for (const l of guest) console.log(l);
  console.log('on this host, agent idle CPU (2-CPU tree, 50 ms sysfs poll, no client):');
  for (const l of host) console.log(l);
  console.log(`the channel's idle poll itself, in one process on this host (over ${IDLE_SECONDS} s each):`);
  for (const l of poll) console.log(l);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
