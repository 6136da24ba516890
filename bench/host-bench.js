#!/usr/bin/env node
/**
 * Measures what vcpuctl's commands cost against the real libvirtd and QEMU
 * of this machine and prints figures (quoted in the README):
 *  - `status` and `set` wall time and virsh processes spawned, on a QEMU
 *    domain with no OS (host side only);
 *  - `set` up with the guest's confirmation, on a real guest (rig), from the
 *    command to the agent's confirmation.
 * Run after `npm run build` as root; it creates and removes its own domains.
 */
'use strict';
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { VirshDriver, status, setVcpus } = require('@vcpuctl/host');
const { bareDomainXml, defineAndStart, removeDomain, setupHost, uniqueName, virsh } = require('../test/dist/helpers/libvirt');
const { TestGuest } = require('../test/dist/e2e/rig/guest');

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function context(dir, agentsFile) {
  return {
    driver: new VirshDriver('qemu:///system'),
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

    guest = await TestGuest.boot({ current: 1, maximum: 4 });
    await guest.waitForAgent();
    const gctx = context(dir, guest.agentsFile);
    const gst = await timed(gctx, () => status(gctx, guest.name));
    const gsets = [];
    for (let n = 2; n <= 4; n++) gsets.push(await timed(gctx, () => setVcpus(gctx, guest.name, n, { live: true, config: false, strategy: 'auto', timeoutMs: 60_000 })));

    console.log(`vcpuctl host benchmark (libvirt ${virsh('version').match(/libvirt ([\d.]+)/)?.[1] ?? '?'}, QEMU TCG, ${RUNS} runs, medians)`);
    console.log(`  one \`virsh vcpucount\` (reference):       ${vcpucount.toFixed(1)} ms, 1 virsh process`);
    console.log(`  status, QEMU domain without agent:       ${median(st.map((x) => x.ms)).toFixed(1)} ms, ${median(st.map((x) => x.spawns))} virsh process(es)`);
    console.log(`  set +1 vCPU, host side only (no agent):  ${median(sets.map((x) => x.ms)).toFixed(1)} ms, ${median(sets.map((x) => x.spawns))} virsh process(es)`);
    console.log(`  status, real guest with agent:           ${gst.ms.toFixed(1)} ms, ${gst.spawns} virsh process(es)`);
    console.log(`  set +1 vCPU on a real guest, confirmed:  ${gsets.map((x) => x.ms.toFixed(0)).join(' / ')} ms (1->2, 2->3, 3->4), ${gsets[0].spawns} virsh processes each`);
  } finally {
    removeDomain(bare);
    guest?.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
