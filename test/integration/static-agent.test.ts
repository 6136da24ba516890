/**
 * vcpuctl-agent-static, for guests whose nodejs is older than 18 (Debian 11
 * and Ubuntu 22.04 ship Node 12): `npm run package -- --sea` packages the
 * single executable (this machine's Node with the agent inside) as a .deb
 * and an .rpm for this architecture. Each is installed by the real dpkg or
 * rpm into a root of its own that holds the C and C++ libraries the
 * executable links to and no Node.js, and the installed agent is run there
 * chrooted with PATH=/usr/bin:/bin, as a guest without node would run it.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, copyFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copySharedLibraries, dpkg, dpkgRoot, lexists, rpm, rpmQuery, rpmRoot, sha256, standInRpm, systemctlCalls, treeState } from '../helpers/package-roots';

const REPO = join(__dirname, '../../..');
const VERSION: string = JSON.parse(readFileSync(join(REPO, 'packages/guest-agent/package.json'), 'utf8')).version;
const UNIT_SRC = join(REPO, 'packages/guest-agent/systemd/vcpuctl-agent.service');
const GUEST_TREE = join(REPO, 'test/fixtures/trees/qemu-tcg-q35-guest-1of2');
const GUEST_LSCPU_P = join(REPO, 'test/fixtures/guest-lscpu/qemu-tcg-q35-guest-1of2.lscpu-p.txt');
const ARCH = ({ x64: { deb: 'amd64', rpm: 'x86_64' }, arm64: { deb: 'arm64', rpm: 'aarch64' } } as Record<string, { deb: string; rpm: string }>)[process.arch]!;
/** The agent's files in both static packages: the vcpuctl-agent package's, with the executable in place of launcher and bundle. */
const FILES = [
  '/etc/default/vcpuctl-agent',
  '/usr/bin/vcpuctl-agent',
  '/usr/lib/modules-load.d/vcpuctl-agent.conf',
  '/usr/lib/systemd/system/vcpuctl-agent.service',
  '/usr/lib/udev/rules.d/60-vcpuctl-agent.rules',
  '/usr/share/doc/vcpuctl-agent-static/copyright',
  '/usr/share/man/man8/vcpuctl-agent.8.gz',
];

/** A guest's command line: chrooted into `root`, an environment of PATH=/usr/bin:/bin alone (env -i). */
function inGuest(root: string, argv: string[]) {
  return spawnSync('/usr/sbin/chroot', [root, ...argv], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' }, cwd: '/', timeout: 30_000 });
}

/** The agent's JSON snapshot, less the time it was taken. */
function snapshotJson(text: string): unknown {
  const doc = JSON.parse(text);
  delete doc.takenAtMs;
  return doc;
}

describe('vcpuctl-agent-static (npm run package -- --sea): the agent with Node inside, for guests without nodejs >= 18', function () {
  this.timeout(30_000);
  let out: string;
  let node18: string;
  let exe: string;
  let deb: string;
  let staticRpm: string;
  let bundleJson: unknown;
  const cleanups: (() => void)[] = [];

  before(function () {
    // The build injects the bundle into a copy of Node (~100 MB) and
    // compresses it twice (xz -1): about 25 s here, once for the whole file.
    this.timeout(300_000);
    assert.equal(process.getuid?.(), 0, 'these tests chroot into the package roots');
    node18 = execFileSync('bash', [join(REPO, 'scripts/node18.sh')], { encoding: 'utf8' }).trim();
    out = mkdtempSync(join(tmpdir(), `vcpuctl-static-package-${process.pid}-`));
    cleanups.push(() => rmSync(out, { recursive: true, force: true }));
    execFileSync('bash', [join(REPO, 'scripts/package.sh'), '--no-build', '--sea', '--out', out], { encoding: 'utf8' });
    exe = join(out, `vcpuctl-agent-linux-${process.arch}`);
    deb = join(out, `vcpuctl-agent-static_${VERSION}_${ARCH.deb}.deb`);
    staticRpm = join(out, `vcpuctl-agent-static-${VERSION}-1.${ARCH.rpm}.rpm`);
    // What the same agent says under Node 18, for the installed executables to match.
    bundleJson = snapshotJson(execFileSync(node18, [join(out, 'vcpuctl-agent.js'), 'snapshot', '--sysroot', GUEST_TREE, '--format', 'json'], { encoding: 'utf8' }));
  });
  after(() => {
    for (const c of cleanups.reverse()) c();
  });

  describe('the packages', () => {
    it('weigh about 100 MB installed and a quarter of that to download (xz -1)', () => {
      const size = statSync(exe).size;
      assert.ok(size > 50e6 && size < 200e6, `executable ${size} bytes`);
      for (const file of [deb, staticRpm]) {
        const packed = statSync(file).size;
        assert.ok(packed < 0.4 * size, `${file}: ${packed} bytes for a ${size}-byte executable`);
      }
    });

    it(`the .deb: ${ARCH.deb}, Provides, Conflicts and Replaces vcpuctl-agent, depends on the C and C++ libraries Node links to and not on nodejs`, () => {
      const field = (name: string) => execFileSync('dpkg-deb', ['-f', deb, name], { encoding: 'utf8' }).trim();
      assert.equal(field('Package'), 'vcpuctl-agent-static');
      assert.equal(field('Version'), VERSION);
      assert.equal(field('Architecture'), ARCH.deb);
      assert.equal(field('Provides'), `vcpuctl-agent (= ${VERSION})`);
      assert.equal(field('Conflicts'), 'vcpuctl-agent');
      assert.equal(field('Replaces'), 'vcpuctl-agent');
      assert.match(field('Depends'), /^libc6 \(>= 2\.\d+\), libgcc-s1 \| libgcc1, libstdc\+\+6$/);
      const conffiles = execFileSync('sh', ['-c', `dpkg-deb --ctrl-tarfile "${deb}" | tar -xO ./conffiles`], { encoding: 'utf8' });
      assert.equal(conffiles, '/etc/default/vcpuctl-agent\n');
    });

    it(`the .rpm: ${ARCH.rpm}, Provides and Conflicts vcpuctl-agent, requires what the executable links to (the .deb's glibc at most) and not nodejs`, () => {
      assert.equal(rpmQuery(staticRpm, '%{NAME} %{VERSION} %{RELEASE} %{ARCH}'), `vcpuctl-agent-static ${VERSION} 1 ${ARCH.rpm}`);
      const requires = execFileSync('rpm', ['-qpR', staticRpm], { encoding: 'utf8' }).split('\n');
      assert.deepEqual(
        requires.filter((r) => /node/.test(r)),
        [],
      );
      assert.ok(requires.includes('libstdc++.so.6()(64bit)'), requires.join('\n'));
      // rpmbuild read the ELF; package.sh grepped it for the .deb: the same newest glibc.
      const glibc = requires
        .map((r) => /^libc\.so\.6\(GLIBC_([\d.]+)\)/.exec(r)?.[1])
        .filter((v): v is string => !!v)
        .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
        .pop();
      assert.equal(`libc6 (>= ${glibc})`, execFileSync('dpkg-deb', ['-f', deb, 'Depends'], { encoding: 'utf8' }).split(',')[0]);
      assert.match(execFileSync('rpm', ['-qp', '--provides', staticRpm], { encoding: 'utf8' }), new RegExp(`^vcpuctl-agent = ${VERSION.replace(/\./g, '\\.')}-1$`, 'm'));
      assert.equal(execFileSync('rpm', ['-qp', '--conflicts', staticRpm], { encoding: 'utf8' }), 'vcpuctl-agent\n');
      assert.deepEqual(
        [...execFileSync('rpm', ['-qp', '--scripts', staticRpm], { encoding: 'utf8' }).matchAll(/^(\w+) scriptlet/gm)].map((m) => m[1]),
        ['postinstall', 'preuninstall', 'postuninstall'],
      );
    });

    it("both hold the agent's files, the executable as /usr/bin/vcpuctl-agent, root's, with the same modes", () => {
      const debFiles = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/))
        .filter((f) => !f[0]!.startsWith('d'));
      assert.deepEqual(
        debFiles.map((f) => `${f[0]} ${f[1]} ${f[5]!.replace(/^\./, '')}`),
        FILES.map((p) => `${p === '/usr/bin/vcpuctl-agent' ? '-rwxr-xr-x' : '-rw-r--r--'} root/root ${p}`),
      );
      const rpmFiles = rpmQuery(staticRpm, '[%{FILEMODES:perms} %{FILEUSERNAME}/%{FILEGROUPNAME} %{FILENAMES}\n]')
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('d'));
      assert.deepEqual(
        rpmFiles,
        debFiles.map((f) => `${f[0]} ${f[1]} ${f[5]!.replace(/^\./, '')}`),
      );
    });

    it("ship the executable --sea built, the agent's unit with ExecStart running it, the agent's other files, and Node's license", () => {
      const x = mkdtempSync(join(tmpdir(), `vcpuctl-static-x-${process.pid}-`));
      const regular = mkdtempSync(join(tmpdir(), `vcpuctl-static-regular-x-${process.pid}-`));
      try {
        execFileSync('dpkg-deb', ['-x', deb, x]);
        execFileSync('dpkg-deb', ['-x', join(out, `vcpuctl-agent_${VERSION}_all.deb`), regular]);
        assert.equal(sha256(join(x, 'usr/bin/vcpuctl-agent')), sha256(exe));
        const unit = readFileSync(join(x, 'usr/lib/systemd/system/vcpuctl-agent.service'), 'utf8');
        const src = readFileSync(UNIT_SRC, 'utf8');
        assert.match(src, /^ExecStart=\/usr\/bin\/node \/usr\/lib\/vcpuctl-agent\/vcpuctl-agent\.js run /m);
        assert.equal(unit, src.replace(/^ExecStart=\/usr\/bin\/node \/usr\/lib\/vcpuctl-agent\/vcpuctl-agent\.js /m, 'ExecStart=/usr/bin/vcpuctl-agent '));
        for (const same of ['etc/default/vcpuctl-agent', 'usr/lib/modules-load.d/vcpuctl-agent.conf', 'usr/lib/udev/rules.d/60-vcpuctl-agent.rules', 'usr/share/man/man8/vcpuctl-agent.8.gz']) {
          assert.equal(sha256(join(x, same)), sha256(join(regular, same)), same);
        }
        const copyright = readFileSync(join(x, 'usr/share/doc/vcpuctl-agent-static/copyright'), 'utf8');
        assert.ok(copyright.startsWith(readFileSync(join(regular, 'usr/share/doc/vcpuctl-agent/copyright'), 'utf8').trimEnd()));
        assert.match(copyright, new RegExp(`^== Node\\.js ${process.version.replace(/\./g, '\\.')} \\(MIT`, 'm'));
        assert.match(copyright, /Node\.js is licensed for use as follows/);
      } finally {
        rmSync(x, { recursive: true, force: true });
        rmSync(regular, { recursive: true, force: true });
      }
    });
  });

  /** A guest root: a shell, the executable's shared libraries, the fixture tree at /tree, and no node. */
  const guestRoot = (root: string) => {
    if (!existsSync(join(root, 'bin/sh'))) {
      mkdirSync(join(root, 'bin'), { recursive: true });
      copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
      symlinkSync('busybox', join(root, 'bin/sh'));
    }
    copySharedLibraries(exe, root);
    cpSync(GUEST_TREE, join(root, 'tree'), { recursive: true });
  };

  /** The checks a guest without node makes of its installed agent. */
  const runsWithoutNode = (root: string) => {
    const which = inGuest(root, ['/bin/sh', '-c', 'command -v node']);
    assert.notEqual(which.status, 0, `node found in the guest root: ${which.stdout}`);
    assert.equal(which.stdout, '');
    const version = inGuest(root, ['vcpuctl-agent', '--version']);
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout, `${VERSION}\n`);
    assert.equal(version.stderr, '');
    const json = inGuest(root, ['vcpuctl-agent', 'snapshot', '--sysroot', '/tree', '--format', 'json']);
    assert.equal(json.status, 0, json.stderr);
    assert.deepEqual(snapshotJson(json.stdout), bundleJson);
    const parse = inGuest(root, ['vcpuctl-agent', 'snapshot', '--sysroot', '/tree', '--format', 'parse']);
    assert.equal(parse.stdout, readFileSync(GUEST_LSCPU_P, 'utf8'));
  };

  describe('dpkg --root: a Debian 11 guest (libc6 2.31, no nodejs)', () => {
    let root: string;
    const wants = () => join(root, 'etc/systemd/system/multi-user.target.wants/vcpuctl-agent.service');
    const status = (pkg: string) => spawnSync('dpkg-query', [`--root=${root}`, '-W', '-f', '${Status} ${Version}', pkg], { encoding: 'utf8' }).stdout;
    const debian11 = [
      { name: 'libc6', version: '2.31-13+deb11u11' },
      { name: 'libgcc-s1', version: '10.2.1-6' },
      { name: 'libstdc++6', version: '10.2.1-6' },
    ];
    before(() => {
      root = mkdtempSync(join(tmpdir(), `vcpuctl-static-dpkg-root-${process.pid}-`));
      cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    });

    it("refuses a libc6 older than the executable needs (Ubuntu 18.04's 2.27)", () => {
      dpkgRoot(root, [{ name: 'libc6', version: '2.27-3ubuntu1.6' }, ...debian11.slice(1)]);
      const r = dpkg(root, ['-i', deb]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /vcpuctl-agent-static depends on libc6 \(>= 2\.\d+\); however:\n\s+Version of libc6 on system is 2\.27-3ubuntu1\.6\./);
      rmSync(root, { recursive: true, force: true });
      mkdirSync(root);
    });

    it('installs, with the unit enabled for the next boot', () => {
      dpkgRoot(root, debian11);
      const r = dpkg(root, ['-i', deb]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.equal(status('vcpuctl-agent-static'), `install ok installed ${VERSION}`);
      assert.equal(readlinkSync(wants()), '/usr/lib/systemd/system/vcpuctl-agent.service');
      guestRoot(root);
    });

    it("runs there with no node on PATH: --version, and snapshot --sysroot gives the JSON of the bundle under Node 18 and lscpu's own -p", () => {
      runsWithoutNode(root);
    });

    it('gives way to vcpuctl-agent once the guest has nodejs 18, and back, with dpkg -i alone; the edited defaults stay', () => {
      const defaults = join(root, 'etc/default/vcpuctl-agent');
      writeFileSync(defaults, readFileSync(defaults, 'utf8').replace('VCPUCTL_AGENT_OPTS=""', 'VCPUCTL_AGENT_OPTS="--read-only"'));
      appendFileSync(
        join(root, 'var/lib/dpkg/status'),
        '\nPackage: nodejs\nStatus: install ok installed\nPriority: optional\nSection: web\nMaintainer: x <x@localhost>\nArchitecture: all\nVersion: 18.19.1+dfsg-6ubuntu5\nDescription: stand-in\n',
      );
      const toRegular = dpkg(root, ['-i', join(out, `vcpuctl-agent_${VERSION}_all.deb`)]);
      assert.equal(toRegular.status, 0, toRegular.stderr);
      assert.equal(status('vcpuctl-agent'), `install ok installed ${VERSION}`);
      assert.doesNotMatch(status('vcpuctl-agent-static'), /installed/);
      assert.match(readFileSync(join(root, 'usr/bin/vcpuctl-agent'), 'utf8'), /^exec \/usr\/bin\/node /m);
      assert.ok(existsSync(join(root, 'usr/lib/vcpuctl-agent/vcpuctl-agent.js')));
      assert.match(readFileSync(defaults, 'utf8'), /^VCPUCTL_AGENT_OPTS="--read-only"$/m);
      const back = dpkg(root, ['-i', deb]);
      assert.equal(back.status, 0, back.stderr);
      assert.equal(status('vcpuctl-agent-static'), `install ok installed ${VERSION}`);
      assert.doesNotMatch(status('vcpuctl-agent'), /installed/);
      assert.equal(lexists(join(root, 'usr/lib/vcpuctl-agent/vcpuctl-agent.js')), false);
      assert.equal(sha256(join(root, 'usr/bin/vcpuctl-agent')), sha256(exe));
      assert.match(readFileSync(defaults, 'utf8'), /^VCPUCTL_AGENT_OPTS="--read-only"$/m);
      assert.ok(lexists(wants()));
      // vcpuctl-agent's leftover configuration is the static package's now: purging it keeps the file.
      const purge = dpkg(root, ['--purge', 'vcpuctl-agent']);
      assert.equal(purge.status, 0, purge.stderr);
      assert.match(readFileSync(defaults, 'utf8'), /^VCPUCTL_AGENT_OPTS="--read-only"$/m);
    });

    it('purge disables the unit and leaves nothing of the package', () => {
      const r = dpkg(root, ['--purge', 'vcpuctl-agent-static']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(lexists(wants()), false);
      assert.deepEqual(
        treeState(root).filter((l) => !l.startsWith('var/lib/dpkg') && /vcpuctl/.test(l)),
        [],
      );
    });
  });

  describe('rpm --root: an RHEL-family guest without nodejs', () => {
    let root: string;
    let standIns: string;
    before(() => {
      root = rpmRoot('vcpuctl-static-rpm-root', { systemctl: true });
      standIns = mkdtempSync(join(tmpdir(), `vcpuctl-static-standins-${process.pid}-`));
      cleanups.push(() => [root, standIns].forEach((d) => rmSync(d, { recursive: true, force: true })));
    });

    it('installs without --nodeps where a stand-in provides only the libraries it requires (no nodejs), enabled', () => {
      const own = `config(vcpuctl-agent-static) = ${VERSION}-1`;
      const needs = execFileSync('rpm', ['-qpR', staticRpm], { encoding: 'utf8' })
        .split('\n')
        .filter((r) => r && !r.startsWith('rpmlib(') && r !== own);
      assert.ok(!needs.some((r) => /node/.test(r)));
      const libs = standInRpm(standIns, { name: 'glibc', version: '2.34', provides: [...new Set(needs)] });
      const base = rpm(root, ['-i', libs]);
      assert.equal(base.status, 0, base.stderr);
      const r = rpm(root, ['-i', staticRpm]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.deepEqual(systemctlCalls(root), ['--no-reload enable vcpuctl-agent.service']);
      guestRoot(root);
    });

    it("runs there with no node on PATH: --version, and snapshot --sysroot gives the JSON of the bundle under Node 18 and lscpu's own -p", () => {
      runsWithoutNode(root);
    });

    it('conflicts with vcpuctl-agent: rpm refuses to install it alongside', () => {
      const nodejs = rpm(root, ['-i', standInRpm(standIns, { name: 'nodejs', epoch: 1, version: '18.20.8' })]);
      assert.equal(nodejs.status, 0, nodejs.stderr);
      const r = rpm(root, ['-i', join(out, `vcpuctl-agent-${VERSION}-1.noarch.rpm`)]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /vcpuctl-agent-static conflicts with \(installed\) vcpuctl-agent|conflicts with \(installed\) vcpuctl-agent-static/);
      assert.equal(rpm(root, ['-q', 'vcpuctl-agent']).status, 1);
    });

    it('rpm -e disables the unit and leaves nothing of the package', () => {
      const r = rpm(root, ['-e', 'vcpuctl-agent-static']);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(systemctlCalls(root), ['--no-reload disable vcpuctl-agent.service']);
      assert.deepEqual(
        treeState(root).filter((l) => !l.startsWith('var/lib/rpm') && /vcpuctl/.test(l)),
        [],
      );
    });
  });
});
