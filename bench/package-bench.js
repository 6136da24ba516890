#!/usr/bin/env node
'use strict';
/**
 * What packaging costs or saves: sizes of what `npm run package -- --sea`
 * produced, and for each way of running the agent (the checkout under this
 * node, the bundle under this node and under Node 18, the single executable)
 * the time from spawn to "listening" and the resident memory once idle.
 * Run after `npm run package -- --sea`: node bench/package-bench.js [RUNS]
 */
const { spawn, execFileSync } = require('node:child_process');
const { readFileSync, statSync, existsSync } = require('node:fs');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
const OUT = join(ROOT, 'dist/package');
const RUNS = Number(process.argv[2] ?? 5);
/** Long enough for start-up allocations to settle (the agent reads its tree and model once). */
const IDLE_MS = 3000;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function once(cmd, args) {
  const child = spawn(cmd, [...args, 'run', '--listen', '127.0.0.1:0', '--insecure-no-auth', '--kmsg', '/nonexistent'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const t0 = process.hrtime.bigint();
  await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${cmd} exited ${code}`)));
    child.stdout.on('data', (d) => /listening on/.test(String(d)) && resolve());
  });
  const upMs = Number(process.hrtime.bigint() - t0) / 1e6;
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]);
  child.removeAllListeners('exit');
  child.kill('SIGKILL');
  return { upMs, rssMiB: rssKiB / 1024 };
}

async function main() {
  const bundle = join(OUT, 'vcpuctl-agent.js');
  const sea = join(OUT, `vcpuctl-agent-linux-${process.arch}`);
  const version = JSON.parse(readFileSync(join(ROOT, 'packages/guest-agent/package.json'), 'utf8')).version;
  const deb = join(OUT, `vcpuctl-agent_${version}_all.deb`);
  for (const f of [bundle, deb, sea]) if (!existsSync(f)) throw new Error(`${f} missing: run \`npm run package -- --sea\` first`);
  const node18 = execFileSync('bash', [join(ROOT, 'scripts/node18.sh')], { encoding: 'utf8' }).trim();
  const kib = (f) => `${(statSync(f).size / 1024).toFixed(0)} KiB`;
  console.log(`vcpuctl-agent packaging benchmark (${RUNS} runs each, medians; idle RSS after ${IDLE_MS / 1000} s)`);
  console.log(`  bundle ${kib(bundle)}, .deb ${kib(deb)}, single executable ${(statSync(sea).size / 2 ** 20).toFixed(1)} MiB`);
  const ways = [
    [`checkout (dist/, node_modules), node ${process.version}`, process.execPath, [join(ROOT, 'packages/guest-agent/bin/vcpuctl-agent.js')]],
    [`bundle, node ${process.version}`, process.execPath, [bundle]],
    [`bundle, node ${execFileSync(node18, ['--version'], { encoding: 'utf8' }).trim()}`, node18, [bundle]],
    [`single executable (node ${process.version} inside)`, sea, []],
  ];
  for (const [label, cmd, args] of ways) {
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await once(cmd, args));
    const up = median(runs.map((r) => r.upMs));
    const rss = median(runs.map((r) => r.rssMiB));
    console.log(`  ${label.padEnd(50)} listening after ${up.toFixed(0)} ms, resident ${rss.toFixed(1)} MiB`);
  }
}

main().catch((err) => {
  console.error(`package-bench: ${err.message}`);
  process.exit(1);
});
