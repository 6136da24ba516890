#!/usr/bin/env node
/**
 * How much run time the hypervisor accounts to a vCPU, per window, for each
 * state a guest can claim: the figures behind core/vcpu-claims.ts's
 * thresholds (issue 15, item 4: check the guest's claims on the host).
 *
 * Boots one disposable rig guest (TCG, current 1 / maximum 3, no auto-online),
 * then samples every vCPU every SAMPLE_MS through the driver's vcpuTimes()
 * (libvirt's vcpu.N.time over the RPC, what vcpuctl will use) and, for
 * comparison, the vCPU threads' /proc/<qemu pid>/task/<tid>/schedstat (ns
 * precision, local hosts only), in these phases:
 *   hot-added: vCPUs 1 and 2 plugged, never onlined by the guest;
 *   idle/offline: one vCPU online and idle, the other onlined once, then offlined;
 *   busy/offline: a pinned busy loop on the online one, the other offline;
 * the last two twice, the roles of vCPUs 1 and 2 swapped. vCPU 0 (the agent,
 * the rig helper, the kernel's housekeeping) is shown for reference. Then a
 * bare domain (no OS: SeaBIOS, then nothing to boot) for the libvirt tier's
 * test. Windows are cut from the samples without overlap.
 * Run after `npm run build` as root; it creates and removes its own domains.
 */
'use strict';
const { readFileSync } = require('node:fs');
const { LibvirtDriver } = require('@vcpuctl/host');
const { bareDomainXml, defineAndStart, removeDomain, setupHost, uniqueName, virsh } = require('../test/dist/helpers/libvirt');
const { TestGuest, removeRigLeftovers } = require('../test/dist/e2e/rig/guest');

const PHASE_S = Number(process.env.BENCH_PHASE_S ?? 30);
const SAMPLE_MS = 500;
const WINDOWS_S = [0.5, 1, 2, 5];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ms = (ns) => Number(ns) / 1e6;

/** The vCPU threads of a running domain: libvirt vCPU id (QEMU's cpu-index on this rig) -> /proc path of its schedstat. */
function schedstatPaths(name) {
  const pid = readFileSync(`/run/libvirt/qemu/${name}.pid`, 'utf8').trim();
  const cpus = JSON.parse(virsh('qemu-monitor-command', name, '{"execute":"query-cpus-fast"}')).return;
  return { pid, threads: new Map(cpus.map((c) => [c['cpu-index'], c['thread-id']])), paths: new Map(cpus.map((c) => [c['cpu-index'], `/proc/${pid}/task/${c['thread-id']}/schedstat`])) };
}

/** Samples every SAMPLE_MS for seconds, on an absolute schedule. */
async function sample(driver, name, seconds) {
  const { paths } = schedstatPaths(name);
  const out = [];
  const start = performance.now();
  for (let i = 0; i <= (seconds * 1000) / SAMPLE_MS; i++) {
    const wait = start + i * SAMPLE_MS - performance.now();
    if (wait > 0) await sleep(wait);
    const sched = new Map([...paths].map(([id, p]) => [id, BigInt(readFileSync(p, 'utf8').split(' ')[0])]));
    const schedAt = process.hrtime.bigint();
    const t = await driver.vcpuTimes(name);
    out.push({ at: t.atNs, times: new Map([...t.vcpus].map(([id, v]) => [id, v.timeNs])), schedAt, sched });
  }
  return out;
}

/**
 * A window whose two reads were taken further apart (or closer) than this
 * share of its length is left out: the sampler itself was held up on the 2
 * busy host cores, and the read after a late one comes at once.
 */
const WINDOW_TOLERANCE = 0.1;
let skipped = 0;

/** Run ms of vCPU `id` per window of `seconds`, from non-overlapping windows of the samples. */
function windows(samples, id, seconds, source) {
  const step = Math.round((seconds * 1000) / SAMPLE_MS);
  const out = [];
  for (let i = 0; i + step < samples.length; i += step) {
    const a = samples[i];
    const b = samples[i + step];
    const [ta, tb] = source === 'domstats' ? [a.times.get(id), b.times.get(id)] : [a.sched.get(id), b.sched.get(id)];
    const length = ms(source === 'domstats' ? b.at - a.at : b.schedAt - a.schedAt);
    if (ta === undefined || tb === undefined) continue;
    if (Math.abs(length - seconds * 1000) > WINDOW_TOLERANCE * seconds * 1000) {
      skipped++;
      continue;
    }
    out.push(ms(tb - ta));
  }
  return out;
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1] };
};

/** Collected run-time figures: case -> source -> window -> values (ms). */
const figures = new Map();
function record(caseName, samples, ids) {
  if (!figures.has(caseName)) figures.set(caseName, { domstats: new Map(), schedstat: new Map() });
  const f = figures.get(caseName);
  for (const source of ['domstats', 'schedstat']) {
    for (const w of WINDOWS_S) {
      const values = ids.flatMap((id) => windows(samples, id, w, source));
      f[source].set(w, [...(f[source].get(w) ?? []), ...values]);
    }
  }
}

function printTable() {
  const fmt = (v) => (v === undefined ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(0));
  console.log('\nRun time accounted to a vCPU per window, ms (min / median / max over n non-overlapping windows)');
  console.log(`${'case'.padEnd(34)}${'source'.padEnd(11)}${WINDOWS_S.map((w) => `${w} s window`.padStart(24)).join('')}`);
  for (const [caseName, f] of figures) {
    for (const source of ['domstats', 'schedstat']) {
      const cells = WINDOWS_S.map((w) => {
        const s = stats(f[source].get(w) ?? []);
        return `${fmt(s.min)} / ${fmt(s.median)} / ${fmt(s.max)} (${s.n})`.padStart(24);
      });
      console.log(`${caseName.padEnd(34)}${source.padEnd(11)}${cells.join('')}`);
    }
  }
}

/** Every domstats time is a whole number of 10 ms clock ticks (libvirt reads /proc/.../stat's utime+stime). */
function tickCheck(samples) {
  return samples.every((s) => [...s.times.values()].every((t) => t % 10_000_000n === 0n));
}

/**
 * Starts the pinned busy loop and waits until its vCPU is seen running (over
 * half of a 0.5 s step), so the busy figures are of the loop, not of its start.
 */
async function startBusy(driver, g, cpu) {
  const t0 = performance.now();
  await g.helper('POST', `/busy?cpu=${cpu}&seconds=${PHASE_S + 30}`);
  let last = await driver.vcpuTimes(g.name);
  while (performance.now() - t0 < 30_000) {
    await sleep(SAMPLE_MS);
    const now = await driver.vcpuTimes(g.name);
    if (ms(now.vcpus.get(cpu).timeNs - last.vcpus.get(cpu).timeNs) > SAMPLE_MS / 2) return Math.round(performance.now() - t0);
    last = now;
  }
  throw new Error(`the busy loop on vCPU ${cpu} did not show within 30 s`);
}

/** BENCH_SERIES=1: each phase's run time per 0.5 s step, for the vCPUs named, to see where the extremes come from. */
function series(label, samples, ids) {
  if (!process.env.BENCH_SERIES) return;
  for (const id of ids)
    console.log(
      `  ${label}, vCPU ${id}, ms per step: ${windows(samples, id, SAMPLE_MS / 1000, 'schedstat')
        .map((v) => v.toFixed(0))
        .join(' ')}`,
    );
}

async function guestPhases(driver) {
  const g = await TestGuest.boot({ current: 1, maximum: 3, autoOnline: false });
  try {
    const t0 = performance.now();
    await g.waitForAgent();
    console.log(`guest ${g.name} up, agent answering, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    virsh('setvcpus', g.name, '3', '--live');
    await sleep(2000);
    const { threads } = schedstatPaths(g.name);
    console.log(
      `vCPU threads (QEMU cpu-index -> tid): ${[...threads].map(([i, t]) => `${i}:${t}`).join(' ')}${new Set(threads.values()).size === threads.size ? ' (one thread per vCPU: MTTCG)' : ' (SHARED threads: single-threaded TCG)'}`,
    );
    console.log(`guest online: ${(await g.helper('GET', '/cpu-online')).trim()} (vCPUs 1 and 2 plugged, never onlined)`);
    let all = [];
    const hot = await sample(driver, g.name, PHASE_S);
    all = all.concat(hot);
    record('hot-added, never onlined', hot, [1, 2]);
    record('vCPU 0 (agent, housekeeping)', hot, [0]);
    const plugged = await driver.vcpuTimes(g.name);
    await g.helper('POST', '/cpu-online?cpu=1&value=1');
    await g.helper('POST', '/cpu-online?cpu=2&value=1');
    await sleep(200);
    const onlined = await driver.vcpuTimes(g.name);
    // A vCPU's counter starts when QEMU creates its thread (at the hot-add): never onlined, it stays 0.
    console.log(
      `total run time since the hot-add, ms: never onlined ${[1, 2].map((id) => `vCPU ${id} ${ms(plugged.vcpus.get(id).timeNs)}`).join(', ')}; 200 ms after the guest onlined them ${[1, 2].map((id) => `vCPU ${id} ${ms(onlined.vcpus.get(id).timeNs)}`).join(', ')}`,
    );
    for (const [online, offline] of [
      [1, 2],
      [2, 1],
    ]) {
      await g.helper('POST', `/cpu-online?cpu=${online}&value=1`);
      const now = (await g.helper('POST', `/cpu-online?cpu=${offline}&value=0`)).trim();
      console.log(`guest online: ${now} (vCPU ${online} online, vCPU ${offline} offlined)`);
      await sleep(2000);
      const idle = await sample(driver, g.name, PHASE_S);
      record('online, idle', idle, [online]);
      series('idle', idle, [online, 0]);
      record('offline (after running)', idle, [offline]);
      record('vCPU 0 (agent, housekeeping)', idle, [0]);
      const onset = await startBusy(driver, g, online);
      console.log(`busy loop on vCPU ${online} running ${onset} ms after the request (spawning in a TCG guest is slow)`);
      const busy = await sample(driver, g.name, PHASE_S);
      await g.helper('POST', '/busy/stop');
      record('online, busy loop (taskset)', busy, [online]);
      series('busy', busy, [online, 0]);
      record('offline, a sibling busy', busy, [offline]);
      all = all.concat(idle, busy);
      await sleep(1000);
    }
    console.log(`domstats times all whole 10 ms ticks: ${tickCheck(all)}`);
  } finally {
    g.destroy();
  }
}

async function barePhase(driver) {
  const name = uniqueName('vcpuctl-bench');
  try {
    defineAndStart(name, bareDomainXml(name, 2, 3));
    await sleep(3000); // SeaBIOS is done long before: it finds nothing to boot
    virsh('setvcpus', name, '3', '--live');
    await sleep(1000);
    const bare = await sample(driver, name, Math.min(PHASE_S, 20));
    record('bare domain: vCPU 0 (BSP)', bare, [0]);
    record('bare domain: vCPU 1 (AP at boot)', bare, [1]);
    record('bare domain: vCPU 2 (hot-added)', bare, [2]);
    const last = bare[bare.length - 1];
    console.log(`bare domain totals since start, ms: ${[...last.times].map(([id, t]) => `vCPU ${id} ${ms(t)}`).join(', ')}`);
  } finally {
    removeDomain(name);
  }
}

async function main() {
  setupHost();
  removeRigLeftovers();
  const driver = new LibvirtDriver('qemu:///system');
  try {
    await guestPhases(driver);
    await barePhase(driver);
    console.log(`driver spawns during sampling: ${driver.spawns} (the RPC reader spawns none)`);
    printTable();
    console.log(`(${skipped} windows left out: their reads were more than ${WINDOW_TOLERANCE * 100}% off the window's length)`);
  } finally {
    await driver.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
