#!/usr/bin/env node
/**
 * Fleet speed, side by side in one run, over N bare QEMU domains (no OS) of
 * its own on the real libvirtd (N = 20, and 100 with FLEET_SIZES=20,100):
 *  - start-up first: `vcpuctl --version` as installed (the .deb's files,
 *    packaged here, run by start.js from the code cache its postinst writes)
 *    against `node -e 0` (goal: at most 1.5x);
 *  - `vcpuctl status --all --json` (the whole command, process start
 *    included), as installed and from the checkout, wall and CPU time (user +
 *    system, from /proc's children times: 10 ms steps), and the number of
 *    virsh processes it spawned;
 *  - vcpuctl's driver in this process (connection, listing and the same
 *    reads over libvirt's RPC), the counterpart of python's in-process time;
 *  - python3-libvirt (Debian's python3-libvirt, installed here if missing,
 *    else skipped with a message) reading the same host-side facts over one
 *    connection: live and persistent XML, live and config vCPU counts, QMP
 *    query-hotpluggable-cpus; timed inside Python (the connection included,
 *    the interpreter start not) and as a whole process;
 *  - an operator's shell loop of virsh calls reading the same facts.
 * Run after `npm run build` as root; it creates and removes its own domains.
 */
'use strict';
const { execFile, execFileSync, spawnSync } = require('node:child_process');
const { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { promisify } = require('node:util');
const { VCPUCTL, URI, bareDomainXml, removeLeftovers, setupHost } = require('../test/dist/helpers/libvirt');
const { LibvirtDriver } = require('../packages/host/dist/libvirt/libvirt-driver');

const run = promisify(execFile);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const STARTUP_RUNS = 21;
/** USER_HZ: /proc counts CPU time in these ticks, 100 a second on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;
const SIZES = (process.env.FLEET_SIZES ?? '20').split(',').map(Number);
const PREFIX = 'vcpuctl-fleetbench';
const PYTHON = '/usr/bin/python3'; // Debian's, where python3-libvirt installs (not a pyenv shim)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpuFmt = (xs) => `CPU median ${median(xs).toFixed(0)} ms`;
const fmt = (xs) => `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}, ${xs.length} runs)`;

const PY = `
import sys, time
t0 = time.perf_counter()
import libvirt, libvirt_qemu
prefix = sys.argv[1]
conn = libvirt.open('${URI}')
n = 0
for dom in conn.listAllDomains(0):
    if not dom.name().startswith(prefix):
        continue
    dom.XMLDesc(0)
    dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE)
    dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    libvirt_qemu.qemuMonitorCommand(dom, '{"execute":"query-hotpluggable-cpus"}', 0)
    n += 1
conn.close()
print(n, (time.perf_counter() - t0) * 1000)
`;

function pythonLibvirt() {
  const probe = () => spawnSync(PYTHON, ['-c', 'import libvirt, libvirt_qemu'], { stdio: 'ignore' }).status === 0;
  if (probe()) return true;
  console.log("python3-libvirt missing: installing Debian's python3-libvirt");
  spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'python3-libvirt'], { stdio: 'ignore' });
  if (probe()) return true;
  console.log('python3-libvirt could not be installed: the native-API figures are SKIPPED');
  return false;
}

async function virsh(...args) {
  await run('virsh', ['-q', '-c', URI, ...args], { env: { ...process.env, LC_ALL: 'C' } });
}

async function fleet(n, tag, dir) {
  const names = Array.from({ length: n }, (_, i) => `${tag}-${i}`);
  const t0 = performance.now();
  // A few at a time: a hundred QEMU starts at once on 2 cores time out in libvirt.
  for (let i = 0; i < names.length; i += 10) {
    await Promise.all(
      names.slice(i, i + 10).map(async (name) => {
        const file = join(dir, `${name}.xml`);
        writeFileSync(file, bareDomainXml(name, 1, 2));
        await virsh('define', file);
        await virsh('start', name);
      }),
    );
  }
  console.log(`  (${n} domains defined and started in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  return names;
}

async function remove(names) {
  for (let i = 0; i < names.length; i += 20) {
    await Promise.all(
      names.slice(i, i + 20).map(async (name) => {
        await virsh('destroy', name).catch(() => undefined);
        await virsh('undefine', name).catch(() => undefined);
      }),
    );
  }
}

/** User + system CPU of this process's waited-for children so far, in ms (/proc/self/stat's cutime and cstime). */
function childCpuMs() {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  // After "pid (comm) ": state is field 3, so cutime (16) and cstime (17) are at 13 and 14 here.
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLOCK_TICKS;
}

/** Wall and CPU time of one process run to its end. */
function timed(cmd, args, opts = {}) {
  const cpu0 = childCpuMs();
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  return { r, ms: performance.now() - t0, cpuMs: childCpuMs() - cpu0 };
}

/**
 * The host package's files as dpkg would put them, in DIR/root, with the
 * code cache its postinst writes (one `vcpuctl --version`). Returns how to run
 * it: /usr/bin/vcpuctl is `exec /usr/bin/node /usr/lib/vcpuctl/start.js`.
 */
function installed(dir) {
  const out = join(dir, 'package');
  execFileSync('bash', [join(__dirname, '../scripts/package.sh'), '--no-build', '--out', out], { stdio: 'ignore' });
  const deb = readdirSync(out).find((f) => /^vcpuctl_.*_all\.deb$/.test(f));
  const root = join(dir, 'root');
  execFileSync('dpkg-deb', ['-x', join(out, deb), root]);
  const env = { ...process.env, VCPUCTL_CODE_CACHE_DIR: join(root, 'var/cache/vcpuctl') };
  const argv = [join(root, 'usr/lib/vcpuctl/start.js')];
  execFileSync('/usr/bin/node', [...argv, '--version'], { env, stdio: 'ignore' });
  return { cmd: '/usr/bin/node', argv, env };
}

function startupBench(inst) {
  const node = [];
  const version = [];
  for (let i = 0; i < STARTUP_RUNS; i++) {
    node.push(timed('/usr/bin/node', ['-e', '0']));
    const v = timed(inst.cmd, [...inst.argv, '--version'], { env: inst.env });
    if (v.r.status !== 0) throw new Error(`vcpuctl --version failed: ${v.r.stderr}`);
    version.push(v);
  }
  const wall = (xs) => xs.map((x) => x.ms);
  const cpu = (xs) => xs.map((x) => x.cpuMs);
  console.log(`start-up (${STARTUP_RUNS} runs each, interleaved)`);
  console.log(`  node -e 0:                    ${fmt(wall(node))}, ${cpuFmt(cpu(node))}`);
  console.log(`  installed vcpuctl --version:  ${fmt(wall(version))}, ${cpuFmt(cpu(version))}`);
  console.log(`  vcpuctl --version / node -e 0: ${(median(wall(version)) / median(wall(node))).toFixed(2)}x wall, ${(median(cpu(version)) / median(cpu(node))).toFixed(2)}x CPU (goal: at most 1.5x)`);
}

function vcpuctlOnce(tag, dir, agents, how = { cmd: process.execPath, argv: [VCPUCTL], env: process.env }) {
  const { r, ms, cpuMs } = timed(how.cmd, [...how.argv, '-c', URI, '--agents-file', agents, '--report-dir', join(dir, 'reports'), 'status', '--all', '--name', `${tag}-*`, '--json'], {
    env: { ...how.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` },
  });
  if (r.status !== 0) throw new Error(`vcpuctl status --all failed: ${r.stderr}`);
  return { ms, cpuMs, domains: JSON.parse(r.stdout).summary.domains };
}

async function driverOnce(tag) {
  const t0 = performance.now();
  const d = new LibvirtDriver(URI);
  const names = (await d.listDomains()).filter((n) => n.startsWith(`${tag}-`));
  const snaps = await d.inspectMany(names);
  await d.close();
  return { ms: performance.now() - t0, domains: snaps.size, spawns: d.spawns };
}

function pythonOnce(tag) {
  const { r, ms: wall, cpuMs } = timed(PYTHON, ['-c', PY, `${tag}-`]);
  if (r.status !== 0) throw new Error(`python3-libvirt failed: ${r.stderr}`);
  const [domains, inside] = r.stdout.trim().split(' ').map(Number);
  return { wall, cpuMs, inside, domains };
}

function virshLoopOnce(names) {
  const script = `for d in ${names.join(' ')}; do virsh -q -c ${URI} dumpxml "$d"; virsh -q -c ${URI} dumpxml --inactive "$d"; virsh -q -c ${URI} vcpucount "$d"; virsh -q -c ${URI} qemu-monitor-command "$d" '{"execute":"query-hotpluggable-cpus"}'; done`;
  const t0 = performance.now();
  const r = spawnSync('sh', ['-c', script], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error('virsh loop failed');
  return performance.now() - t0;
}

async function main() {
  setupHost();
  removeLeftovers(PREFIX);
  const native = pythonLibvirt();
  const dir = mkdtempSync(join(tmpdir(), 'vcpuctl-fleetbench-'));
  const agents = join(dir, 'agents.json');
  writeFileSync(agents, '{"domains":{}}');
  // A PATH wrapper counts vcpuctl's virsh processes.
  const log = join(dir, 'spawns');
  require('node:fs').mkdirSync(join(dir, 'bin'));
  const real = spawnSync('sh', ['-c', 'command -v virsh'], { encoding: 'utf8' }).stdout.trim();
  writeFileSync(join(dir, 'bin', 'virsh'), `#!/bin/sh\necho x >> '${log}'\nexec '${real}' "$@"\n`, { mode: 0o755 });
  const load = require('node:os').loadavg()[0].toFixed(1);
  console.log(`fleet benchmark (node ${process.version}, ${require('node:os').cpus().length} cores, load average ${load} at the start)`);
  const inst = installed(dir);
  startupBench(inst);
  let names = [];
  const results = [];
  try {
    for (const n of SIZES) {
      const tag = `${PREFIX}-${process.pid}-${n}`;
      names = await fleet(n, tag, dir);
      vcpuctlOnce(tag, dir, agents); // warm caches once, for every side alike
      const v = [];
      const inst20 = [];
      const instCpu = [];
      const inProc = [];
      const py = [];
      const pyWall = [];
      const pyCpu = [];
      for (let i = 0; i < RUNS; i++) {
        const ri = vcpuctlOnce(tag, dir, agents, inst);
        if (ri.domains !== n) throw new Error(`installed vcpuctl saw ${ri.domains} of ${n} domains`);
        inst20.push(ri.ms);
        instCpu.push(ri.cpuMs);
        writeFileSync(log, '');
        const r = vcpuctlOnce(tag, dir, agents);
        if (r.domains !== n) throw new Error(`vcpuctl saw ${r.domains} of ${n} domains`);
        v.push(r.ms);
        const dr = await driverOnce(tag);
        if (dr.domains !== n || dr.spawns !== 0) throw new Error(`the driver read ${dr.domains} of ${n} domains with ${dr.spawns} virsh processes`);
        inProc.push(dr.ms);
        if (native) {
          const p = pythonOnce(tag);
          if (p.domains !== n) throw new Error(`python3-libvirt saw ${p.domains} of ${n} domains`);
          py.push(p.inside);
          pyWall.push(p.wall);
          pyCpu.push(p.cpuMs);
        }
      }
      const spawns = require('node:fs').readFileSync(log, 'utf8').split('\n').filter(Boolean).length;
      const loop = virshLoopOnce(names);
      console.log(`${n} bare domains, one connection (${URI})`);
      console.log(`  installed vcpuctl status --all --json:       ${fmt(inst20)}, ${cpuFmt(instCpu)}`);
      console.log(`  checkout's status --all --json (dist/):      ${fmt(v)}; ${spawns} virsh processes per call`);
      console.log(`  vcpuctl's driver, same facts, in-process:   ${fmt(inProc)}`);
      if (native) {
        console.log(`  python3-libvirt, same facts, in-process:    ${fmt(py)}`);
        console.log(`  python3-libvirt, whole python3 process:     ${fmt(pyWall)}, ${cpuFmt(pyCpu)}`);
        console.log(
          `  installed command / whole python3 process: ${(median(inst20) / median(pyWall)).toFixed(2)}x wall, ${(median(instCpu) / median(pyCpu)).toFixed(2)}x CPU (goal: at most 1.0x); in-process / in-process: ${(median(inProc) / median(py)).toFixed(2)}x`,
        );
      }
      results.push({ n, whole: median(v), inProc: median(inProc) });
      console.log(`  operator's virsh loop (4 virsh per domain):  ${loop.toFixed(0)} ms (1 run)`);
      await remove(names);
      names = [];
    }
    if (results.length > 1) {
      const [a, b] = [results[0], results[results.length - 1]];
      console.log(`growth ${a.n} -> ${b.n} domains (${(b.n / a.n).toFixed(0)}x): whole command ${(b.whole / a.whole).toFixed(2)}x, in-process reads ${(b.inProc / a.inProc).toFixed(2)}x`);
    }
  } finally {
    await remove(names);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
