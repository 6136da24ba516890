/**
 * Runs INSIDE the test guest (chrooted into the host's read-only root): it
 * starts the real vcpuctl-agent as its systemd unit would, and answers the
 * test rig's questions on a second forwarded port: the guest's own `lscpu`,
 * and killing/restarting the agent for fault tests. Test rig only: it is
 * reachable solely through QEMU's user network forward on the host's
 * 127.0.0.1, and is never installed.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';

const args = process.argv.slice(2);
const flag = (name: string) => args[args.indexOf(name) + 1]!;
const agentBin = flag('--agent-bin');
const tokenFile = flag('--token-file');
const extra = args.includes('--no-auto-online') ? ['--no-auto-online'] : [];
let channel = args.includes('--channel');

let agent: ChildProcess | undefined;

/** The agent's program: the real one, or (POST /agent/hostile) a replacement with lying contents. */
let agentProgram = agentBin;

function startAgent(): void {
  // The root is the host's, read-only: the wanted-offline state goes to /run (tmpfs, so per boot), as an installed agent keeps it in /var/lib.
  const state = agentProgram === agentBin ? ['--state-file', '/run/vcpuctl-agent/wanted-offline.json'] : [];
  agent = spawn(process.execPath, [agentProgram, 'run', '--listen', '0.0.0.0:7643', '--token-file', tokenFile, ...extra, ...state, ...(channel ? ['--channel'] : [])], { stdio: ['ignore', 'inherit', 'inherit'] });
  const me = agent;
  me.once('exit', (code, signal) => {
    process.stderr.write(`rig-helper: agent exited (${code ?? signal})\n`);
    if (agent === me) agent = undefined;
  });
}

function killAgent(): Promise<void> {
  const a = agent;
  if (!a) return Promise.resolve();
  return new Promise((resolve) => {
    a.once('exit', () => resolve());
    a.kill('SIGKILL');
  });
}

/** Busy loops started by POST /busy. */
const busy = new Set<ChildProcess>();

let qemuGa: ChildProcess | undefined;

/** The guest's port for a virtio-serial channel name (no udev here: /sys/class/virtio-ports/vportNpM/name). */
function portFor(name: string): string | undefined {
  for (const port of readdirSync('/sys/class/virtio-ports')) {
    if (readFileSync(`/sys/class/virtio-ports/${port}/name`, 'utf8').trim() === name) return `/dev/${port}`;
  }
  return undefined;
}

/** The real qemu-guest-agent on its channel, as a distribution's unit would run it. */
function startQemuGa(): string {
  if (qemuGa) return 'running';
  const port = portFor('org.qemu.guest_agent.0');
  if (!port) throw new Error('no org.qemu.guest_agent.0 port in /sys/class/virtio-ports');
  qemuGa = spawn('/usr/sbin/qemu-ga', ['-m', 'virtio-serial', '-p', port, '-f', '/run/qemu-ga.pid', '-t', '/run'], { stdio: ['ignore', 'inherit', 'inherit'] });
  const me = qemuGa;
  me.once('exit', (code, signal) => {
    process.stderr.write(`rig-helper: qemu-ga exited (${code ?? signal})\n`);
    if (qemuGa === me) qemuGa = undefined;
  });
  return `started on ${port}`;
}

function stopQemuGa(): Promise<void> {
  const q = qemuGa;
  if (!q) return Promise.resolve();
  return new Promise((resolve) => {
    q.once('exit', () => resolve());
    q.kill('SIGTERM');
  });
}

/**
 * What an auto-online udev rule that matches every event does, played by a
 * process (the rig guest has no udevd): the rule file in /run/udev/rules.d
 * (the root is read-only; /run is the guest's tmpfs), and a loop that writes
 * 1 to every CPU online file it finds at 0, FIGHT_DELAY_MS after seeing it.
 */
const FIGHT_RULES = '/run/udev/rules.d/99-cpu-online.rules';
const FIGHT_DELAY_MS = 300;
let fighter: NodeJS.Timeout | undefined;

function startFighter(): void {
  mkdirSync('/run/udev/rules.d', { recursive: true });
  writeFileSync(FIGHT_RULES, '# keep every CPU online (pasted from a guide)\nSUBSYSTEM=="cpu", ACTION!="remove", ATTR{online}=="0", ATTR{online}="1"\n');
  if (fighter) return;
  const pending = new Set<string>();
  fighter = setInterval(() => {
    for (const name of readdirSync('/sys/devices/system/cpu').filter((n) => /^cpu\d+$/.test(n))) {
      const file = `/sys/devices/system/cpu/${name}/online`;
      let text: string;
      try {
        text = readFileSync(file, 'utf8').trim();
      } catch {
        continue; // cpu0: no online file
      }
      if (text !== '0' || pending.has(file)) continue;
      pending.add(file);
      setTimeout(() => {
        pending.delete(file);
        try {
          writeFileSync(file, '1');
        } catch (err) {
          process.stderr.write(`rig-helper: fighter: ${file}: ${(err as Error).message}\n`);
        }
      }, FIGHT_DELAY_MS);
    }
  }, 50);
}

function stopFighter(): void {
  clearInterval(fighter);
  fighter = undefined;
  rmSync(FIGHT_RULES, { force: true });
}

function present(): number[] {
  const text = readFileSync('/sys/devices/system/cpu/present', 'utf8').trim();
  return text.split(',').flatMap((r) => {
    const [a, b] = r.split('-').map(Number);
    return Array.from({ length: (b ?? a!) - a! + 1 }, (_, i) => a! + i);
  });
}

createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://guest');
  const send = (code: number, body: string) => res.writeHead(code, { 'Content-Type': 'text/plain' }).end(body);
  try {
    switch (`${req.method} ${url.pathname}`) {
      case 'GET /lscpu':
        return send(200, execFileSync('lscpu', [], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }));
      case 'GET /lscpu-p':
        return send(200, execFileSync('lscpu', ['-p'], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }));
      case 'GET /dump-tree': {
        // The guest's CPU tree as lscpu reads it, for fixtures taken from a real guest.
        const script = `d=$(mktemp -d) && bash ${flag('--repo')}/scripts/dump-cpu-tree.sh "$d" && tar -C "$d" -czf - . && rm -rf "$d"`;
        const tgz = execFileSync('sh', ['-c', script]);
        return void res.writeHead(200, { 'Content-Type': 'application/gzip' }).end(tgz);
      }
      case 'GET /agent/cpu-ticks': {
        // utime + stime of the agent (clock ticks), for the benchmarks' idle CPU figure.
        if (!agent?.pid) return send(409, 'no agent\n');
        const fields = readFileSync(`/proc/${agent.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        return send(200, `${Number(fields[11]) + Number(fields[12])}\n`);
      }
      case 'GET /cpu-online':
        return send(200, readFileSync('/sys/devices/system/cpu/online', 'utf8'));
      case 'POST /cpu-online': {
        // What someone logged into the guest would do, behind vcpuctl's back.
        const cpu = url.searchParams.get('cpu') ?? '';
        const value = url.searchParams.get('value') ?? '';
        if (!/^\d+$/.test(cpu) || !/^[01]$/.test(value)) return send(400, 'cpu=N&value=0|1\n');
        execFileSync('sh', ['-c', `echo ${value} > /sys/devices/system/cpu/cpu${cpu}/online`]);
        return send(200, readFileSync('/sys/devices/system/cpu/online', 'utf8'));
      }
      case 'POST /busy': {
        // A busy loop pinned to one CPU for a while: a vCPU that runs, for
        // bench/vcpu-time-bench.js's figures of per-vCPU run time on the host.
        const cpu = url.searchParams.get('cpu') ?? '';
        const seconds = url.searchParams.get('seconds') ?? '';
        if (!/^\d+$/.test(cpu) || !/^\d+$/.test(seconds)) return send(400, 'cpu=N&seconds=S\n');
        const child = spawn('taskset', ['-c', cpu, 'timeout', seconds, 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' });
        busy.add(child);
        child.once('exit', () => busy.delete(child));
        return send(200, `${child.pid}\n`);
      }
      case 'POST /busy/stop':
        for (const child of busy) child.kill('SIGTERM'); // timeout passes it on to the loop
        return send(200, 'stopped\n');
      case 'POST /agent/kill':
        return void killAgent().then(() => send(200, 'killed\n'));
      case 'POST /agent/restart':
        // With or without --channel (?channel=0|1), for the benchmarks' idle CPU baseline.
        channel = url.searchParams.get('channel') === '1';
        return void killAgent().then(() => {
          startAgent();
          send(200, 'restarted\n');
        });
      case 'POST /qemu-ga/hostile': {
        // qemu-ga replaced by a liar on its port, and vcpuctl-agent stopped, so the host falls back to it.
        const port = portFor('org.qemu.guest_agent.0');
        if (!port) return send(409, 'no org.qemu.guest_agent.0 port\n');
        return void Promise.all([stopQemuGa(), killAgent()]).then(() => {
          qemuGa = spawn(process.execPath, [`${__dirname}/hostile-qemu-ga.js`, port], { stdio: ['ignore', 'inherit', 'inherit'] });
          send(200, `replaced on ${port}\n`);
        });
      }
      case 'POST /agent/hostile':
        // What a guest's root user could do: replace the agent (same arguments, lying contents).
        agentProgram = `${__dirname}/hostile-agent.js`;
        return void killAgent().then(() => {
          startAgent();
          send(200, 'replaced\n');
        });
      case 'POST /agent/start':
        agentProgram = agentBin;
        if (!agent) startAgent();
        return send(200, 'started\n');
      case 'POST /agent/kill-when-present': {
        // Kills the agent the moment the kernel lists the CPU, i.e. in the
        // middle of a `vcpuctl set`, before the agent can confirm anything.
        const cpu = Number(url.searchParams.get('cpu'));
        const timer = setInterval(() => {
          if (present().includes(cpu)) {
            clearInterval(timer);
            void killAgent();
          }
        }, 1);
        setTimeout(() => clearInterval(timer), 120_000).unref();
        return send(200, 'armed\n');
      }
      case 'POST /udev-fight':
        startFighter();
        return send(200, `${FIGHT_RULES}\n`);
      case 'POST /udev-fight/stop':
        stopFighter();
        return send(200, 'stopped\n');
      case 'POST /kmsg-when-present': {
        // Writes a line into the guest kernel's log (as any guest root can: /dev/kmsg) the moment the
        // kernel lists the CPU, i.e. in the middle of a `vcpuctl set`, so the set's report carries it.
        const cpu = Number(url.searchParams.get('cpu'));
        const text = url.searchParams.get('text') ?? '';
        const timer = setInterval(() => {
          if (present().includes(cpu)) {
            clearInterval(timer);
            writeFileSync('/dev/kmsg', text);
          }
        }, 1);
        setTimeout(() => clearInterval(timer), 120_000).unref();
        return send(200, 'armed\n');
      }
      case 'POST /qemu-ga/start':
        return send(200, `${startQemuGa()}\n`);
      case 'POST /qemu-ga/stop':
        return void stopQemuGa().then(() => send(200, 'stopped\n'));
      default:
        return send(404, 'unknown\n');
    }
  } catch (err) {
    return send(500, `${(err as Error).message}\n`);
  }
}).listen(7644, '0.0.0.0', () => process.stderr.write('rig-helper: listening on 7644\n'));

startAgent();
