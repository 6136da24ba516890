/**
 * `npm run package` as a hypervisor host receives it: vcpuctl_<version>_all.deb
 * read by dpkg-deb, installed, upgraded and purged by the real dpkg into a
 * root of its own (maintainer scripts run for real, no systemd here); the
 * installed controller run by the oldest Node it supports (18, the
 * registry's binary, as Debian 12 ships it) against libvirt's test driver;
 * the exporter's unit judged by systemd's own tools and its ExecStart run;
 * the man pages and the completion checked against what --help lists.
 * Also cockpit-vcpuctl_<version>_all.deb, the Cockpit page: its files where
 * Cockpit's own bridge finds them (`cockpit-bridge --packages`), its
 * dependencies, install and removal by dpkg into a root of its own.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { satisfies } from 'semver';
import { ERROR_CODES } from '@vcpuctl/proto';
import { readHostsFile } from '@vcpuctl/host/dist/core/hosts-file';
import { httpGet } from '../helpers/http-get';
import { dpkg, dpkgRoot, envFile, expandExecStart, lexists, sha256, treeState } from '../helpers/package-roots';

const REPO = join(__dirname, '../../..');
const VERSION: string = JSON.parse(readFileSync(join(REPO, 'packages/host/package.json'), 'utf8')).version;
const AGENT_VERSION: string = JSON.parse(readFileSync(join(REPO, 'packages/guest-agent/package.json'), 'utf8')).version;
/** The second version, for the upgrade: sorts after VERSION. */
const NEXT = `${VERSION}+upgrade1`;
const UNIT = 'usr/lib/systemd/system/vcpuctl-exporter.service';
/** Debian 12's nodejs. */
const DEBIAN12_NODEJS = '18.20.4+dfsg-1~deb12u1';

/** The option flags a --help prints (its Options: lines), e.g. ['-c', '--connect', '--json', ...]. */
function helpFlags(help: string): string[] {
  const section = help.split(/\n(?=\S)/).find((s) => s.startsWith('Options:')) ?? '';
  return [...section.matchAll(/^ {2}(-\w)?(?:, )?(--[\w-]+)?/gm)].flatMap((m) => [m[1], m[2]]).filter((f): f is string => !!f);
}

/** The subcommand names a --help lists (its Commands: lines), `help` left out. */
function helpCommands(help: string): string[] {
  const section = help.split(/\n(?=\S)/).find((s) => s.startsWith('Commands:')) ?? '';
  return [...section.matchAll(/^ {2}([\w-]+)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
}

describe('host package (npm run package): vcpuctl_<version>_all.deb', function () {
  this.timeout(30_000);
  let out: string;
  let next: string;
  let node18: string;
  let deb: string;
  let x: string; // the .deb unpacked
  const cleanups: (() => void)[] = [];
  const noNodeModules = { PATH: '/usr/bin:/bin', LC_ALL: 'C' };

  before(function () {
    this.timeout(300_000); // the first run on a machine downloads Node 18 from the npm registry
    node18 = execFileSync('bash', [join(REPO, 'scripts/node18.sh')], { encoding: 'utf8' }).trim();
    out = mkdtempSync(join(tmpdir(), `vcpuctl-host-package-${process.pid}-`));
    next = mkdtempSync(join(tmpdir(), `vcpuctl-host-package-next-${process.pid}-`));
    x = mkdtempSync(join(tmpdir(), `vcpuctl-host-deb-x-${process.pid}-`));
    cleanups.push(() => [out, next, x].forEach((d) => rmSync(d, { recursive: true, force: true })));
    // The suite runs after `npm run build`; the packages are built from that build.
    execFileSync('bash', [join(REPO, 'scripts/package.sh'), '--no-build', '--out', out], { encoding: 'utf8' });
    execFileSync('bash', [join(REPO, 'scripts/package.sh'), '--no-build', '--out', next, '--host-version', NEXT], { encoding: 'utf8' });
    deb = join(out, `vcpuctl_${VERSION}_all.deb`);
    execFileSync('dpkg-deb', ['-x', deb, x]);
    assert.equal(existsSync('/node_modules') || existsSync(join(tmpdir(), 'node_modules')), false, 'a node_modules above the test roots would hide a missing dependency');
  });
  after(() => {
    for (const c of cleanups.reverse()) c();
  });

  describe('the bundled controller under Node 18', () => {
    let bundle: string;
    before(() => {
      // Alone in a directory with no node_modules anywhere above: it must need none.
      const dir = mkdtempSync(join(tmpdir(), `vcpuctl-host-bundle-${process.pid}-`));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      bundle = join(dir, 'vcpuctl.js');
      copyFileSync(join(out, 'vcpuctl.js'), bundle);
    });

    it('bundles proto, ws, commander, prom-client and yaml, each declaring support for this Node 18 (or no limit)', () => {
      assert.match(execFileSync(node18, ['--version'], { encoding: 'utf8' }), /^v18\./);
      const packages: { name: string; version: string; engines: string | null }[] = JSON.parse(readFileSync(join(out, 'vcpuctl.bundled-packages.json'), 'utf8'));
      const names = packages.map((p) => p.name);
      for (const needed of ['@vcpuctl/host', '@vcpuctl/proto', 'ws', 'protobufjs', 'commander', 'prom-client', 'yaml']) assert.ok(names.includes(needed), `${needed} not bundled: ${names.join(', ')}`);
      const v18 = execFileSync(node18, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
      const refusing = packages.filter((p) => p.engines !== null && !satisfies(v18, p.engines));
      assert.deepEqual(
        refusing.map((p) => `${p.name}@${p.version} wants node ${p.engines}`),
        [],
      );
      assert.equal(packages.find((p) => p.name === '@vcpuctl/host')?.engines, '>=18');
    });

    it("answers --version, --help, and status --all --json on libvirt's test driver", () => {
      assert.equal(execFileSync(node18, [bundle, '--version'], { encoding: 'utf8', env: noNodeModules }).trim(), VERSION);
      const help = spawnSync(node18, [bundle, '--help'], { encoding: 'utf8', env: noNodeModules });
      assert.equal(help.status, 0, help.stderr);
      assert.match(help.stdout, /^Exit codes:$/m);
      const status = spawnSync(node18, [bundle, '-c', 'test:///default', 'status', '--all', '--json'], { encoding: 'utf8', env: noNodeModules, cwd: tmpdir() });
      assert.equal(status.status, 0, status.stderr);
      const doc = JSON.parse(status.stdout);
      assert.equal(doc.hosts[0].uri, 'test:///default');
    });
  });

  describe('the .deb', () => {
    it('is named and described as dpkg expects: all architectures, Depends nodejs (>= 18), Recommends the libvirt and ssh clients', () => {
      const field = (name: string) => execFileSync('dpkg-deb', ['-f', deb, name], { encoding: 'utf8' }).trim();
      assert.equal(field('Package'), 'vcpuctl');
      assert.equal(field('Version'), VERSION);
      assert.equal(field('Architecture'), 'all');
      assert.equal(field('Depends'), 'nodejs (>= 18)');
      assert.equal(field('Recommends'), 'libvirt-clients, openssh-client');
      const info = execFileSync('dpkg-deb', ['-I', deb], { encoding: 'utf8' });
      for (const script of ['postinst', 'prerm', 'postrm']) assert.match(info, new RegExp(`\\d+ bytes,\\s+\\d+ lines\\s+\\*\\s+${script}\\s+#!/bin/sh`), `${script} missing or not executable`);
      const conffiles = execFileSync('sh', ['-c', `dpkg-deb --ctrl-tarfile "${deb}" | tar -xO ./conffiles`], { encoding: 'utf8' });
      assert.equal(conffiles, '/etc/default/vcpuctl-exporter\n/etc/vcpuctl/hosts\n');
      assert.ok(existsSync(join(next, `vcpuctl_${NEXT}_all.deb`)));
    });

    it('holds the bundle, the launcher, the unit, its defaults, the hosts file, the man page and the completion, all root-owned', () => {
      const listing = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/));
      const files = new Map(listing.filter((f) => !f[0]!.startsWith('d')).map((f) => [f[5]!.replace(/^\./, ''), { mode: f[0]!, owner: f[1]! }]));
      assert.deepEqual([...files.keys()].sort(), [
        '/etc/default/vcpuctl-exporter',
        '/etc/vcpuctl/hosts',
        '/usr/bin/vcpuctl',
        '/usr/lib/systemd/system/vcpuctl-exporter.service',
        '/usr/lib/vcpuctl/start.js',
        '/usr/lib/vcpuctl/vcpuctl.js',
        '/usr/share/bash-completion/completions/vcpuctl',
        '/usr/share/doc/vcpuctl/copyright',
        '/usr/share/man/man1/vcpuctl.1.gz',
      ]);
      for (const [path, f] of files) {
        assert.equal(f.owner, 'root/root', path);
        assert.equal(f.mode, path === '/usr/bin/vcpuctl' ? '-rwxr-xr-x' : '-rw-r--r--', path);
      }
      for (const d of listing.filter((f) => f[0]!.startsWith('d'))) assert.deepEqual([d[0], d[1]], ['drwxr-xr-x', 'root/root'], d[5]);
    });

    it('ships exactly the bundle built here and packaging/start.js; the launcher runs the bundle through start.js, the unit runs it directly; the copyright names every bundled package', () => {
      assert.equal(sha256(join(x, 'usr/lib/vcpuctl/vcpuctl.js')), sha256(join(out, 'vcpuctl.js')));
      assert.equal(sha256(join(x, 'usr/lib/vcpuctl/start.js')), sha256(join(REPO, 'packaging/start.js')));
      assert.ok(lstatSync(join(x, 'var/cache/vcpuctl')).isDirectory(), "the code cache's directory");
      const execStart = /^ExecStart=(.*)$/m.exec(readFileSync(join(x, UNIT), 'utf8'))![1]!;
      const [exe, script] = expandExecStart(execStart, {});
      assert.equal(exe, '/usr/bin/node', 'nodejs installs /usr/bin/node');
      assert.equal(script, '/usr/lib/vcpuctl/vcpuctl.js');
      assert.equal(spawnSync('sh', ['-n', join(x, 'usr/bin/vcpuctl')]).status, 0);
      assert.match(readFileSync(join(x, 'usr/bin/vcpuctl'), 'utf8'), /^exec \/usr\/bin\/node \/usr\/lib\/vcpuctl\/start\.js "\$@"$/m);
      const copyright = readFileSync(join(x, 'usr/share/doc/vcpuctl/copyright'), 'utf8');
      for (const p of ['ws', 'protobufjs', 'commander', 'prom-client', 'yaml', 'bcryptjs']) assert.match(copyright, new RegExp(`^== ${p} \\S+ \\(`, 'm'));
    });

    it('builds the same bytes twice from the same commit', () => {
      const again = mkdtempSync(join(tmpdir(), `vcpuctl-host-package-again-${process.pid}-`));
      try {
        execFileSync('bash', [join(REPO, 'scripts/package.sh'), '--no-build', '--out', again]);
        assert.equal(sha256(join(again, `vcpuctl_${VERSION}_all.deb`)), sha256(deb));
        assert.equal(sha256(join(again, `cockpit-vcpuctl_${VERSION}_all.deb`)), sha256(join(out, `cockpit-vcpuctl_${VERSION}_all.deb`)));
      } finally {
        rmSync(again, { recursive: true, force: true });
      }
    });
  });

  describe('cockpit-vcpuctl_<version>_all.deb, the Cockpit page', () => {
    let cdeb: string;
    let cx: string; // the .deb unpacked
    const PAGE_DIR = 'usr/share/cockpit/vcpuctl';
    const DIST = join(REPO, 'packages/cockpit/dist');
    /** The packages Cockpit's bridge finds under XDG_DATA_DIRS (its own listing: name, menu label, directory). */
    const bridgePackages = (share: string) =>
      execFileSync('cockpit-bridge', ['--packages'], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', XDG_DATA_DIRS: share, XDG_DATA_HOME: join(share, 'nonexistent') } })
        .split('\n')
        .filter((l) => l && !l.startsWith('checksum'))
        .map((l) => l.trim().split(/\s{2,}/));
    before(() => {
      cdeb = join(out, `cockpit-vcpuctl_${VERSION}_all.deb`);
      cx = mkdtempSync(join(tmpdir(), `vcpuctl-cockpit-deb-x-${process.pid}-`));
      cleanups.push(() => rmSync(cx, { recursive: true, force: true }));
      execFileSync('dpkg-deb', ['-x', cdeb, cx]);
    });

    it("depends on vcpuctl of the same version and on the Cockpit its manifest requires (219: spawn's superuser, the bridge's cockpit.Superuser); no maintainer scripts", () => {
      const field = (name: string) => execFileSync('dpkg-deb', ['-f', cdeb, name], { encoding: 'utf8' }).trim();
      assert.equal(field('Package'), 'cockpit-vcpuctl');
      assert.equal(field('Version'), VERSION);
      assert.equal(field('Architecture'), 'all');
      const manifest = JSON.parse(readFileSync(join(cx, PAGE_DIR, 'manifest.json'), 'utf8'));
      assert.equal(field('Depends'), `vcpuctl (= ${VERSION}), cockpit-bridge (>= ${manifest.requires.cockpit})`);
      assert.equal(manifest.requires.cockpit, '219');
      const control = execFileSync('sh', ['-c', `dpkg-deb --ctrl-tarfile "${cdeb}" | tar -t`], { encoding: 'utf8' });
      assert.deepEqual(control.trim().split('\n').sort(), ['./', './control', './md5sums']);
    });

    it('holds the built page (packages/cockpit/dist) byte for byte in /usr/share/cockpit/vcpuctl, root-owned, and its copyright', () => {
      const listing = execFileSync('dpkg-deb', ['-c', cdeb], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/));
      for (const f of listing) assert.deepEqual([f[0], f[1]], [f[0]!.startsWith('d') ? 'drwxr-xr-x' : '-rw-r--r--', 'root/root'], f[5]);
      const files = listing.filter((f) => !f[0]!.startsWith('d')).map((f) => f[5]!.replace(/^\.\//, ''));
      const built = treeState(DIST).filter((l) => !l.endsWith('/ 755') && !/\/ \d+$/.test(l));
      assert.deepEqual(files.filter((f) => f.startsWith(`${PAGE_DIR}/`)).sort(), built.map((l) => `${PAGE_DIR}/${l.split(' ')[0]}`).sort());
      for (const l of built) assert.equal(sha256(join(cx, PAGE_DIR, l.split(' ')[0]!)), l.split(' ')[2], l);
      assert.deepEqual(
        files.filter((f) => !f.startsWith(`${PAGE_DIR}/`)),
        ['usr/share/doc/cockpit-vcpuctl/copyright'],
      );
    });

    it('Cockpit\'s bridge finds it where the package puts it, as the "vCPUs" menu entry, from a valid manifest.json', () => {
      const manifest = JSON.parse(readFileSync(join(cx, PAGE_DIR, 'manifest.json'), 'utf8'));
      assert.equal(manifest.menu.index.label, 'vCPUs');
      assert.deepEqual(bridgePackages(join(cx, 'usr/share')), [['vcpuctl', 'vCPUs', join(cx, PAGE_DIR)]]);
      assert.match(readFileSync(join(cx, PAGE_DIR, 'index.html'), 'utf8'), /<script src="\.\.\/base1\/cockpit\.js"><\/script>/);
    });

    it("its copyright names every npm package inside the page with its license text, the fonts' license and esbuild's legal comments", () => {
      const packages: { name: string; version: string; license: string }[] = JSON.parse(readFileSync(join(out, 'cockpit-vcpuctl.bundled-packages.json'), 'utf8'));
      const names = packages.map((p) => p.name);
      for (const needed of ['react', 'react-dom', '@patternfly/react-core']) assert.ok(names.includes(needed), `${needed} not listed: ${names.join(', ')}`);
      const copyright = readFileSync(join(cx, 'usr/share/doc/cockpit-vcpuctl/copyright'), 'utf8');
      for (const p of packages.filter((q) => !q.name.startsWith('@vcpuctl/'))) {
        assert.match(copyright, new RegExp(`^== ${p.name.replace(/[/.]/g, '\\$&')} ${p.version.replace(/\./g, '\\.')} \\(${p.license}\\) ==$`, 'm'));
      }
      const fonts = readdirSync(join(cx, PAGE_DIR, 'assets')).filter((f) => /\.woff2?$/.test(f));
      assert.ok(fonts.length > 0);
      assert.match(copyright, /^== Fonts \(SIL Open Font License 1\.1/m);
      assert.ok(copyright.includes(readFileSync(join(DIST, 'index.js.LEGAL.txt'), 'utf8').trim()), "index.js.LEGAL.txt's text");
    });

    describe('dpkg into a root of its own', () => {
      let root: string;
      const share = () => join(root, 'usr/share');
      beforeEach(() => {
        root = mkdtempSync(join(tmpdir(), `vcpuctl-cockpit-dpkg-root-${process.pid}-`));
      });
      afterEach(() => rmSync(root, { recursive: true, force: true }));

      it('is not configured without cockpit-bridge, nor next to a vcpuctl of another version', () => {
        dpkgRoot(root, [{ name: 'vcpuctl', version: VERSION }]);
        const r = dpkg(root, ['-i', cdeb]);
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /cockpit-vcpuctl depends on cockpit-bridge \(>= 219\); however:\n\s+Package cockpit-bridge is not installed\./);
        rmSync(root, { recursive: true, force: true });
        dpkgRoot(root, [
          { name: 'vcpuctl', version: NEXT },
          { name: 'cockpit-bridge', version: '287.1-0+deb12u3' },
        ]);
        const other = dpkg(root, ['-i', cdeb]);
        assert.notEqual(other.status, 0);
        assert.match(other.stderr, new RegExp(`cockpit-vcpuctl depends on vcpuctl \\(= ${VERSION.replace(/\./g, '\\.')}\\); however:\\n\\s+Version of vcpuctl on system is ${NEXT.replace(/[.+]/g, '\\$&')}\\.`));
        // dpkg unpacks, then leaves a package whose dependencies are not met unconfigured.
        assert.equal(execFileSync('dpkg-query', [`--root=${root}`, '-W', '-f', '${Status}', 'cockpit-vcpuctl'], { encoding: 'utf8' }), 'install ok unpacked');
      });

      it("installs next to vcpuctl of its version and Debian 12's cockpit-bridge: the bridge lists the page; removal takes every file of it away", () => {
        dpkgRoot(root, [
          { name: 'vcpuctl', version: VERSION },
          { name: 'cockpit-bridge', version: '287.1-0+deb12u3' },
        ]);
        const before = treeState(root).filter((l) => !l.startsWith('var/lib/dpkg'));
        const r = dpkg(root, ['-i', cdeb]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stderr, '');
        assert.deepEqual(bridgePackages(share()), [['vcpuctl', 'vCPUs', join(root, PAGE_DIR)]]);
        assert.equal(sha256(join(root, PAGE_DIR, 'index.js')), sha256(join(DIST, 'index.js')));
        const rm = dpkg(root, ['--remove', 'cockpit-vcpuctl']);
        assert.equal(rm.status, 0, rm.stderr);
        assert.deepEqual(bridgePackages(share()), []);
        assert.deepEqual(
          treeState(root).filter((l) => !l.startsWith('var/lib/dpkg')),
          before,
        );
      });
    });
  });

  describe('man pages and completion, generated from the command definitions', () => {
    /** Every command path of the installed vcpuctl, from --help itself: [[], ['status'], ..., ['agent', 'attach'], ...]. */
    const paths: string[][] = [];
    const help = new Map<string, string>();
    let manText: string;
    const run = (args: string[]) => execFileSync(node18, [join(x, 'usr/lib/vcpuctl/vcpuctl.js'), ...args], { encoding: 'utf8', env: noNodeModules });
    /** What the installed completion offers for the words typed so far (the last one being completed). */
    const complete = (words: string[]) =>
      execFileSync('bash', ['--norc', '-c', 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _vcpuctl; printf "%s\\n" "${COMPREPLY[@]}"', '-', join(x, 'usr/share/bash-completion/completions/vcpuctl'), ...words], {
        encoding: 'utf8',
        env: { PATH: '/usr/bin:/bin' },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
        .split('\n')
        .filter(Boolean);
    /** A page as man shows it, and what groff says about its roff. */
    const render = (page: string) => {
      const shown = spawnSync('man', ['--warnings', '-E', 'UTF-8', '-l', page], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', MANWIDTH: '100', LC_ALL: 'C.UTF-8' } });
      const lint = spawnSync('sh', ['-c', 'zcat "$1" | groff -man -Tutf8 -ww -z', '-', page], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', LC_ALL: 'C.UTF-8' } });
      return { text: shown.stdout, status: shown.status, warnings: `${shown.stderr}${lint.stderr}` };
    };

    before(() => {
      const walk = (path: string[]) => {
        const text = run([...path, '--help']);
        paths.push(path);
        help.set(path.join(' '), text);
        for (const c of helpCommands(text)) walk([...path, c]);
      };
      walk([]);
      const r = render(join(x, 'usr/share/man/man1/vcpuctl.1.gz'));
      assert.equal(r.status, 0);
      manText = r.text;
    });

    it('vcpuctl(1) renders with man and groff without a warning', () => {
      assert.equal(render(join(x, 'usr/share/man/man1/vcpuctl.1.gz')).warnings, '');
      assert.match(manText, /^VCPUCTL\(1\)/);
      for (const section of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'COMMANDS', 'EXIT STATUS', 'ENVIRONMENT', 'FILES', 'EXAMPLES', 'SEE ALSO']) assert.match(manText, new RegExp(`^${section}$`, 'm'));
    });

    it('documents every command and every option --help lists, and the completion offers each where --help lists it', () => {
      assert.ok(paths.length >= 12, `commands found: ${paths.map((p) => p.join(' ')).join(', ')}`);
      for (const path of paths) {
        const flags = helpFlags(help.get(path.join(' '))!);
        assert.ok(flags.includes('--help'), `no options read from ${path.join(' ')} --help`);
        if (path.length) assert.match(manText, new RegExp(`^ {3}${path.join(' ')}$`, 'm'), `no section for ${path.join(' ')}`);
        const offered = complete(['vcpuctl', ...path, '-']);
        for (const flag of flags) {
          assert.match(manText, new RegExp(`(^|[\\s,(])${flag}([\\s,=)]|$)`, 'm'), `${path.join(' ')} ${flag} missing from vcpuctl(1)`);
          assert.ok(offered.includes(flag), `${path.join(' ')} ${flag} not completed (offered: ${offered.join(' ')})`);
        }
      }
      assert.deepEqual(complete(['vcpuctl', '']), [...helpCommands(help.get('')!), 'help']);
      assert.deepEqual(complete(['vcpuctl', 'set', '--strategy', '']), ['auto', 'hotplug', 'unplug', 'guest-offline']);
    });

    it("has the exit status table of proto's ERROR_CODES", () => {
      const exitStatus = /^EXIT STATUS$([\s\S]*?)^ENVIRONMENT$/m.exec(manText)![1]!;
      assert.match(exitStatus, /^ {7}0 +success$/m);
      for (const [code, spec] of Object.entries(ERROR_CODES)) {
        assert.match(exitStatus, new RegExp(`${code}: ${spec.summary.slice(0, 20).replace(/[()]/g, '\\$&')}`), code);
        assert.match(exitStatus, new RegExp(`^ {7}${spec.exit} `, 'm'), `exit ${spec.exit}`);
      }
    });

    it("vcpuctl-agent(8) ships in the agent's .deb, renders cleanly and documents every option of the agent's --help", () => {
      const ax = mkdtempSync(join(tmpdir(), `vcpuctl-agent-deb-x-${process.pid}-`));
      try {
        execFileSync('dpkg-deb', ['-x', join(out, `vcpuctl-agent_${AGENT_VERSION}_all.deb`), ax]);
        const r = render(join(ax, 'usr/share/man/man8/vcpuctl-agent.8.gz'));
        assert.equal(r.status, 0);
        assert.equal(r.warnings, '');
        assert.match(r.text, /^VCPUCTL-AGENT\(8\)/);
        const agent = (args: string[]) => execFileSync(node18, [join(ax, 'usr/lib/vcpuctl-agent/vcpuctl-agent.js'), ...args], { encoding: 'utf8', env: noNodeModules });
        const top = agent(['--help']);
        for (const path of [[], ...helpCommands(top).map((c) => [c])]) {
          for (const flag of helpFlags(agent([...path, '--help']))) assert.match(r.text, new RegExp(`(^|[\\s,(])${flag}([\\s,=)\\[]|$)`, 'm'), `vcpuctl-agent ${path.join(' ')} ${flag} missing`);
        }
      } finally {
        rmSync(ax, { recursive: true, force: true });
      }
    });
  });

  describe('vcpuctl-exporter.service', () => {
    const unitText = () => readFileSync(join(x, UNIT), 'utf8');
    const defaults = () => envFile(readFileSync(join(x, 'etc/default/vcpuctl-exporter'), 'utf8'));

    it('passes systemd-analyze verify, its Documentation= man page found in the package', () => {
      const r = spawnSync('systemd-analyze', ['verify', join(x, UNIT)], { encoding: 'utf8', env: { ...process.env, MANPATH: join(x, 'usr/share/man') } });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim(), '');
      assert.match(unitText(), /^Documentation=man:vcpuctl\(1\)$/m);
    });

    it('is hardened (systemd-analyze security exposure at most 2.5) and may write only the lock directory', () => {
      const outText = execFileSync('systemd-analyze', ['security', '--offline=true', join(x, UNIT)], { encoding: 'utf8' });
      const exposure = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(outText)?.[1]);
      assert.ok(exposure <= 2.5, `exposure ${exposure}`);
      const directives = new Map(
        unitText()
          .split('\n')
          .filter((l) => /^\w+=/.test(l))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
      );
      assert.equal(directives.get('ProtectSystem'), 'strict');
      assert.equal(directives.get('ReadWritePaths'), undefined);
      assert.equal(directives.get('RuntimeDirectory'), 'vcpuctl', '/run/vcpuctl/locks, shared with the command');
      assert.equal(directives.get('RuntimeDirectoryPreserve'), 'yes', "the command's locks outlive the exporter");
      assert.equal(directives.get('CapabilityBoundingSet'), 'CAP_DAC_OVERRIDE');
      assert.equal(directives.get('NoNewPrivileges'), 'yes');
    });

    it('listens on loopback by default; every variable the unit expands is in /etc/default/vcpuctl-exporter, and each example there is an option of the exporter', () => {
      const execStart = /^ExecStart=(.*)$/m.exec(unitText())![1]!;
      const vars = defaults();
      assert.deepEqual(Object.keys(vars).sort(), [...execStart.matchAll(/\$(\w+)/g)].map((m) => m[1]).sort());
      assert.deepEqual(expandExecStart(execStart, vars).slice(2), ['exporter', '--listen', '127.0.0.1:9848', '--all']);
      // The exporter's own options and the global ones (-c), which commander takes after the command too.
      const flags = [[], ['exporter']].flatMap((path) => helpFlags(execFileSync(node18, [join(x, 'usr/lib/vcpuctl/vcpuctl.js'), ...path, '--help'], { encoding: 'utf8' })));
      const examples = [...readFileSync(join(x, 'etc/default/vcpuctl-exporter'), 'utf8').matchAll(/^#(VCPUCTL_EXPORTER_\w+=.*)$/gm)].map((m) => envFile(m[1]!));
      assert.ok(examples.length >= 3);
      for (const example of examples) {
        for (const word of expandExecStart(execStart, { ...vars, ...example }).filter((w) => w.startsWith('-'))) assert.ok(flags.includes(word), `${word} (${JSON.stringify(example)}) is no exporter option`);
      }
    });

    it("its ExecStart, with the shipped defaults and a -c, serves the test driver's metrics and stops on SIGTERM with 0", async () => {
      const execStart = /^ExecStart=(.*)$/m.exec(unitText())![1]!;
      // As an administrator would set it: another connection, and here a free port instead of 9848.
      const argv = expandExecStart(execStart, { ...defaults(), VCPUCTL_EXPORTER_CONNECT: '-c test:///default', VCPUCTL_EXPORTER_LISTEN: '127.0.0.1:0' });
      assert.deepEqual(argv.slice(0, 2), ['/usr/bin/node', '/usr/lib/vcpuctl/vcpuctl.js']);
      const locks = mkdtempSync(join(tmpdir(), `vcpuctl-exporter-locks-${process.pid}-`));
      const child = spawn(node18, [join(x, argv[1]!), ...argv.slice(2)], { env: { ...noNodeModules, VCPUCTL_LOCK_DIR: locks }, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      try {
        const url = await new Promise<string>((resolve, reject) => {
          child.stderr!.on('data', (d) => {
            stderr += String(d);
            const m = /serving (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(stderr);
            if (m) resolve(m[1]!);
          });
          child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
        });
        let body = '';
        for (let i = 0; i < 50 && !/^vcpuctl_host_up\{[^}]*uri="test:\/\/\/default"[^}]*\} 1$/m.test(body); i++) {
          body = await httpGet(url);
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.match(body, /^vcpuctl_host_up\{[^}]*uri="test:\/\/\/default"[^}]*\} 1$/m, body);
        assert.match(body, /^vcpuctl_\w+\{[^}]*domain="test"/m, "a series of the test driver's domain");
        const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
        child.kill('SIGTERM');
        assert.equal(await exited, 0, stderr);
        assert.doesNotMatch(stderr, /warning/, 'loopback without credentials is the quiet default');
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        rmSync(locks, { recursive: true, force: true });
      }
    });
  });

  describe('dpkg into a root of its own (no systemd running here)', () => {
    let root: string;
    const wants = () => join(root, 'etc/systemd/system/multi-user.target.wants/vcpuctl-exporter.service');
    const hostPaths = [
      '/usr/bin/vcpuctl',
      '/usr/lib/vcpuctl',
      '/etc/default/vcpuctl-exporter',
      '/etc/vcpuctl/hosts',
      '/usr/lib/systemd/system/vcpuctl-exporter.service',
      '/etc/systemd/system/multi-user.target.wants/vcpuctl-exporter.service',
      '/usr/share/man/man1/vcpuctl.1.gz',
      '/usr/share/bash-completion/completions/vcpuctl',
    ];
    let hostBefore: string[];
    const hostNow = () => hostPaths.map((p) => `${p} ${lexists(p)}`);
    /** The installed controller as /usr/bin/vcpuctl runs it, with the registry's Node 18 for /usr/bin/node. */
    const installed = (args: string[], env: Record<string, string> = {}) => {
      const exec = /^exec \/usr\/bin\/node (\S+) "\$@"$/m.exec(readFileSync(join(root, 'usr/bin/vcpuctl'), 'utf8'))![1]!;
      return spawnSync(node18, [join(root, exec), ...args], { encoding: 'utf8', env: { ...noNodeModules, VCPUCTL_CODE_CACHE_DIR: join(root, 'var/cache/vcpuctl'), ...env }, cwd: root });
    };
    before(() => {
      assert.equal(existsSync('/run/systemd/system'), false, 'these tests expect a machine where systemd is not running');
      hostBefore = hostNow();
      root = mkdtempSync(join(tmpdir(), `vcpuctl-host-dpkg-root-${process.pid}-`));
    });
    after(() => rmSync(root, { recursive: true, force: true }));

    it('refuses to install next to a nodejs older than 18', () => {
      dpkgRoot(root, [{ name: 'nodejs', version: '16.20.2+dfsg-1' }]);
      const r = dpkg(root, ['-i', deb]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /vcpuctl depends on nodejs \(>= 18\); however:\n\s+Version of nodejs on system is 16\.20\.2\+dfsg-1\./);
      rmSync(root, { recursive: true, force: true });
      mkdirSync(root);
    });

    it("installs next to Debian 12's nodejs: files in place, the report directory made, the exporter not enabled, nothing outside the root touched", () => {
      dpkgRoot(root, [{ name: 'nodejs', version: DEBIAN12_NODEJS }]);
      const r = dpkg(root, ['-i', deb]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.match(execFileSync('dpkg-query', [`--root=${root}`, '-W', '-f', '${Status} ${Version}', 'vcpuctl'], { encoding: 'utf8' }), new RegExp(`^install ok installed ${VERSION.replace(/\./g, '\\.')}$`));
      assert.ok(lstatSync(join(root, 'var/lib/vcpuctl/reports')).isDirectory());
      assert.equal(lexists(wants()), false, "an exporter is the administrator's choice");
      assert.deepEqual(hostNow(), hostBefore);
    });

    it('the installed /usr/bin/vcpuctl runs under Node 18: --version, --help, status --all --json on the test driver', () => {
      const version = installed(['--version']);
      assert.equal(version.status, 0, version.stderr);
      assert.equal(version.stdout.trim(), VERSION);
      const help = installed(['--help']);
      assert.equal(help.status, 0, help.stderr);
      assert.match(help.stdout, /^Usage: vcpuctl /m);
      const status = installed(['-c', 'test:///default', 'status', '--all', '--json']);
      assert.equal(status.status, 0, status.stderr);
      const doc = JSON.parse(status.stdout);
      assert.equal(doc.hosts.length, 1);
      assert.equal(doc.hosts[0].uri, 'test:///default');
      assert.ok(JSON.stringify(doc).includes('"test"'), "the test driver's domain");
      // The shipped hosts file, read when no -c is given, names this machine's libvirt, as no file would.
      assert.deepEqual(readHostsFile(join(root, 'etc/vcpuctl/hosts')), ['qemu:///system']);
    });

    it("starts from V8's code cache in /var/cache/vcpuctl: written once, then used; one of another bundle or writable by others is not used", () => {
      const cache = join(root, 'var/cache/vcpuctl/vcpuctl.js.v8-cache');
      const said = (args: string[] = ['--version']) => {
        const r = installed(args, { VCPUCTL_CODE_CACHE: 'verbose' });
        assert.equal(r.status, 0, r.stderr);
        return r.stderr
          .split('\n')
          .filter((l) => l.startsWith('vcpuctl: code cache: '))
          .map((l) => l.slice('vcpuctl: code cache: '.length));
      };
      rmSync(cache, { force: true });
      assert.deepEqual(said(), ['none yet', `written to ${cache}`]);
      assert.equal((lstatSync(cache).mode & 0o777).toString(8), '644');
      assert.deepEqual(said(), ['used']);
      assert.deepEqual(said(['--help']), ['used']);
      // Its key names this Node and this bundle's size, time and inode: V8 itself checks only the source's length.
      const key = readFileSync(cache).subarray(0, readFileSync(cache).indexOf(10)).toString();
      assert.match(key, new RegExp(`^vcpuctl code cache 1 v18\\.\\d+\\.\\d+ ${process.arch} ${lstatSync(join(root, 'usr/lib/vcpuctl/vcpuctl.js')).size} `));
      writeFileSync(cache, Buffer.concat([Buffer.from(key.replace(/ \d+$/, ' 1')), readFileSync(cache).subarray(key.length)]));
      assert.deepEqual(said(), ['stale (another Node or bundle)', `written to ${cache}`]);
      assert.deepEqual(said(), ['used']);
      // A cache is code: one that others could have written never runs; in a directory others can write, none is written.
      chmodSync(cache, 0o666);
      assert.deepEqual(said(), [`${cache} is writable by others: not used`, `written to ${cache}`]);
      assert.equal((lstatSync(cache).mode & 0o777).toString(8), '644');
      const dir = join(root, 'var/cache/vcpuctl');
      chmodSync(dir, 0o777);
      try {
        assert.deepEqual(said(), [`${dir} is writable by others: not used`, `not written: ${dir} is writable by others`]);
      } finally {
        chmodSync(dir, 0o755);
      }
      const off = installed(['--version'], { VCPUCTL_CODE_CACHE: 'off' });
      assert.equal(off.status, 0, off.stderr);
      assert.equal(off.stdout.trim(), VERSION);
      assert.equal(said()[0], 'used');
    });

    it("an upgrade keeps the edited conffiles, the reports and the administrator's choice to enable the exporter", () => {
      const defaultsFile = join(root, 'etc/default/vcpuctl-exporter');
      const hostsFile = join(root, 'etc/vcpuctl/hosts');
      writeFileSync(defaultsFile, readFileSync(defaultsFile, 'utf8').replace('VCPUCTL_EXPORTER_OPTS=""', 'VCPUCTL_EXPORTER_OPTS="--host-poll 60"'));
      writeFileSync(hostsFile, `${readFileSync(hostsFile, 'utf8')}qemu+ssh://root@kvm2/system\n`);
      writeFileSync(join(root, 'var/lib/vcpuctl/reports/r1.json'), '{}\n');
      const enable = spawnSync('systemctl', [`--root=${root}`, 'enable', 'vcpuctl-exporter.service'], { encoding: 'utf8' });
      assert.ok(lexists(wants()), `${enable.status} ${enable.stdout} ${enable.stderr}`);
      const r = dpkg(root, ['-i', join(next, `vcpuctl_${NEXT}_all.deb`)]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.match(execFileSync('dpkg-query', [`--root=${root}`, '-W', '-f', '${Version}', 'vcpuctl'], { encoding: 'utf8' }), new RegExp(`^${NEXT.replace(/[.+]/g, '\\$&')}$`));
      assert.match(readFileSync(defaultsFile, 'utf8'), /^VCPUCTL_EXPORTER_OPTS="--host-poll 60"$/m);
      assert.match(readFileSync(hostsFile, 'utf8'), /^qemu\+ssh:\/\/root@kvm2\/system$/m);
      assert.ok(existsSync(join(root, 'var/lib/vcpuctl/reports/r1.json')));
      assert.ok(lexists(wants()), 'disabled by the upgrade');
      assert.deepEqual(hostNow(), hostBefore);
    });

    it('removal disables the exporter and keeps the conffiles; purge removes them and the reports, leaving nothing of the package', () => {
      const r = dpkg(root, ['--remove', 'vcpuctl']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(lexists(wants()), false);
      assert.equal(lexists(join(root, 'usr/lib/vcpuctl/vcpuctl.js')), false);
      assert.ok(existsSync(join(root, 'etc/default/vcpuctl-exporter')));
      assert.ok(existsSync(join(root, 'etc/vcpuctl/hosts')));
      const p = dpkg(root, ['--purge', 'vcpuctl']);
      assert.equal(p.status, 0, p.stderr);
      // This root's /etc holds only what systemctl made there, its /var only dpkg's database; a real system's are never
      // this package's alone (base-files owns them), so there dpkg says nothing.
      const sharedDirs = ['/etc', '/var'].map((d) => `dpkg: warning: while removing vcpuctl, directory '${d}' not empty so not removed\n`);
      assert.equal(
        sharedDirs.reduce((rest, w) => rest.replace(w, ''), p.stderr),
        '',
      );
      const left = treeState(root).filter((l) => !l.startsWith('var/lib/dpkg'));
      assert.deepEqual(
        left.filter((l) => /vcpuctl/.test(l)),
        [],
      );
      assert.deepEqual(hostNow(), hostBefore);
    });

    it('without systemd at all, the maintainer scripts exit 0 silently and touch only the report directory', () => {
      const ctl = mkdtempSync(join(tmpdir(), `vcpuctl-host-deb-scripts-${process.pid}-`));
      const target = mkdtempSync(join(tmpdir(), `vcpuctl-host-nosystemd-${process.pid}-`));
      try {
        execFileSync('sh', ['-c', `dpkg-deb -e "${deb}" "${ctl}/DEBIAN" && dpkg-deb -x "${deb}" "${target}"`]);
        const state = treeState(target);
        // No systemctl on PATH: only the two tools the scripts use besides the shell.
        const env = { PATH: join(ctl, 'no-systemctl'), DPKG_ROOT: target };
        mkdirSync(env.PATH);
        for (const tool of ['mkdir', 'rm']) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(env.PATH, tool));
        const runScript = (name: string, args: string[]) => spawnSync('/bin/sh', [join(ctl, 'DEBIAN', name), ...args], { encoding: 'utf8', env });
        for (const [name, args] of [
          ['postinst', ['configure', '']],
          ['postinst', ['configure', VERSION]],
          ['prerm', ['upgrade', VERSION]],
          ['prerm', ['remove']],
          ['postrm', ['remove']],
        ] as const) {
          const r = runScript(name, [...args]);
          assert.equal(r.status, 0, `${name} ${args.join(' ')}: ${r.stderr}`);
          assert.equal(`${r.stdout}${r.stderr}`, '', `${name} ${args.join(' ')}`);
        }
        assert.deepEqual(
          treeState(target).filter((l) => !state.includes(l)),
          ['var/lib/ 755', 'var/lib/vcpuctl/ 755', 'var/lib/vcpuctl/reports/ 755'],
        );
        assert.equal(runScript('postrm', ['purge']).status, 0);
        assert.deepEqual(
          treeState(target).filter((l) => !state.includes(l)),
          ['var/lib/ 755'],
        );
      } finally {
        rmSync(ctl, { recursive: true, force: true });
        rmSync(target, { recursive: true, force: true });
      }
    });
  });
});
