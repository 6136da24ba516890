/**
 * vcpuctl-agent-static's program on a real guest: the single executable that
 * `npm run package -- --sea` builds (this machine's Node with the agent's
 * bundle inside; built here by the same two steps, packaging/bundle.js then
 * packaging/sea.js) is the agent of a rig guest in which no node can be
 * found or run. The guest runs no rig helper and nothing of the checkout:
 * its script hides every node and nodejs on PATH under /dev/null, starts
 * busybox httpd with shell CGI scripts (the node checks, the guest's own
 * lscpu and dmesg, the agent's output) on the rig's helper port, then, once
 * the host has finished building it, starts the executable as the
 * unit would with the opt-in TCP listener: `run --channel --listen ...
 * --token-file ...`. The host's real vcpuctl CLI then reads the guest through
 * the channel and over TCP, and `set DOM 2` hot-adds a vCPU that the static
 * agent onlines and confirms. One small guest of its own, booted while the
 * executable is built.
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AgentClient } from '@vcpuctl/host';
import { v1 } from '@vcpuctl/proto';
import { CliResult, VCPUCTL, setupHost, vcpuCount, vcpuctlAsync } from '../helpers/libvirt';
import { AGENT_CHANNEL, TestGuest, removeRigLeftovers } from './rig/guest';

const REPO = join(__dirname, '../../..');
const VERSION: string = JSON.parse(readFileSync(join(REPO, 'packages/guest-agent/package.json'), 'utf8')).version;

/**
 * The executable as `scripts/package.sh --sea` makes it (the agent's bundle,
 * then sea.js injecting it into a copy of this Node), without the packages'
 * xz compression; renamed to `vcpuctl-agent`, its installed name, once
 * complete: the guest waits for that name.
 */
async function buildSea(out: string): Promise<string> {
  const run = promisify(execFile);
  await run(process.execPath, [join(REPO, 'packaging/bundle.js'), out, 'agent'], { cwd: REPO });
  await run(process.execPath, [join(REPO, 'packaging/sea.js'), out], { cwd: REPO });
  const exe = join(out, 'vcpuctl-agent');
  renameSync(join(out, `vcpuctl-agent-linux-${process.arch}`), exe);
  return exe;
}

/**
 * The guest's answers, shell CGI scripts under busybox httpd on the rig's
 * helper port (GET /cgi-bin/NAME): what a PATH lookup and an exec of node
 * give and what every process runs (check), util-linux lscpu, the kernel's
 * log, and the agent's output with the guest's uptime at each line.
 */
const CGI: Record<string, string> = {
  check: `for n in node nodejs; do
  found=$(command -v $n)
  echo "command -v $n: exit $? $found"
done
/usr/bin/node --version >/dev/null 2>&1
echo "/usr/bin/node --version: exit $?"
echo "/usr/bin/node is a $(stat -L -c %F /usr/bin/node)"
echo "agent pid $(cat /run/agent.pid)"
ls -l /proc/[0-9]*/exe 2>/dev/null
`,
  lscpu: 'LC_ALL=C lscpu\n',
  dmesg: 'dmesg\n',
  'agent-log': 'cat /run/agent.log\n',
  // ?setup: cgroup2 on /sys/fs/cgroup (the guest's own sysfs), cpuset enabled, /pinned and
  // /system.slice/nginx.service pinned to the online CPUs; ?widen=LIST writes LIST into both; always: what the kernel shows.
  cgroup: `cg=/sys/fs/cgroup
w() { if printf '%s\\n' "$1" >"$2"; then echo "wrote $1 to $2"; else echo "FAILED writing $1 to $2"; fi; }
case "$QUERY_STRING" in
setup)
  grep -q '^[^ ]* /sys/fs/cgroup cgroup2 ' /proc/mounts || mount -t cgroup2 none $cg || echo "FAILED mount"
  online=$(cat /sys/devices/system/cpu/online)
  w +cpuset $cg/cgroup.subtree_control
  mkdir -p $cg/pinned $cg/system.slice || echo "FAILED mkdir"
  w +cpuset $cg/system.slice/cgroup.subtree_control
  mkdir -p $cg/system.slice/nginx.service || echo "FAILED mkdir"
  w "$online" $cg/pinned/cpuset.cpus
  w "$online" $cg/system.slice/nginx.service/cpuset.cpus
  ;;
widen=*)
  w "\${QUERY_STRING#widen=}" $cg/pinned/cpuset.cpus
  w "\${QUERY_STRING#widen=}" $cg/system.slice/nginx.service/cpuset.cpus
  ;;
esac
grep ' /sys/fs/cgroup ' /proc/self/mountinfo
for c in '' pinned system.slice/nginx.service; do
  echo "/$c cpus=$(cat $cg/$c/cpuset.cpus 2>/dev/null) effective=$(cat $cg/$c/cpuset.cpus.effective)"
done
`,
};

/**
 * The guest's whole script: no node anywhere on PATH, the CGI scripts
 * served by busybox httpd, then, once the host has built it, the executable
 * as the agent.
 */
function staticGuestScript(exe: string) {
  const cgi = Object.entries(CGI)
    .map(
      ([name, body]) => `cat >/run/www/cgi-bin/${name} <<'EOF'
#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
${body}EOF
`,
    )
    .join('');
  return (g: { tokenFile: string }) => `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/run
say() { echo "rig-static: $*"; echo "$*" >>/run/agent.log; }
# Every node and nodejs a PATH lookup could find becomes /dev/null, which nothing can execute.
for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
  for n in node nodejs; do
    [ -e "$d/$n" ] || continue
    t=$(readlink -f "$d/$n")
    [ -c "$t" ] || mount --bind /dev/null "$t" || say "could not hide $t"
  done
done
mkdir -p /run/www/cgi-bin
${cgi}chmod 755 /run/www/cgi-bin/*
busybox httpd -p 0.0.0.0:7644 -h /run/www
say "waiting for ${exe}"
while [ ! -x ${exe} ]; do sleep 0.2; done
mkfifo /run/agent.out
read -r up _ </proc/uptime
say "agent exec at uptime $up"
${exe} run --channel --listen 0.0.0.0:7643 --token-file ${g.tokenFile} >/run/agent.out 2>&1 &
echo $! >/run/agent.pid
while IFS= read -r line; do read -r up _ </proc/uptime; say "[$up] $line"; done </run/agent.out
say "agent output ended"
`;
}

describe('e2e: vcpuctl-agent-static, the single executable, as the agent of a real guest without node', function () {
  this.timeout(120_000);
  let g: TestGuest | undefined;
  let out: string | undefined;
  let exe: string;
  let dir: string;
  let buildMs: number;
  let helloMs: number;
  let agentPid: string;
  const cli = (args: string[]): Promise<CliResult> => vcpuctlAsync(['--report-dir', join(dir, 'reports'), ...args], { VCPUCTL_LOCK_DIR: join(dir, 'locks') });

  before(async function () {
    this.timeout(20 * 60_000); // a fresh machine installs QEMU and libvirt first
    setupHost();
    removeRigLeftovers();
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-e2e-static-'));
    out = mkdtempSync(join(tmpdir(), `vcpuctl-e2e-sea-${process.pid}-`));
    // Built while the guest boots; the guest waits for the finished file.
    const t0 = Date.now();
    const built = buildSea(out).then((path) => {
      buildMs = Date.now() - t0;
      return path;
    });
    built.catch(() => undefined);
    g = await TestGuest.boot({ current: 1, maximum: 3, memoryMiB: 512, channelAtBoot: true, runScript: staticGuestScript(join(out, 'vcpuctl-agent')) });
    exe = await built;
    await g.waitForAgent(120_000);
    helloMs = Date.now() - t0;
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed' && g) process.stderr.write(`--- ${g.name} console ---\n${g.consoleTail(60)}\n`);
  });
  after(() => {
    g?.destroy();
    if (out) rmSync(out, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The guest's node checks, read through busybox httpd. */
  async function nodeChecks(): Promise<{ lines: string[]; processes: Map<string, string> }> {
    const text = await g!.helper('GET', '/cgi-bin/check');
    const lines = text.trim().split('\n');
    // ls -l's "... /proc/PID/exe -> PATH" of every process but the kernel's threads.
    const processes = new Map(
      lines
        .map((l) => / \/proc\/(\d+)\/exe -> (.+)$/.exec(l))
        .filter((m): m is RegExpExecArray => !!m)
        .map((m) => [m[1]!, m[2]!]),
    );
    return { lines, processes };
  }

  it('no node can be found or run in the guest, and the only agent is the executable', async () => {
    const { lines, processes } = await nodeChecks();
    assert.ok(
      lines.some((l) => /^command -v node: exit [1-9]\d* $/.test(l)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => /^command -v nodejs: exit [1-9]\d* $/.test(l)),
      lines.join('\n'),
    );
    assert.ok(lines.includes('/usr/bin/node --version: exit 126'), lines.join('\n'));
    assert.ok(lines.includes('/usr/bin/node is a character special file'), lines.join('\n'));
    agentPid = /^agent pid (\d+)$/m.exec(lines.join('\n'))?.[1] ?? '';
    assert.equal(processes.get(agentPid), exe, `the agent's process runs the executable built for this test:\n${lines.join('\n')}`);
    const nodes = [...processes].filter(([, path]) => /\/node(js)?( \(deleted\))?$/.test(path));
    assert.deepEqual(nodes, [], 'no process in the guest runs node');
  });

  it('starts serving within seconds of its exec in the guest (measured there), not the 15-23 s of node over 9p', async () => {
    const log = await g!.helper('GET', '/cgi-bin/agent-log');
    const at = (re: RegExp) => Number(re.exec(log)?.[1]);
    const exec = at(/^agent exec at uptime ([\d.]+)$/m);
    const tcp = at(/^\[([\d.]+)\] listening on 0\.0\.0\.0:7643$/m);
    const channel = at(/^\[([\d.]+)\] vcpuctl-agent: serving channel org\.vcpuctl\.agent\.0 on \/dev\/vport\d+p\d+$/m);
    assert.ok(exec > 0 && tcp >= exec && channel >= exec, `exec ${exec}, tcp ${tcp}, channel ${channel}\n${log}`);
    console.log(
      `      static agent in the guest: listening ${(tcp - exec).toFixed(2)} s and serving the channel ${(channel - exec).toFixed(2)} s after its exec (at guest uptime ${exec} s); first hello ${(helloMs / 1000).toFixed(1)} s after virsh define (the build, ${(buildMs / 1000).toFixed(1)} s, overlapping the boot)`,
    );
    assert.ok(tcp - exec < 60, `listening ${tcp - exec} s after its exec`);
  });

  it("its hello: the agent version of this checkout, this guest's product UUID and hostname, auto-online on", async () => {
    const c = await AgentClient.connect({ url: g!.agentUrl, token: g!.token }, { timeoutMs: 10_000 });
    try {
      assert.equal(c.hello.agentVersion, VERSION);
      assert.equal(c.hello.productUuid.toLowerCase(), g!.uuid.toLowerCase());
      assert.equal(c.hello.hostname, g!.name);
      assert.equal(c.hello.autoOnline, true);
    } finally {
      await c.close();
    }
  });

  it('vcpuctl status reads the guest from it over the channel (found with no configuration) and over TCP (agents file)', async () => {
    for (const [args, via] of [
      [[], 'channel'],
      [['--agents-file', g!.agentsFile], 'websocket'],
    ] as const) {
      const r = await cli([...args, '--json', 'status', g!.name]);
      assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
      const guest = JSON.parse(r.stdout)[0].guest;
      assert.deepEqual([guest.reachable, guest.via], [true, via], guest.error);
      assert.equal(guest.productUuid.toLowerCase(), g!.uuid.toLowerCase());
      assert.equal(guest.hostname, g!.name);
      assert.deepEqual([guest.snapshot.present, guest.snapshot.online], ['0', '0']);
      assert.match(guest.snapshot.lscpu, /^On-line CPU\(s\) list:\s+0$/m);
    }
    const text = await cli(['status', g!.name]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /guest .*\(via channel\): present 0, online 0/);
  });

  it("vcpuctl set DOM 2 over the channel: the hot-added vCPU is onlined by the static agent and confirmed; the guest's own lscpu agrees", async () => {
    const r = await cli(['--json', 'set', g!.name, '2']);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const report = JSON.parse(r.stdout).report;
    for (const side of [report.before.guest, report.after.guest]) assert.deepEqual([side.reachable, side.via], [true, 'channel'], side.error);
    assert.equal(report.after.guest.productUuid.toLowerCase(), g!.uuid.toLowerCase());
    assert.deepEqual([report.after.guest.snapshot.present, report.after.guest.snapshot.online], ['0-1', '0-1']);
    assert.ok(
      report.kernelLines.some((k: { message: string }) => k.message === 'CPU1 has been hot-added'),
      JSON.stringify(report.kernelLines),
    );
    assert.ok(report.verdict.ok, JSON.stringify(report.verdict));
    assert.equal(vcpuCount(g!.name)['current live'], 2);
    // The guest's word apart from the agent: util-linux lscpu run by a shell CGI, and the kernel's console.
    assert.match(await g!.helper('GET', '/cgi-bin/lscpu'), /^On-line CPU\(s\) list:\s+0,1$/m);
    assert.match(await g!.helper('GET', '/cgi-bin/dmesg'), /smpboot: Booting Node 0 Processor 1 APIC 0x1$/m);
  });

  it('afterwards still no node in the guest, and the same executable process served it all', async () => {
    const { lines, processes } = await nodeChecks();
    assert.ok(
      lines.some((l) => /^command -v node: exit [1-9]\d* $/.test(l)),
      lines.join('\n'),
    );
    assert.equal(
      lines.find((l) => l.startsWith('agent pid ')),
      `agent pid ${agentPid}`,
    );
    assert.equal(processes.get(agentPid), exe);
    assert.deepEqual(
      [...processes.values()].filter((p) => /\/node(js)?( \(deleted\))?$/.test(p)),
      [],
    );
    const log = await g!.helper('GET', '/cgi-bin/agent-log');
    assert.doesNotMatch(log, /agent output ended/);
    assert.match(log, new RegExp(`^\\[[\\d.]+\\] channel ${AGENT_CHANNEL.replace(/\./g, '\\.')}$`, 'm'));
  });

  /**
   * Issue 18 on the same guest, after `set DOM 2`: a cgroup pinned to the
   * CPUs of the moment does not follow a hot-add (CPUS_NOT_USABLE names it),
   * and widening it in the guest clears the finding.
   */
  describe('cgroup usability: cgroups pinned to 0-1 in the guest, set DOM 3, CPUS_NOT_USABLE names them; widened, it goes', function () {
    type Rec = Record<string, any>;
    const PINNED = ['/pinned', '/system.slice/nginx.service'];
    const findingOf = (verdict: Rec) => (verdict.findings as Rec[]).find((f) => f.kind === 'CPUS_NOT_USABLE');
    /** `vcpuctl status DOM --json`'s record for this guest (over the channel, or TCP with the agents file). */
    async function status(args: string[] = []): Promise<Rec> {
      const r = await cli([...args, '--json', 'status', g!.name]);
      assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
      const rec = JSON.parse(r.stdout)[0];
      assert.equal(rec.guest.reachable, true, rec.guest.error);
      return rec;
    }
    /** The pinned cgroups as the guest's kernel shows them: path -> [cpuset.cpus, cpuset.cpus.effective]. */
    function kernelView(text: string): Map<string, [string, string]> {
      assert.doesNotMatch(text, /FAILED/, text);
      return new Map([...text.matchAll(/^(\/\S*) cpus=(\S*) effective=(\S*)$/gm)].map((m) => [m[1]!, [m[2]!, m[3]!]]));
    }
    let watch: ChildProcess | undefined;
    after(() => {
      watch?.kill('SIGTERM');
    });

    it('cgroup2 mounted in the guest, /pinned and nginx.service pinned to 0-1: status reads cgroup v2 whole, nothing restricted, no CPUS_NOT_USABLE', async () => {
      const text = await g!.helper('GET', '/cgi-bin/cgroup?setup');
      assert.match(text, / \/sys\/fs\/cgroup [^\n]* - cgroup2 /, text);
      const view = kernelView(text);
      for (const p of PINNED) assert.deepEqual(view.get(p), ['0-1', '0-1'], text);
      // Mounted after the agent started, with the CPUs unchanged since: found all the same, once
      // the agent's last reading (kept up to 2 s, CGROUP_READING_MAX_AGE_MS) is older.
      const t0 = Date.now();
      let rec = await status();
      while (rec.guest.snapshot.cgroupRead !== v1.CgroupRead.CGROUP_READ_WHOLE && Date.now() - t0 < 5000) {
        await new Promise((r) => setTimeout(r, 500));
        rec = await status();
      }
      const snap = rec.guest.snapshot;
      assert.deepEqual([snap.online, snap.cgroupRead, snap.cgroupVersion, snap.restricted ?? []], ['0-1', v1.CgroupRead.CGROUP_READ_WHOLE, 2, []], JSON.stringify(snap));
      assert.equal(findingOf(rec.verdict), undefined, JSON.stringify(rec.verdict));
    });

    it('vcpuctl set DOM 3: confirmed by the agent; CPUS_NOT_USABLE (warning, verdict ok) names both cgroups lacking CPU 2, and so does the report', async () => {
      const t0 = Date.now();
      const r = await cli(['--json', 'set', g!.name, '3']);
      const setMs = Date.now() - t0;
      assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
      const { report, files } = JSON.parse(r.stdout);
      assert.deepEqual([report.after.guest.reachable, report.after.guest.via], [true, 'channel'], report.after.guest.error);
      const snap = report.after.guest.snapshot;
      assert.deepEqual([snap.present, snap.online], ['0-2', '0-2']);
      assert.equal(vcpuCount(g!.name)['current live'], 3);
      assert.ok(report.verdict.ok, JSON.stringify(report.verdict));
      const f = findingOf(report.verdict);
      assert.ok(f, `no CPUS_NOT_USABLE: ${JSON.stringify(report.verdict)}`);
      assert.equal(f.severity, 'warning');
      assert.match(f.message, /^CPU 2 is online in the guest but not usable by every workload: 2 cgroups that set their own CPUs lack it: /);
      assert.ok(f.message.includes('/pinned (runs on 0-1, lacks 2)'), f.message);
      assert.ok(f.message.includes('nginx.service (runs on 0-1, lacks 2)'), f.message);
      assert.ok(f.advice.includes('`echo 0-2 > /sys/fs/cgroup/pinned/cpuset.cpus`'), f.advice);
      assert.ok(f.advice.includes('`systemctl set-property nginx.service AllowedCPUs=0-2`'), f.advice);
      assert.deepEqual(
        snap.restricted.map((x: Rec) => [x.path, x.kind, x.name, x.cpus, x.lacks]),
        [
          ['/pinned', v1.CgroupRestriction.Kind.OTHER, '', '0-1', '2'],
          ['/system.slice/nginx.service', v1.CgroupRestriction.Kind.SYSTEMD_UNIT, 'nginx.service', '0-1', '2'],
        ],
      );
      const md = readFileSync(files.markdown, 'utf8');
      assert.match(md, /CPUS\\?_NOT\\?_USABLE/, md);
      assert.match(md, /^## Guest cgroups short of online CPUs \(after\)$/m, md);
      assert.match(md, /^\| \/pinned \| \/pinned \| 0-1 \| 2 \|$/m, md);
      assert.match(md, /^\| nginx\.service \| \/system\.slice\/nginx\.service \| 0-1 \| 2 \|$/m, md);
      console.log(`      set DOM 3 confirmed with CPUS_NOT_USABLE in ${setMs} ms`);
    });

    it("the guest's kernel agrees: each cgroup's cpuset.cpus.effective lacks CPU 2 while the root has it", async () => {
      const view = kernelView(await g!.helper('GET', '/cgi-bin/cgroup'));
      for (const p of PINNED) assert.deepEqual(view.get(p), ['0-1', '0-1']);
      assert.deepEqual(view.get('/'), ['', '0-2']);
      assert.match(await g!.helper('GET', '/cgi-bin/lscpu'), /^On-line CPU\(s\) list:\s+0-2$/m);
    });

    it('widened to 0-2 in the guest: a running watch --json prints "usable by every workload: 0-1 -> 0-2" and status shows no CPUS_NOT_USABLE', async () => {
      // A watch on the channel, subscribed: the agent re-reads cgroups every 10 s while one is restricted, and pushes a change.
      const records: { rec: Rec; atMs: number }[] = [];
      let stderr = '';
      watch = spawn(process.execPath, [VCPUCTL, '--report-dir', join(dir, 'reports'), '--json', 'watch', g!.name], { env: { ...process.env, VCPUCTL_LOCK_DIR: join(dir, 'locks') }, stdio: ['ignore', 'pipe', 'pipe'] });
      let tail = '';
      watch.stdout!.setEncoding('utf8').on('data', (d: string) => {
        const lines = (tail + d).split('\n');
        tail = lines.pop()!;
        for (const l of lines) if (l.trim()) records.push({ rec: JSON.parse(l), atMs: Date.now() });
      });
      watch.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const waitFor = async (what: string, pred: (r: Rec) => boolean, ms: number) => {
        for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
          const hit = records.find((r) => pred(r.rec));
          if (hit) return hit;
        }
        throw new Error(`watch printed no ${what} within ${ms} ms:\n${records.map((r) => JSON.stringify(r.rec).slice(0, 600)).join('\n')}\nstderr: ${stderr}`);
      };
      await waitFor('guest view with CPUS_NOT_USABLE', (r) => r.domain === g!.name && r.guest?.reachable === true && !!r.verdict && !!findingOf(r.verdict), 30_000);

      const t0 = Date.now();
      const view = kernelView(await g!.helper('GET', '/cgi-bin/cgroup?widen=0-2'));
      const widened = Date.now();
      for (const p of PINNED) assert.deepEqual(view.get(p), ['0-2', '0-2']);
      const line = await waitFor('usability change', (r) => r.domain === g!.name && (r.changes ?? []).some((c: string) => c.startsWith('usable by every workload: 0-1 -> 0-2')), 30_000);
      assert.ok(!findingOf(line.rec.verdict), JSON.stringify(line.rec.verdict));
      const watchMs = line.atMs - widened;

      // status over TCP (agents file): the watch keeps the channel.
      let rec: Rec;
      const s0 = Date.now();
      for (;;) {
        rec = await status(['--agents-file', g!.agentsFile]);
        if (!findingOf(rec.verdict) || Date.now() - s0 > 15_000) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.equal(findingOf(rec.verdict), undefined, JSON.stringify(rec.verdict));
      assert.deepEqual([rec.guest.snapshot.online, rec.guest.snapshot.restricted ?? []], ['0-2', []]);
      console.log(`      widened in the guest (CGI ${widened - t0} ms): watch printed the change ${watchMs} ms later (${line.rec.changes.join('; ')}); status then clean after ${Date.now() - s0} ms`);
    });
  });
});
