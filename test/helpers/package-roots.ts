/**
 * Roots of their own for installing `npm run package`'s .rpm and .deb files
 * with the real rpm and dpkg, as the package tests use them: an rpm database
 * with a shell for the scriptlets (rpm runs them chrooted), a systemctl
 * stand-in that records its calls, stand-in packages that provide what the
 * real ones require, and the shared libraries an executable needs to run
 * chrooted. Root only (chroot, mknod).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

/** Where a stand-in systemctl in a root writes its calls, one line each (a path inside the root). */
export const SYSTEMCTL_LOG = 'systemctl.log';

export const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Like existsSync, but true for a symlink whatever it points at. */
export function lexists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Every file, directory and symlink under `root` with its mode and content hash or target. */
export function treeState(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = lstatSync(p);
      const rel = relative(root, p);
      if (st.isSymbolicLink()) out.push(`${rel} -> ${readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.push(`${rel}/ ${(st.mode & 0o7777).toString(8)}`);
        walk(p);
      } else if (st.isFile()) out.push(`${rel} ${(st.mode & 0o7777).toString(8)} ${sha256(p)}`);
      else out.push(`${rel} special`);
    }
  };
  walk(root);
  return out;
}

/**
 * A root the way rpm's scriptlets need it when they run chrooted into it:
 * busybox as /bin/sh (scriptlets are sh scripts), /dev/null (they redirect to
 * it) and an empty rpm database in /var/lib/rpm (Debian's rpm keeps its own
 * elsewhere). With `systemctl`, a stand-in /usr/bin/systemctl that appends
 * its arguments to /systemctl.log; with `systemdRunning`, /run/systemd/system
 * too, which is how the scriptlets tell that systemd runs the system.
 */
export function rpmRoot(prefix: string, opts: { systemctl?: boolean; systemdRunning?: boolean } = {}): string {
  const root = mkdtempSync(join(tmpdir(), `${prefix}-${process.pid}-`));
  mkdirSync(join(root, 'bin'));
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  symlinkSync('busybox', join(root, 'bin/sh'));
  mkdirSync(join(root, 'dev'));
  execFileSync('mknod', ['-m', '666', join(root, 'dev/null'), 'c', '1', '3']);
  if (opts.systemctl) {
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    writeFileSync(join(root, 'usr/bin/systemctl'), `#!/bin/sh\necho "$*" >>/${SYSTEMCTL_LOG}\n`, { mode: 0o755 });
  }
  if (opts.systemdRunning) mkdirSync(join(root, 'run/systemd/system'), { recursive: true });
  execFileSync('rpm', ['--root', root, '--dbpath', '/var/lib/rpm', '--initdb']);
  return root;
}

/**
 * rpm installing, upgrading, erasing or querying on a root of its own.
 * --force-debian: Debian's rpm otherwise warns that packages should go
 * through alien, on every install and erase.
 */
export function rpm(root: string, args: string[]) {
  return spawnSync('rpm', ['--root', root, '--dbpath', '/var/lib/rpm', '--force-debian', ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, LC_ALL: 'C' } });
}

/** The calls a root's systemctl stand-in recorded since the last call, emptied. */
export function systemctlCalls(root: string): string[] {
  const log = join(root, SYSTEMCTL_LOG);
  if (!existsSync(log)) return [];
  const calls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  rmSync(log);
  return calls;
}

/** `rpm -qp --qf FORMAT FILE`. */
export function rpmQuery(file: string, format: string): string {
  return execFileSync('rpm', ['-qp', '--qf', format, file], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
}

/** The scriptlets of a package file by name (postinstall, preuninstall, ...), from `rpm -qp --scripts`. */
export function rpmScripts(file: string): Map<string, { interpreter: string; body: string }> {
  const text = execFileSync('rpm', ['-qp', '--scripts', file], { encoding: 'utf8' });
  const scripts = new Map<string, { interpreter: string; body: string }>();
  for (const part of text.split(/^(?=\w+ scriptlet \(using )/m).filter(Boolean)) {
    const m = /^(\w+) scriptlet \(using ([^)]+)\):\n([\s\S]*)$/.exec(part);
    if (!m) throw new Error(`unexpected rpm --scripts output: ${part.slice(0, 80)}`);
    scripts.set(m[1]!, { interpreter: m[2]!, body: m[3]! });
  }
  return scripts;
}

/**
 * An .rpm with no files that provides what a real package requires (as
 * dpkg's status file stands in for nodejs in the .deb tests), built with
 * rpmbuild into `dir`: e.g. nodejs 1:16.20.2 as RHEL 9's default stream.
 */
export function standInRpm(dir: string, p: { name: string; epoch?: number; version: string; provides?: string[] }): string {
  const top = mkdtempSync(join(tmpdir(), `vcpuctl-standin-${process.pid}-`));
  try {
    const spec = join(top, `${p.name}.spec`);
    writeFileSync(
      spec,
      [
        `Name: ${p.name}`,
        ...(p.epoch !== undefined ? [`Epoch: ${p.epoch}`] : []),
        `Version: ${p.version}`,
        'Release: 1',
        'Summary: stand-in',
        'License: MIT',
        'BuildArch: noarch',
        ...(p.provides ?? []).map((c) => `Provides: ${c}`),
        '%description',
        'A stand-in for the package tests.',
        '%files',
        '',
      ].join('\n'),
    );
    execFileSync('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${top}`, '--define', `_rpmdir ${dir}`, '--define', '_build_name_fmt %%{NAME}-%%{VERSION}.rpm', spec], { encoding: 'utf8' });
    return join(dir, `${p.name}-${p.version}.rpm`);
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
}

/** An empty dpkg database in `root` (what `dpkg --root` needs), with the given packages recorded as installed. */
export function dpkgRoot(root: string, installed: { name: string; version: string }[]): void {
  const admin = join(root, 'var/lib/dpkg');
  for (const d of ['info', 'updates', 'triggers']) mkdirSync(join(admin, d), { recursive: true });
  writeFileSync(
    join(admin, 'status'),
    installed.map((p) => `Package: ${p.name}\nStatus: install ok installed\nPriority: optional\nSection: libs\nMaintainer: x <x@localhost>\nArchitecture: all\nVersion: ${p.version}\nDescription: stand-in\n`).join('\n'),
  );
  for (const p of installed) writeFileSync(join(admin, 'info', `${p.name}.list`), '');
  writeFileSync(join(admin, 'available'), '');
}

/** dpkg into another root, maintainer scripts run outside a chroot with $DPKG_ROOT set. */
export function dpkg(root: string, args: string[]) {
  return spawnSync('dpkg', [`--root=${root}`, '--force-script-chrootless', '--log=/dev/null', ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, LC_ALL: 'C' } });
}

/**
 * Copies into `root` the shared libraries `exe` links to (ldd's list, the
 * dynamic loader included), at the same paths, so that it runs chrooted
 * there: a guest's root with its C and C++ libraries and no Node.js.
 */
export function copySharedLibraries(exe: string, root: string): string[] {
  const libs = [...execFileSync('ldd', [exe], { encoding: 'utf8' }).matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]!);
  for (const lib of libs) {
    mkdirSync(join(root, dirname(lib)), { recursive: true });
    copyFileSync(lib, join(root, lib));
  }
  return libs;
}

/** KEY=value lines of a defaults file (/etc/default/...), as systemd's EnvironmentFile= reads the simple ones. */
export function envFile(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(?:"([^"]*)"|(\S*))$/.exec(line);
    if (m) vars[m[1]!] = m[2] ?? m[3] ?? '';
  }
  return vars;
}

/** A unit's ExecStart= with $VAR words expanded as systemd splits them (unquoted: on whitespace). */
export function expandExecStart(line: string, env: Record<string, string>): string[] {
  return line
    .split(/\s+/)
    .filter(Boolean)
    .flatMap((w) => (w.startsWith('$') ? (env[w.slice(1)] ?? '').split(/\s+/).filter(Boolean) : [w]));
}
