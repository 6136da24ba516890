#!/usr/bin/env node
/**
 * Soak: the real agent process (`vcpuctl-agent run`) on a kernel-shaped tree
 * on 127.0.0.1, attacked for SOAK_SECONDS (default 120) by every peer issue 9
 * describes at once, while a legitimate controller asks for a snapshot every
 * second from its own address. Prints figures: requests served to each,
 * the agent's RSS and CPU over time, and the legitimate controller's latency
 * percentiles. Run after `npm run build`.
 *
 * Attackers: snapshots at 40/s (SOAK_CPUS-CPU tree); reconnecting floods to
 * refill the rate limit; a subscriber that stops reading while the CPUs
 * change every 30 ms; connections held idle from one address.
 */
'use strict';
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { AgentProcess, WsPeer, rawPeer, sendEnvelope } = require('../test/dist/helpers/agent-process');

const SECONDS = Number(process.env.SOAK_SECONDS ?? 120);
const CPUS = Number(process.env.SOAK_CPUS ?? 256);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] : NaN);

async function main() {
  const agent = new AgentProcess({ sockets: 2, coresPerSocket: CPUS / 4, threadsPerCore: 2 });
  await agent.start(['--poll-interval', '10']);
  const until = Date.now() + SECONDS * 1000;
  const live = () => Date.now() < until && agent.alive;
  const served = { snapshot40: 0, reconnect: 0, legit: 0, legitFailed: 0 };
  const latencies = [];
  const samples = [];
  const tasks = [];

  // Snapshots at 40/s from 127.0.0.5, reconnecting whenever cut off.
  tasks.push(
    (async () => {
      let p;
      while (live()) {
        if (!p || !p.isOpen) p = await WsPeer.open(agent.url, agent.token, '127.0.0.5').catch(() => undefined);
        p?.request({ snapshotRequest: {} }, 60_000).then(
          () => served.snapshot40++,
          () => undefined,
        );
        await sleep(25);
      }
      p?.close();
    })(),
  );

  // Reconnect flood from 127.0.0.4: a fresh connection, requests until cut off.
  tasks.push(
    (async () => {
      while (live()) {
        const p = await WsPeer.open(agent.url, agent.token, '127.0.0.4').catch(() => undefined);
        if (!p) {
          await sleep(20);
          continue;
        }
        while (p.isOpen && live()) {
          const r = await Promise.allSettled([0, 1, 2, 3].map(() => p.request({ snapshotRequest: {} }, 5000)));
          served.reconnect += r.filter((x) => x.status === 'fulfilled' && x.value.snapshotReply).length;
        }
        p.close();
      }
    })(),
  );

  // A subscriber that stops reading, re-subscribing whenever dropped, while the CPUs change every 30 ms.
  const online = join(agent.tree.cpuDir, 'online');
  let down = false;
  const flip = setInterval(() => {
    down = !down;
    writeFileSync(online, `0-${down ? CPUS - 2 : CPUS - 1}\n`);
  }, 30);
  const stuckSockets = [];
  tasks.push(
    (async () => {
      while (live()) {
        const s = await rawPeer(agent.port, agent.token, '127.0.0.3').catch(() => undefined);
        if (s) {
          sendEnvelope(s, { id: 1, subscribeRequest: {} });
          await sleep(200);
          s.pause();
          stuckSockets.push(s);
          // A paused socket never sees its close: watch the agent's log instead.
          const gone = `127.0.0.3:${s.localPort}: disconnected`;
          while (live() && !agent.log.some((l) => l.includes(gone))) await sleep(500);
          s.destroy();
        }
        await sleep(1000);
      }
    })(),
  );

  // Idle connections held from 127.0.0.7 (as many as the agent lets one peer hold), reopened when closed.
  const idle = [];
  tasks.push(
    (async () => {
      while (live()) {
        for (let i = idle.filter((p) => p.isOpen).length; i < 16; i++) {
          const p = await WsPeer.open(agent.url, agent.token, '127.0.0.7').catch(() => undefined);
          if (p) idle.push(p);
        }
        await sleep(2000);
      }
    })(),
  );

  // The legitimate controller.
  tasks.push(
    (async () => {
      await sleep(2000);
      while (live()) {
        const started = Date.now();
        try {
          // The controller's own patience: 10 s for the connection and the answer together.
          let timer;
          const p = await Promise.race([WsPeer.open(agent.url, agent.token, '127.0.0.6'), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('connect timed out')), 10_000)))]).finally(() => clearTimeout(timer));
          await p.request({ snapshotRequest: {} }, Math.max(1, 10_000 - (Date.now() - started)));
          p.close();
          latencies.push(Date.now() - started);
          served.legit++;
        } catch {
          served.legitFailed++;
        }
        await sleep(1000);
      }
    })(),
  );

  const cpu0 = agent.cpuSeconds();
  const t0 = Date.now();
  let lastCpu = cpu0;
  let lastT = t0;
  tasks.push(
    (async () => {
      while (live()) {
        await sleep(Math.min(10_000, SECONDS * 100));
        if (!agent.alive) break;
        const cpu = agent.cpuSeconds();
        const now = Date.now();
        samples.push({ t: (now - t0) / 1000, rss: agent.rssMiB(), busy: (cpu - lastCpu) / ((now - lastT) / 1000) });
        lastCpu = cpu;
        lastT = now;
      }
    })(),
  );

  await Promise.all(tasks);
  clearInterval(flip);
  for (const p of idle) p.close();
  for (const s of stuckSockets) s.destroy();
  const alive = agent.alive;
  const peak = alive ? agent.peakRssMiB() : NaN;
  const drops = agent.log.filter((l) => /closing: RATE_LIMITED: peer is not reading/.test(l)).length;
  const pongDrops = agent.log.filter((l) => /closing: no pong/.test(l)).length;
  const idleDrops = agent.log.filter((l) => /closing: idle for/.test(l)).length;
  const refusedPeerCap = agent.log.filter((l) => /refused: this peer already holds/.test(l)).length;
  await agent.stop();

  console.log(`agent soak: ${SECONDS} s, ${CPUS}-CPU tree, agent ${alive ? 'alive' : 'DEAD'} at the end`);
  console.log(`  served: legit ${served.legit} (failed ${served.legitFailed}), 40/s snapshot attacker ${served.snapshot40}, reconnect flooder ${served.reconnect}`);
  console.log(`  legit latency (connect + snapshot): p50 ${pct(latencies, 50)} ms, p90 ${pct(latencies, 90)} ms, p99 ${pct(latencies, 99)} ms, max ${Math.max(...latencies)} ms`);
  console.log(`  dropped: not reading ${drops}, no pong ${pongDrops}, idle ${idleDrops}; upgrades refused by the per-peer cap ${refusedPeerCap}`);
  console.log(`  agent CPU over the run: ${((((samples.length ? lastCpu : cpu0) - cpu0) / ((lastT - t0) / 1000)) * 100).toFixed(0)}% of a core; peak RSS ${peak.toFixed(0)} MiB`);
  console.log('  t(s)   RSS(MiB)  CPU(% of a core)');
  for (const s of samples) console.log(`  ${s.t.toFixed(0).padStart(4)}   ${s.rss.toFixed(0).padStart(7)}   ${(s.busy * 100).toFixed(0).padStart(5)}`);
  process.exit(alive && served.legitFailed === 0 ? 0 : 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
