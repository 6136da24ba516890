#!/usr/bin/env node
/**
 * Measures what vcpuctl's commands cost against the real libvirtd and QEMU
 * of this machine and prints figures (quoted in the README):
 *  - `status` and `set` wall time and virsh processes spawned, on a QEMU
 *    domain with no OS (host side only);
 *  - `set` up with the guest's confirmation, on a real guest (rig), from the
 *    command to the agent's confirmation;
 *  - `vcpuctl status` (the whole command, process start included) on a
 *    domain where no agent of any kind answers although both channels are
 *    there (goal: under 1.5 s), and `status` over the agent's virtio-serial
 *    channel versus over TCP on the same real guest.
 * Run after `npm run build` as root; it creates and removes its own domains.
 */
'use strict';
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');
const { LibvirtDriver, status, setVcpus, agentAttach } = require('@vcpuctl/host');
const { VCPUCTL, bareDomainXml, defineAndStart, removeDomain, setupHost, uniqueName, virsh } = require('../test/dist/helpers/libvirt');
const { TestGuest } = require('../test/dist/e2e/rig/guest');

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function context(dir, agentsFile) {
  return {
    driver: new LibvirtDriver('qemu:///system'),
    reportDir: join(dir, 'reports'),
    lockDir: join(dir, 'locks'),
    lockWaitMs: 0,
    agentFlags: { agentsFile },
    agentTimeoutMs: 10_000,
    progress: () => undefined,
  };
}

async function timed(ctx, fn) {
  const spawns0 = ctx.driver.spawns;
  const t0 = performance.now();
  try {
    await fn();
  } catch (err) {
    if (!['AGENT_UNREACHABLE'].includes(err.code)) throw err; // a bare domain has no agent: expected
  }
  return { ms: performance.now() - t0, spawns: ctx.driver.spawns - spawns0 };
}

async function main() {
  setupHost();
  const dir = mkdtempSync(join(tmpdir(), 'vcpuctl-bench-'));
  const agents = join(dir, 'agents.json');
  require('node:fs').writeFileSync(agents, '{"domains":{}}');
  const bare = uniqueName('vcpuctl-bench');
  const silent = uniqueName('vcpuctl-bench');
  let guest;
  try {
    defineAndStart(bare, bareDomainXml(bare, 1, 64));
    const ctx = context(dir, agents);
    const st = [];
    for (let i = 0; i < RUNS; i++) st.push(await timed(ctx, () => status(ctx, bare)));
    const sets = [];
    for (let n = 2; n < 2 + RUNS && n <= 64; n++) sets.push(await timed(ctx, () => setVcpus(ctx, bare, n, { live: true, config: false, strategy: 'auto', timeoutMs: 30_000 })));
    const t0 = performance.now();
    for (let i = 0; i < RUNS; i++) virsh('vcpucount', bare);
    const vcpucount = (performance.now() - t0) / RUNS;

    // Both channels present, nothing in the guest (no OS) behind either: the
    // worst case of discovery that finds no agent. The whole CLI, as an operator runs it.
    const channels =
      "<controller type='virtio-serial'/><channel type='unix'><source mode='bind'/><target type='virtio' name='org.vcpuctl.agent.0'/></channel>" +
      "<channel type='unix'><source mode='bind'/><target type='virtio' name='org.qemu.guest_agent.0'/></channel></devices>";
    defineAndStart(silent, bareDomainXml(silent, 1, 2).replace('</devices>', channels));
    const silentCli = [];
    let silentOut = '';
    for (let i = 0; i < RUNS; i++) {
      const c0 = performance.now();
      const r = spawnSync(process.execPath, [VCPUCTL, '--json', '--report-dir', join(dir, 'reports'), '--agents-file', agents, 'status', silent], {
        encoding: 'utf8',
        env: { ...process.env, VCPUCTL_LOCK_DIR: join(dir, 'locks') },
      });
      silentCli.push(performance.now() - c0);
      silentOut = r.stdout;
    }
    const silentError = JSON.parse(silentOut)[0].guest.error;
    const silentIn = [];
    for (let i = 0; i < RUNS; i++) silentIn.push(await timed(ctx, () => status(ctx, silent)));

    guest = await TestGuest.boot({ current: 1, maximum: 4, agentChannel: true });
    await guest.waitForAgent();
    const gctx = context(dir, guest.agentsFile);
    const gst = await timed(gctx, () => status(gctx, guest.name));
    const gsets = [];
    for (let n = 2; n <= 4; n++) gsets.push(await timed(gctx, () => setVcpus(gctx, guest.name, n, { live: true, config: false, strategy: 'auto', timeoutMs: 60_000 })));

    // The same guest's agent over its virtio-serial channel: attached live, found without configuration.
    await agentAttach(gctx, guest.name);
    const cctx = context(dir, agents);
    const deadline = Date.now() + 180_000;
    while ((await status(cctx, guest.name)).guest.via !== 'channel') {
      if (Date.now() > deadline) throw new Error('the agent did not answer on the channel within 180 s');
      await new Promise((r) => setTimeout(r, 500));
    }
    const overTcp = [];
    const overChannel = [];
    for (let i = 0; i < RUNS; i++) {
      overTcp.push(await timed(gctx, () => status(gctx, guest.name)));
      overChannel.push(await timed(cctx, () => status(cctx, guest.name)));
    }

    console.log(`vcpuctl host benchmark (libvirt ${virsh('version').match(/libvirt ([\d.]+)/)?.[1] ?? '?'}, QEMU TCG, ${RUNS} runs, medians)`);
    console.log(`  one \`virsh vcpucount\` (reference):       ${vcpucount.toFixed(1)} ms, 1 virsh process`);
    console.log(`  status, QEMU domain without agent:       ${median(st.map((x) => x.ms)).toFixed(1)} ms, ${median(st.map((x) => x.spawns))} virsh process(es)`);
    console.log(`  set +1 vCPU, host side only (no agent):  ${median(sets.map((x) => x.ms)).toFixed(1)} ms, ${median(sets.map((x) => x.spawns))} virsh process(es)`);
    console.log(`  status, real guest with agent:           ${gst.ms.toFixed(1)} ms, ${gst.spawns} virsh process(es)`);
    console.log(`  set +1 vCPU on a real guest, confirmed:  ${gsets.map((x) => x.ms.toFixed(0)).join(' / ')} ms (1->2, 2->3, 3->4), ${gsets[0].spawns} virsh processes each`);
    console.log(`  vcpuctl status, no agent of any kind answers (both channels there, nothing behind them):`);
    console.log(`    whole command: median ${median(silentCli).toFixed(0)} ms, max ${Math.max(...silentCli).toFixed(0)} ms (goal: under 1500 ms)`);
    console.log(`    in-process:    median ${median(silentIn.map((x) => x.ms)).toFixed(1)} ms, ${median(silentIn.map((x) => x.spawns))} virsh process(es)`);
    console.log(`    the guest view says: ${silentError}`);
    console.log(`  status, real guest, agent over TCP:      ${median(overTcp.map((x) => x.ms)).toFixed(1)} ms, ${median(overTcp.map((x) => x.spawns))} virsh process(es)`);
    console.log(`  status, real guest, agent over channel:  ${median(overChannel.map((x) => x.ms)).toFixed(1)} ms, ${median(overChannel.map((x) => x.spawns))} virsh process(es), no configuration`);
  } finally {
    removeDomain(bare);
    removeDomain(silent);
    guest?.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
