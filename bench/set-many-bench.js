#!/usr/bin/env node
/**
 * What `vcpuctl set` on several domains costs against the real libvirtd and
 * QEMU of this machine, printed as figures (quoted in the README): the whole
 * command (process start included) hot-adding one vCPU on each of N bare
 * QEMU domains, at --parallel 1, 2, 4 and 8, and `--dry-run` over the same
 * domains. Host side only: a bare domain has no guest, so nothing waits for
 * a confirmation (with guests, each change also waits for its guest, which
 * is what overlapping changes mostly saves). Each run is a +1 hot-add from
 * the count the previous run left, so every run does the same work.
 * Run after `npm run build` as root; it creates and removes its own domains.
 */
'use strict';
const { mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { spawnSync, execFileSync } = require('node:child_process');
const { VCPUCTL, bareDomainXml, removeDomain, removeLeftovers, setupHost, uniqueName } = require('../test/dist/helpers/libvirt');

const DOMAINS = Number(process.env.BENCH_DOMAINS ?? 8);
const PARALLEL = [1, 2, 4, 8];
const PREFIX = 'vcpuctl-setbench';

function cli(dir, args) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [VCPUCTL, '--report-dir', join(dir, 'reports'), '--agents-file', join(dir, 'agents.json'), '--json', ...args], {
    encoding: 'utf8',
    env: { ...process.env, VCPUCTL_LOCK_DIR: join(dir, 'locks') },
    timeout: 600_000,
  });
  const ms = performance.now() - t0;
  const doc = JSON.parse(r.stdout);
  return { ms, code: r.status, doc };
}

function main() {
  setupHost();
  removeLeftovers(PREFIX);
  const dir = mkdtempSync(join(tmpdir(), 'vcpuctl-setbench-'));
  writeFileSync(join(dir, 'agents.json'), '{"domains":{}}');
  const names = Array.from({ length: DOMAINS }, () => uniqueName(PREFIX));
  try {
    for (const n of names) {
      const file = join(dir, `${n}.xml`);
      writeFileSync(file, bareDomainXml(n, 1, 1 + PARALLEL.length + 1));
      execFileSync('virsh', ['-q', '-c', 'qemu:///system', 'define', file], { stdio: 'ignore' });
      execFileSync('virsh', ['-q', '-c', 'qemu:///system', 'start', n], { stdio: 'ignore' });
    }
    console.log(`vcpuctl set on ${DOMAINS} bare QEMU domains at once (+1 vCPU each, host side only, whole command)`);
    let count = 1;
    const dry = cli(dir, ['set', ...names, String(count + 1), '--dry-run']);
    console.log(`  --dry-run (plan only):   ${dry.ms.toFixed(0)} ms, ${dry.doc.summary.change} would change`);
    for (const p of PARALLEL) {
      count += 1;
      const r = cli(dir, ['set', ...names, String(count), '--parallel', String(p)]);
      const changed = r.doc.hosts[0].domains.filter((d) => d.plan && d.plan.strategy === 'hotplug').length;
      if (changed !== DOMAINS) throw new Error(`--parallel ${p}: ${changed} of ${DOMAINS} hot-added`);
      console.log(`  --parallel ${String(p).padEnd(2)}             ${r.ms.toFixed(0).padStart(5)} ms (${(r.ms / DOMAINS).toFixed(0)} ms a domain), exit ${r.code}`);
    }
  } finally {
    for (const n of names) removeDomain(n);
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
