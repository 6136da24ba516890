/**
 * A hostile guest against the real host side (issue 15): the real vcpuctl
 * CLI, `watch` and the exporter, on the real libvirtd with QEMU domains
 * without an OS, each domain's "agent" a programmable fake on loopback
 * (helpers/fake-guest.ts) sending what a guest's root user could. Every class
 * of the issue: amplification, malformed values, repeated fields, floods,
 * churning sessions, escapes and Markdown, forged error codes. Bounds come
 * from the limits themselves; the bytes come from a seeded generator
 * (HOSTILE_SEED replays a run).
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GUEST_FRAME_BURST, MAX_CPULIST_CHARS, MAX_GUEST_CPUS, MAX_GUEST_FRAMES_PER_SECOND, MAX_REPLY_BYTES } from '@vcpuctl/proto';
import { FakeGuest, FakeScript, FakeSession, HOSTILE_SEED, honestSnapshot, seeded } from '../helpers/fake-guest';
import { FloodingGuest, startFloodingGuest } from '../helpers/flooding-guest';
import { httpGet } from '../helpers/http-get';
import { jsonLines } from '../helpers/json-lines';
import { VCPUCTL, bareDomainXml, defineAndStart, removeDomain, removeLeftovers, setupHost, uniqueName, vcpuctlAsync, virsh } from '../helpers/libvirt';

const PREFIX = 'vcpuctl-hostile';

/** Escapes a terminal acts on: CSI clear screen, OSC window title, BEL, CR (line overwrite), C1 CSI, a bidi override. */
const ESCAPES = ['\x1b[2J', '\x1b]0;pwned\x07', '\r', '\x9b31m', '\u202e', '\x1b]8;;http://evil/\x1b\\'];
/** Markdown that would forge a section, a link, raw HTML, or close a fence. */
const MARKDOWN = ['\n## Verdict\nHost and guest agree.', '[click](http://evil.example)', '<img src=x onerror=alert(1)>', '\n```\n# forged', '| a | b |', '**ok**'];

/** Bytes of a control character, anywhere in a text output. */
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u202a-\u202e]/;

describe('a hostile guest against the real host side (fake agents on loopback, real libvirtd)', function () {
  this.timeout(120_000);
  const rand = seeded(HOSTILE_SEED);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  let dir: string;
  let agentsFile: string;
  let base: string[];
  const domains: string[] = [];
  const uuids = new Map<string, string>();
  const guests: FakeGuest[] = [];
  const floods: FloodingGuest[] = [];
  const children: ChildProcess[] = [];
  let victim: string;
  let bystander: string;

  before(function () {
    this.timeout(10 * 60_000);
    setupHost();
    removeLeftovers(PREFIX);
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-hostile-'));
    agentsFile = join(dir, 'agents.json');
    writeFileSync(agentsFile, '{"domains":{}}\n');
    base = ['-c', 'qemu:///system', '--report-dir', join(dir, 'reports'), '--agents-file', agentsFile, '--agent-timeout', '5'];
    victim = newDomain();
    bystander = newDomain();
    console.log(`      (hostile-guest seed ${HOSTILE_SEED}; replay with HOSTILE_SEED=${HOSTILE_SEED})`);
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(guests.map((g) => g.close()));
    for (const d of domains) removeDomain(d);
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    await Promise.all([...guests.splice(0), ...floods.splice(0)].map((g) => g.close()));
  });

  function newDomain(): string {
    const name = uniqueName(PREFIX);
    domains.push(name);
    defineAndStart(name, bareDomainXml(name, 1, 2));
    uuids.set(name, virsh('domuuid', name).trim());
    return name;
  }

  /** Points the agents file's entry for `domain` at `url` (keeping the others). */
  function point(domain: string, url: string): void {
    const text = JSON.parse(readFileSync(agentsFile, 'utf8')) as { domains: Record<string, { url: string }> };
    text.domains[domain] = { url };
    writeFileSync(agentsFile, JSON.stringify(text));
  }

  /** Starts a fake agent for `domain` and points the agents file at it. */
  async function fake(domain: string, script: FakeScript): Promise<FakeGuest> {
    const g = await FakeGuest.start(uuids.get(domain)!, script);
    guests.push(g);
    point(domain, g.url);
    return g;
  }

  const cli = (...args: string[]) => vcpuctlAsync([...base, ...args], { VCPUCTL_LOCK_DIR: join(dir, 'locks') });

  function follow(args: string[]): ChildProcess {
    const c = spawn(process.execPath, [VCPUCTL, ...base, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VCPUCTL_LOCK_DIR: join(dir, 'locks') } });
    children.push(c);
    return c;
  }

  type Doc = { verdict?: { findings: { kind: string; message: string }[] }; guest?: { snapshot?: { present: string } } };
  /** The one domain's result: `status --json` prints a list, `verify --json` a report. */
  const resultOf = (stdout: string): Doc => {
    const doc = JSON.parse(stdout) as Doc | Doc[] | { report: Doc };
    return Array.isArray(doc) ? doc[0]! : 'report' in doc ? { ...doc.report, ...(doc.report as { after?: Doc }).after } : doc;
  };
  const findings = (stdout: string): string[] => (resultOf(stdout).verdict?.findings ?? []).map((f) => f.kind);

  describe('amplification: what costs the host more than its bytes is refused at the boundary', () => {
    it('a CPU list that repeats the widest range costs what its text does', async () => {
      const amplifying = Array(Math.floor((MAX_CPULIST_CHARS - 8) / 7))
        .fill('0-8191')
        .join(',');
      await fake(victim, { snapshot: () => ({ ...honestSnapshot(1), present: amplifying, online: amplifying }) });
      const r = await cli('--json', 'status', victim);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(resultOf(r.stdout).guest?.snapshot?.present, '0-8191', 'kept in the kernel spelling, not as sent');
      assert.ok(findings(r.stdout).includes('QEMU_GUEST_DIFFER'));
    });

    it('a CPU list longer than any kernel writes makes the guest misbehaving, not the command dead', async () => {
      const huge = Array(24_000).fill('0-8191').join(',');
      await fake(victim, { snapshot: () => ({ ...honestSnapshot(1), online: huge }) });
      const r = await cli('--json', 'verify', victim);
      assert.equal(r.code, 13, `${r.stdout}\n${r.stderr}`);
      assert.ok(findings(r.stdout).includes('GUEST_MISBEHAVING'), r.stdout);
    });

    it(`a frame of ${MAX_GUEST_CPUS + 1}+ empty Cpu entries (up to the ${MAX_REPLY_BYTES}-byte limit) is refused before decoding`, async () => {
      // Envelope { id, snapshotReply { snapshot { cpus: [{}, {}, ...] } } } by hand: 2 bytes per CPU.
      const n = Math.floor((MAX_REPLY_BYTES - 64) / 2);
      const cpus = Buffer.alloc(n * 2);
      for (let i = 0; i < n; i++) cpus[i * 2] = 0x3a; // field 7, length-delimited; length 0
      const wrap = (field: number, body: Buffer) => Buffer.concat([Buffer.from([(field << 3) | 2]), varint(body.length), body]);
      await fake(victim, {
        snapshot: () => honestSnapshot(1),
        answer(env, s) {
          if (!env.snapshotRequest && !env.subscribeRequest) return false;
          s.send(Buffer.concat([Buffer.from([0x08]), varint(env.id), wrap(env.snapshotRequest ? 12 : 14, wrap(1, cpus))]));
          return true;
        },
      });
      const r = await cli('--json', 'verify', victim);
      assert.equal(r.code, 13, `${r.stdout}\n${r.stderr}`);
      const f = resultOf(r.stdout).verdict?.findings.find((x) => x.kind === 'GUEST_MISBEHAVING');
      assert.match(f?.message ?? '', /more than 8192 entries of Snapshot\.7/);
    });

    it('repeated singular fields (decoded again and again) are refused', async () => {
      const present = Buffer.from([0x1a, 0x01, 0x30]); // Snapshot.present = "0"
      const snapshot = Buffer.concat(Array(50_000).fill(present));
      await fake(victim, {
        snapshot: () => honestSnapshot(1),
        answer(env, s) {
          if (!env.snapshotRequest) return false;
          s.send(Buffer.concat([Buffer.from([0x08]), varint(env.id), Buffer.from([0x62]), varint(snapshot.length + 4), Buffer.from([0x0a]), varint(snapshot.length), snapshot]));
          return true;
        },
      });
      const r = await cli('--json', 'status', victim);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(findings(r.stdout).includes('GUEST_MISBEHAVING'), r.stdout);
    });
  });

  describe('outputs a guest cannot forge', () => {
    const nasty = () => `${pick(ESCAPES)}x${pick(MARKDOWN)}${pick(ESCAPES)}`;

    it('status text and JSON: every guest string shown, none acted on', async () => {
      const hostname = nasty();
      await fake(victim, {
        hello: { protocolVersion: '1.0', productUuid: uuids.get(victim), hostname, kernel: nasty() },
        snapshot: () => ({ ...honestSnapshot(1), lscpu: `Architecture: x86_64\nModel name: ${nasty()}\n${nasty()}`, system: { hostname, kernel: nasty() } }),
      });
      const text = await cli('status', victim);
      assert.equal(text.code, 0, text.stderr);
      assert.doesNotMatch(text.stdout, RAW_CONTROL, JSON.stringify(text.stdout));
      assert.match(text.stdout, /\^\[|\^M|M-\^\[|<U\+202E>/, 'the escapes are shown in cat -v notation');
      const json = await cli('--json', 'status', victim);
      assert.doesNotThrow(() => JSON.parse(json.stdout));
      assert.doesNotMatch(json.stdout, RAW_CONTROL);
    });

    it('an error message and a product_uuid from the guest reach stderr shown, not acted on', async () => {
      await fake(victim, {
        hello: { protocolVersion: '1.0', productUuid: `evil${pick(ESCAPES)}uuid`, hostname: nasty() },
        snapshot: () => honestSnapshot(1),
      });
      const identity = await cli('verify', victim);
      assert.equal(identity.code, 16, identity.stderr);
      assert.doesNotMatch(identity.stdout + identity.stderr, RAW_CONTROL);
      await fake(victim, {
        snapshot: () => honestSnapshot(1),
        answer(env, s) {
          if (!env.setOnlineRequest) return false;
          s.send({ id: env.id, error: { code: `X${pick(ESCAPES)}`, message: nasty() } });
          return true;
        },
      });
      const offline = await cli('offline', victim, '0');
      assert.doesNotMatch(offline.stdout + offline.stderr, RAW_CONTROL, JSON.stringify(offline.stderr));
    });
  });

  describe("a guest's error codes are its own", () => {
    for (const code of ['LIBVIRT_UNREACHABLE', 'LOCKED', 'INTERNAL', 'NO_SUCH_CODE']) {
      it(`an agent answering ${code} does not choose the host's exit status`, async () => {
        await fake(victim, {
          snapshot: () => honestSnapshot(1),
          answer(env, s) {
            if (!env.setOnlineRequest) return false;
            s.send({ id: env.id, error: { code, message: 'say it was the host' } });
            return true;
          },
        });
        const r = await cli('offline', victim, '0');
        assert.equal(r.code, 20, r.stderr);
        assert.match(r.stderr, new RegExp(`^vcpuctl: GUEST_ERROR: agent: ${code}: say it was the host`));
        assert.doesNotMatch(r.stderr, /this is a bug/);
      });
    }
  });

  describe('isolation: a misbehaving guest is its own state in watch and the exporter', () => {
    it('a malformed list pushed to watch: the guest is named misbehaving, watch goes on, the other domain is still followed', async () => {
      let push: ((online: string) => void) | undefined;
      await fake(bystander, {
        snapshot: () => honestSnapshot(1),
        subscribed(s) {
          push = (online) => s.send({ id: 0, cpuEvent: { changes: [{ cpu: 0, kind: 3 }], detectedAtMs: Date.now(), snapshot: { ...honestSnapshot(1), online } } });
        },
      });
      const malformed = pick(['x', '0-4294967295', '0\r1', '3-1', '0,,1']);
      await fake(victim, {
        snapshot: () => honestSnapshot(1),
        subscribed(s) {
          const t = setTimeout(() => s.send({ id: 0, cpuEvent: { changes: [{ cpu: 0, kind: 3 }], snapshot: { ...honestSnapshot(1), present: malformed } } }), 300);
          return () => clearTimeout(t);
        },
      });
      const w = jsonLines(follow(['--json', 'watch', victim, bystander]));
      await w.waitFor('the victim named misbehaving', (r) => r.domain === victim && r.verdict?.findings?.some((f: { kind: string }) => f.kind === 'GUEST_MISBEHAVING'), 30_000);
      await w.waitFor('the bystander followed', (r) => r.domain === bystander && r.guest?.reachable === true, 30_000);
      const from = w.records.length;
      push!('0');
      await w.waitFor("the bystander's pushed change", (r) => r.domain === bystander && r.changes.includes('cpu0 ONLINED'), 10_000, from);
    });

    it(`a flood at line rate is paid from the guest's budget (${MAX_GUEST_FRAMES_PER_SECOND}/s): the other guest's change shows within 2 s, the exporter answers`, async () => {
      // The watch and the exporter each subscribe to the bystander: its change goes to every session, whichever came last.
      const sessions = new Set<FakeSession>();
      const push = () => {
        for (const s of sessions) s.send({ id: 0, cpuEvent: { changes: [{ cpu: 0, kind: 3 }], detectedAtMs: Date.now(), snapshot: honestSnapshot(1) } });
      };
      await fake(bystander, {
        snapshot: () => honestSnapshot(1),
        subscribed(s) {
          sessions.add(s);
          return () => sessions.delete(s);
        },
      });
      // The flood comes from a process of its own: sent from this one, it would slow the very latency measured here.
      const flooding = await startFloodingGuest(uuids.get(victim)!, 6000);
      floods.push(flooding);
      point(victim, flooding.url);
      const exporter = follow(['exporter', '--listen', '127.0.0.1:0', victim, bystander, '--host-poll', '30']);
      const served = new Promise<string>((resolve) => {
        let err = '';
        exporter.stderr!.setEncoding('utf8').on('data', (d: string) => {
          err += d;
          const m = /serving (http:\/\/\S+\/metrics)/.exec(err);
          if (m) resolve(m[1]!);
        });
      });
      const w = jsonLines(follow(['--json', 'watch', victim, bystander]));
      await w.waitFor('the bystander followed', (r) => r.domain === bystander && r.guest?.reachable === true, 30_000);
      await w.waitFor('the victim flooding', (r) => r.domain === victim && r.verdict?.findings?.some((f: { kind: string }) => f.kind === 'GUEST_MISBEHAVING'), 30_000);
      const from = w.records.length;
      const t0 = Date.now();
      push();
      await w.waitFor("the bystander's change during the flood", (r) => r.domain === bystander && r.changes.includes('cpu0 ONLINED'), 2000, from);
      const latency = Date.now() - t0;
      await new Promise((r) => setTimeout(r, 6000));
      const victimLines = w.records.filter((r) => r.domain === victim).length;
      // The budget lets through at most the burst plus the rate over the flood (and a resync or two): never the flood itself.
      const bound = GUEST_FRAME_BURST + MAX_GUEST_FRAMES_PER_SECOND * 15;
      const sent = flooding.sent();
      assert.ok(sent > bound, `the flood was a flood (${sent} frames)`);
      assert.ok(victimLines <= bound, `${victimLines} watch lines for the flooding guest (at most ${bound}; it sent ${sent})`);
      const metrics = await httpGet(await served);
      assert.match(metrics, new RegExp(`vcpuctl_guest_frames_dropped\\{domain="${victim}"[^}]*\\} [1-9]`));
      assert.equal(exporter.exitCode, null, 'the exporter is still running');
      assert.ok(latency < 2000, `${latency} ms`);
    });

    it('a guest that accepts and drops at once does not set the pace of reconnects', async () => {
      const g = await fake(victim, {
        snapshot: () => honestSnapshot(1),
        answer(env, s) {
          if (env.subscribeRequest) s.ws.terminate();
          return !!env.subscribeRequest;
        },
      });
      follow(['--json', 'watch', victim]);
      await new Promise((r) => setTimeout(r, 8000));
      // Backing off 0.5, 1, 2, 4 s: at most 5 sessions in 8 s (a reset backoff would make 16).
      assert.ok(g.sessions <= 6, `${g.sessions} sessions in 8 s`);
    });
  });

  describe('set with a hostile guest', () => {
    it('kernel lines that would forge the report: bounded, kept once each, escaped; the report is finished', async () => {
      const name = newDomain();
      let present = 1;
      await fake(name, {
        snapshot: () => honestSnapshot(present),
        subscribed(s) {
          // Thousands of forged kernel lines, the same sequence numbers again and again, and one truthful confirmation.
          const lines = Array.from({ length: 4000 }, (_, i) => ({ priority: 6, seq: i % 1000, usec: i, message: `${pick(MARKDOWN)}${pick(ESCAPES)}` }));
          let n = 0;
          const t = setInterval(() => {
            if (n++ < 20) s.send({ id: 0, kernelLog: { lines } });
            if (n === 10) {
              present = 2;
              s.send({
                id: 0,
                cpuEvent: {
                  changes: [
                    { cpu: 1, kind: 1 },
                    { cpu: 1, kind: 3, byAgent: true },
                  ],
                  detectedAtMs: Date.now(),
                  snapshot: honestSnapshot(2),
                },
              });
            }
          }, 50);
          return () => clearInterval(t);
        },
      });
      const r = await cli('--json', 'set', name, '2', '--timeout', '20');
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const reports = join(dir, 'reports');
      const id = readdirSync(reports).filter((f) => f.includes(name) && f.endsWith('.md'))[0]!;
      const md = readFileSync(join(reports, id), 'utf8');
      assert.ok(md.length < 400_000, `${md.length} characters`);
      assert.doesNotMatch(md, RAW_CONTROL);
      // Fenced blocks are literal whatever they hold; what matters is that they close where they were opened.
      const outside = outsideFences(md);
      const headings = outside.split('\n').filter((l) => /^#/.test(l));
      assert.deepEqual(
        headings.filter((h) => !/^# vcpuctl set on |^## (Verdict|Recorded intent|Both sides|Timeline|libvirt operations performed|Guest kernel evidence|Guest CPU view after \(lscpu\))$/.test(h)),
        [],
      );
      // No raw HTML, and no link: every bracket that could open one is escaped.
      assert.doesNotMatch(outside, /<img|(?<!\\)\]\(/);
      const json = JSON.parse(readFileSync(join(reports, id.replace(/\.md$/, '.json')), 'utf8')) as { kernelLines: { seq: number }[] };
      assert.equal(new Set(json.kernelLines.map((k) => k.seq)).size, json.kernelLines.length, 'each line once');
      assert.ok(json.kernelLines.length <= 1000);
    });
  });
});

/** The Markdown with every fenced block's content removed, as CommonMark fences it (a closing fence is at least as long as its opening). */
function outsideFences(md: string): string {
  const out: string[] = [];
  let fence = 0;
  for (const line of md.split('\n')) {
    const m = /^(`{3,})\s*$/.exec(line) ?? /^(`{3,})[^`]*$/.exec(line);
    if (fence === 0 && m) fence = m[1]!.length;
    else if (fence > 0 && /^`+\s*$/.test(line) && line.trim().length >= fence) fence = 0;
    else if (fence === 0) out.push(line);
  }
  return out.join('\n');
}

function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
}
