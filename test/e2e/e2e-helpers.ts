import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentClient } from '@vcpuctl/host';
import type { v1 } from '@vcpuctl/proto';
import { CliResult, setupHost, vcpuctlAsync } from '../helpers/libvirt';
import { guests } from './guests';
import { TestGuest } from './rig/guest';

export interface Cli {
  (args: string[]): Promise<CliResult>;
}

/** vcpuctl pointed at a guest's agent (through its agents file) and a report dir. */
export function cliFor(g: TestGuest, reports: string, locks: string): Cli {
  return (args) => vcpuctlAsync(['--report-dir', reports, '--agents-file', g.agentsFile, ...args], { VCPUCTL_LOCK_DIR: locks });
}

export function reportOf(r: CliResult): Record<string, any> {
  const json = /"json": "([^"]+)"/.exec(r.stdout)?.[1] ?? /report: (\S+?)\.md\)?$/m.exec(r.stderr)?.[1]?.concat('.json');
  assert.ok(json, `no report named in the output:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(readFileSync(json!, 'utf8'));
}

export async function guestSnapshot(g: TestGuest): Promise<v1.Snapshot> {
  const c = await AgentClient.connect({ url: g.agentUrl, token: g.token }, { timeoutMs: 5000 });
  try {
    return await c.snapshot();
  } finally {
    await c.close();
  }
}

/** The agent's lscpu view must be what the real lscpu prints inside the same guest. */
export async function assertLscpuAgrees(g: TestGuest): Promise<void> {
  const [snap, real] = [await guestSnapshot(g), await g.helper('GET', '/lscpu')];
  assert.equal(snap.lscpu, real, 'agent lscpu view differs from lscpu inside the guest');
}

export function kinds(report: Record<string, any>): string[] {
  return (report.verdict.findings as { kind: string }[]).map((f) => f.kind).sort();
}

export async function until(what: string, ms: number, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface SuiteGuest {
  guest: TestGuest;
  name: string;
  dir: string;
  cli: Cli;
}

/**
 * Registers the before/after hooks that give a describe() block one of the
 * shared guests, a scratch directory and a vcpuctl pointed at both; the
 * fields are filled in when the hooks have run.
 */
export function useGuest(which: 'a' | 'b'): SuiteGuest {
  const s = {} as SuiteGuest;
  before(async function () {
    this.timeout(20 * 60_000); // a fresh machine installs QEMU and libvirt first
    setupHost();
    s.guest = await guests()[which];
    s.name = s.guest.name;
    s.dir = mkdtempSync(join(tmpdir(), 'vcpuctl-e2e-'));
    s.cli = cliFor(s.guest, join(s.dir, 'reports'), join(s.dir, 'locks'));
  });
  after(() => s.dir && rmSync(s.dir, { recursive: true, force: true }));
  return s;
}
