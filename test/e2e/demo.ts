/**
 * `npm run demo`: the operator's procedure on a disposable real guest, with
 * vcpuctl doing each step and showing its verification. Boots the guest,
 * walks the steps, removes the guest (also on failure or Ctrl-C).
 *
 * Each step says which exit it expects (`DEMO_STEPS`): a step that ends
 * otherwise is marked in the output and the demo exits 1 at the end.
 * `--record FILE` also writes what the demo prints to FILE, as plain text
 * (no terminal escapes): docs/demo-transcript.txt is such a record, and
 * test/unit/readme-docs.test.ts checks it against `DEMO_STEPS`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setupHost, vcpuctlAsync } from '../helpers/libvirt';
import { TestGuest, removeRigLeftovers } from './rig/guest';

export interface DemoStep {
  /** The step's heading, numbered as printed (`-- 3. ask for 3: ...`). */
  title: string;
  /** vcpuctl's arguments for the guest named `name`. */
  args: (name: string) => string[];
  /** The exit the step means to show, and for a non-zero one the error code on vcpuctl's `vcpuctl: CODE:` line. */
  expect: { exit: 0 } | { exit: number; code: string };
  /** Print the verification report's timeline after the step. */
  showReport?: boolean;
}

export const DEMO_STEPS: readonly DemoStep[] = [
  { title: "0. give the running domain the agent's channel (live and persistent); no agents file, no token, no port", args: (n) => ['agent', 'attach', n], expect: { exit: 0 } },
  { title: '1. status: one vCPU, both sides agree (the guest view is its lscpu), reached over the channel', args: (n) => ['status', n], expect: { exit: 0 } },
  { title: '2. hot-add to 2 and persist; the agent onlines the new vCPU, the kernel says so', args: (n) => ['set', n, '2', '--config'], expect: { exit: 0 }, showReport: true },
  { title: '3. ask for 3: refused before anything is touched, the maximum named', args: (n) => ['set', n, '3'], expect: { exit: 8, code: 'OVER_MAXIMUM' } },
  { title: '4. back to 1 by offlining inside the guest; the host keeps counting 2 until a restart', args: (n) => ['set', n, '1', '--config'], expect: { exit: 0 }, showReport: true },
  { title: '5. raise the maximum to 4: graceful shutdown, new maximum, start, agent back', args: (n) => ['set-max', n, '4', '--restart'], expect: { exit: 0 } },
  { title: '6. hot-add to 4: every side agrees', args: (n) => ['set', n, '4', '--config'], expect: { exit: 0 }, showReport: true },
  { title: '7. verify now', args: (n) => ['verify', n], expect: { exit: 0 } },
];

/** How a step's expectation is printed in its heading, and read back by the transcript test. */
export function expectText(e: DemoStep['expect']): string {
  return e.exit === 0 ? 'expect exit 0' : `expect exit ${e.exit} ${(e as { code: string }).code}`;
}

/** Terminal escapes (CSI and OSC sequences, lone ESC), removed from the record. */
const ESCAPES = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b/g;

/** `--record FILE` from the arguments; a relative FILE is taken from where `npm run demo` was started. */
function recordPath(argv: string[]): string | undefined {
  const i = argv.findIndex((a) => a === '--record' || a.startsWith('--record='));
  if (i < 0) {
    if (argv.length) throw new Error(`unknown argument ${argv[0]} (usage: npm run demo [-- --record FILE])`);
    return undefined;
  }
  const file = argv[i] === '--record' ? argv[i + 1] : argv[i]!.slice('--record='.length);
  if (!file) throw new Error('--record needs a file name');
  return resolve(process.env.VCPUCTL_DEMO_CWD ?? process.cwd(), file);
}

const recorded: string[] = [];
let record: string | undefined;

/** Everything the demo shows goes through here: to stdout, and plain into the record. */
function out(text: string): void {
  process.stdout.write(text);
  recorded.push(text.replace(ESCAPES, ''));
}
const line = (text = '') => out(`${text}\n`);
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
function save(): void {
  if (record) writeFileSync(record, recorded.join(''));
}

async function main(): Promise<number> {
  record = recordPath(process.argv.slice(2));
  line(bold('== vcpuctl demo: live vCPU changes on a real guest, verified from both sides =='));
  setupHost();
  removeRigLeftovers();
  const dir = mkdtempSync(join(tmpdir(), 'vcpuctl-demo-'));
  const reports = join(dir, 'reports');
  line('booting a disposable guest (Debian kernel, busybox initramfs, 768 MiB, current 1 / maximum 2 vCPUs),');
  line('its agent run as the package runs it (`vcpuctl-agent run --channel`), the domain without the channel yet...');
  const t0 = Date.now();
  const g = await TestGuest.boot({ current: 1, maximum: 2, agentChannel: true });
  const cleanup = () => {
    g.destroy();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanup();
    line(`(interrupted; guest ${g.name} removed)`);
    save();
    process.exit(130);
  });
  const unexpected: string[] = [];
  try {
    await g.waitForAgent();
    line(`guest ${g.name} up, agent answering, in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    for (const s of DEMO_STEPS) {
      line(bold(`-- ${s.title} (${expectText(s.expect)})`));
      const args = s.args(g.name);
      line(`$ vcpuctl ${args.join(' ')}`);
      // No --agent and no agents file: vcpuctl finds the guest through the domain's channel.
      const r = await vcpuctlAsync(['--report-dir', reports, ...args]);
      out(r.stdout);
      out(r.stderr);
      const code = /^vcpuctl: ([A-Z_]+):/m.exec(r.stderr)?.[1];
      const asExpected = r.code === s.expect.exit && (s.expect.exit === 0 || code === (s.expect as { code: string }).code);
      line(asExpected ? `(exit ${r.code})` : `(exit ${r.code}) UNEXPECTED: this step expects exit ${s.expect.exit}`);
      if (!asExpected) unexpected.push(`step ${s.title.split('.')[0]} exited ${r.code}${code ? ` ${code}` : ''}, expected ${s.expect.exit}`);
      const md = /report: (\S+\.md)/.exec(r.stdout + r.stderr)?.[1];
      if (s.showReport && md) {
        line(bold('   verification report:'));
        line(
          readFileSync(md, 'utf8')
            .split('\n')
            .map((l) => `   | ${l}`)
            .join('\n'),
        );
      }
      line('');
    }
    line(bold('-- the saved reports'));
    line(execFileSync(process.execPath, [join(__dirname, '../../../packages/host/bin/vcpuctl.js'), '--report-dir', reports, 'report', 'list'], { encoding: 'utf8' }));
  } finally {
    cleanup();
    line(`guest ${g.name} removed; demo took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    if (unexpected.length) line(`demo FAILED: ${unexpected.join('; ')}`);
    save();
  }
  if (record) console.error(`transcript written to ${record}`);
  return unexpected.length ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (status) => process.exit(status),
    (err) => {
      console.error(err);
      // A run that could not finish is recorded too, with why, so it is never taken for a good one.
      recorded.push(`demo FAILED: ${String(err instanceof Error ? err.stack : err).replace(ESCAPES, '')}\n`);
      save();
      process.exit(1);
    },
  );
}
