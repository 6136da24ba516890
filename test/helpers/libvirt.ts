/**
 * Real libvirt for tests: makes sure the daemons run (installing the Debian
 * packages on a fresh machine), defines uniquely named throw-away QEMU
 * domains, and removes them afterwards, also after a failure.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const URI = 'qemu:///system';
const ROOT = join(__dirname, '../../..');
export const VCPUCTL = join(ROOT, 'packages/host/bin/vcpuctl.js');

export function setupHost(): void {
  execFileSync('bash', [join(ROOT, 'scripts/setup-host.sh')], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 15 * 60_000 });
}

export function virsh(...args: string[]): string {
  return execFileSync('virsh', ['-q', '-c', URI, ...args], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * A QEMU domain with no operating system (64 MiB, TCG, q35): boots nothing,
 * but QEMU and libvirt accept a live vCPU hot-add on it, which is what the
 * host side needs. It cannot answer a shutdown or finish an unplug.
 */
export function bareDomainXml(name: string, current: number, maximum: number): string {
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu placement='static' current='${current}'>${maximum}</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>
  <on_crash>destroy</on_crash>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>`;
}

export function defineAndStart(name: string, xml: string): void {
  const file = join(tmpdir(), `${name}.xml`);
  writeFileSync(file, xml);
  try {
    virsh('define', file);
    virsh('start', name);
  } finally {
    rmSync(file, { force: true });
  }
}

/** Removes a test domain whatever state it is in. */
export function removeDomain(name: string): void {
  spawnSync('virsh', ['-q', '-c', URI, 'destroy', name], { stdio: 'ignore' });
  spawnSync('virsh', ['-q', '-c', URI, 'undefine', name], { stdio: 'ignore' });
}

/** Leftovers from killed runs (their pid, in the name, is gone) are removed so they never pile up. */
export function removeLeftovers(prefix: string, alsoRemove?: (name: string) => void): void {
  const names = spawnSync('virsh', ['-q', '-c', URI, 'list', '--all', '--name'], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((s) => s.trim());
  for (const n of names) {
    const m = new RegExp(`^${prefix}-(\\d+)-`).exec(n);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      removeDomain(n);
      alsoRemove?.(n);
    }
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function vcpuctl(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [VCPUCTL, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 180_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function vcpuCount(name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of virsh('vcpucount', name).split('\n')) {
    const m = /^(\w+)\s+(\w+)\s+(\d+)/.exec(line.trim());
    if (m) out[`${m[1]} ${m[2]}`] = Number(m[3]);
  }
  return out;
}

export function qemuPlugged(name: string): number {
  const r = JSON.parse(virsh('qemu-monitor-command', name, '{"execute":"query-hotpluggable-cpus"}')) as { return: { 'qom-path'?: string }[] };
  return r.return.filter((c) => c['qom-path']).length;
}

/** Like vcpuctl() but without blocking this process (needed when the agent under test runs in it). */
export function vcpuctlAsync(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [VCPUCTL, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 180_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Restarts libvirtd the way an operator resolves stale vCPU state: running
 * domains survive and libvirt re-reads each QEMU's state on reconnect.
 * (No service manager here: signal the daemon, start it again.)
 */
export function restartLibvirtd(): void {
  spawnSync('pkill', ['-TERM', '-x', 'libvirtd']);
  for (let i = 0; i < 100 && spawnSync('pgrep', ['-x', 'libvirtd']).status === 0; i++) spawnSync('sleep', ['0.1']);
  execFileSync('/usr/sbin/libvirtd', ['-d']);
  for (let i = 0; i < 100; i++) {
    if (spawnSync('virsh', ['-c', URI, 'version'], { stdio: 'ignore' }).status === 0) return;
    spawnSync('sleep', ['0.1']);
  }
  throw new Error('libvirtd did not come back within 10 s');
}

/**
 * A directory to put first on a vcpuctl's PATH whose `virsh` logs each call
 * (its arguments, one line) to `log` and runs the real one: how the tests count
 * the virsh processes a command spawns. The log starts empty.
 */
export function virshCountingPath(dir: string): { bin: string; log: string } {
  const bin = join(dir, 'bin');
  const log = join(dir, 'virsh-spawns');
  mkdirSync(bin, { recursive: true });
  writeFileSync(log, '');
  const real = execFileSync('sh', ['-c', 'command -v virsh'], { encoding: 'utf8' }).trim();
  writeFileSync(join(bin, 'virsh'), `#!/bin/sh\necho "$*" >> '${log}'\nexec '${real}' "$@"\n`);
  chmodSync(join(bin, 'virsh'), 0o755);
  return { bin, log };
}
