/**
 * `npm run package`'s .rpm files as an RHEL-family machine receives them:
 * vcpuctl-<version>-1.noarch.rpm and vcpuctl-agent-<version>-1.noarch.rpm,
 * read by rpm, installed, upgraded and erased by the real rpm into roots of
 * their own (the scriptlets run for real, chrooted, with a systemctl
 * stand-in that records its calls), their dependencies checked against
 * stand-in nodejs packages, and the installed programs run by the oldest
 * Node they support (18, the registry's binary). And cockpit-vcpuctl, the
 * Cockpit page: the .deb's files, its requirements, install and erase.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lexists, rpm, rpmQuery, rpmRoot, rpmScripts, sha256, standInRpm, systemctlCalls, treeState } from '../helpers/package-roots';

const REPO = join(__dirname, '../../..');
const AGENT_VERSION: string = JSON.parse(readFileSync(join(REPO, 'packages/guest-agent/package.json'), 'utf8')).version;
const HOST_VERSION: string = JSON.parse(readFileSync(join(REPO, 'packages/host/package.json'), 'utf8')).version;
/** The second versions, for the upgrade: rpm sorts them after the first. */
const AGENT_NEXT = `${AGENT_VERSION}+upgrade1`;
const HOST_NEXT = `${HOST_VERSION}+upgrade1`;
const GUEST_TREE = join(REPO, 'test/fixtures/trees/qemu-tcg-q35-guest-1of2');
const GUEST_LSCPU_P = join(REPO, 'test/fixtures/guest-lscpu/qemu-tcg-q35-guest-1of2.lscpu-p.txt');
/** What rpm -qp --qf prints for each file: mode, owner, config/doc flags, path. */
const FILE_FORMAT = '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} (%{FILEFLAGS:fflags}) %{FILENAMES}\n]';
const noNodeModules = { PATH: '/usr/bin:/bin', LC_ALL: 'C' };

/** Lines of `rpm -qp` FLAG (requires, conflicts, ...), rpmlib's own left out, each once. */
function deps(file: string, flag: string): string[] {
  const lines = execFileSync('rpm', ['-qp', flag, file], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l && !l.startsWith('rpmlib('));
  return [...new Set(lines)].sort();
}

describe('RPM packages (npm run package): vcpuctl and vcpuctl-agent, noarch', function () {
  this.timeout(30_000);
  let out: string;
  let next: string;
  let standIns: string;
  let node18: string;
  let agentRpm: string;
  let hostRpm: string;
  /** Both .debs unpacked into one tree: what the .rpms must install, file for file. */
  let debTree: string;
  const cleanups: (() => void)[] = [];

  before(function () {
    this.timeout(300_000); // the first run on a machine downloads Node 18 from the npm registry
    node18 = execFileSync('bash', [join(REPO, 'scripts/node18.sh')], { encoding: 'utf8' }).trim();
    out = mkdtempSync(join(tmpdir(), `vcpuctl-rpm-package-${process.pid}-`));
    next = mkdtempSync(join(tmpdir(), `vcpuctl-rpm-package-next-${process.pid}-`));
    standIns = mkdtempSync(join(tmpdir(), `vcpuctl-rpm-standins-${process.pid}-`));
    debTree = mkdtempSync(join(tmpdir(), `vcpuctl-rpm-debtree-${process.pid}-`));
    cleanups.push(() => [out, next, standIns, debTree].forEach((d) => rmSync(d, { recursive: true, force: true })));
    // The suite runs after `npm run build`; the packages are built from that build.
    execFileSync('bash', [join(REPO, 'scripts/package.sh'), '--no-build', '--out', out], { encoding: 'utf8' });
    execFileSync('bash', [join(REPO, 'scripts/package.sh'), '--no-build', '--out', next, '--agent-version', AGENT_NEXT, '--host-version', HOST_NEXT], { encoding: 'utf8' });
    agentRpm = join(out, `vcpuctl-agent-${AGENT_VERSION}-1.noarch.rpm`);
    hostRpm = join(out, `vcpuctl-${HOST_VERSION}-1.noarch.rpm`);
    execFileSync('dpkg-deb', ['-x', join(out, `vcpuctl-agent_${AGENT_VERSION}_all.deb`), debTree]);
    execFileSync('dpkg-deb', ['-x', join(out, `vcpuctl_${HOST_VERSION}_all.deb`), debTree]);
  });
  after(() => {
    for (const c of cleanups.reverse()) c();
  });

  describe('the .rpm files', () => {
    it('are named and versioned as rpm expects (noarch, release 1, MIT), built reproducibly: build host "reproducible", build time the commit\'s', () => {
      const epoch = spawnSync('git', ['-C', REPO, 'log', '-1', '--format=%ct'], { encoding: 'utf8' }).stdout.trim() || '0';
      for (const [file, name, version] of [
        [agentRpm, 'vcpuctl-agent', AGENT_VERSION],
        [hostRpm, 'vcpuctl', HOST_VERSION],
      ] as const) {
        assert.ok(existsSync(file), `${file} not built`);
        assert.equal(rpmQuery(file, '%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{LICENSE} %{BUILDHOST} %{BUILDTIME}'), `${name} ${version} 1 noarch MIT reproducible ${epoch}`);
      }
    });

    it("the agent's: the bundle, the launcher, the unit, the defaults as %config(noreplace), the module and udev rule, the man page, the license; root's, with the .deb's modes", () => {
      assert.deepEqual(rpmQuery(agentRpm, FILE_FORMAT).trim().split('\n'), [
        '-rw-r--r-- root:root (cn) /etc/default/vcpuctl-agent',
        '-rwxr-xr-x root:root () /usr/bin/vcpuctl-agent',
        '-rw-r--r-- root:root () /usr/lib/modules-load.d/vcpuctl-agent.conf',
        '-rw-r--r-- root:root () /usr/lib/systemd/system/vcpuctl-agent.service',
        '-rw-r--r-- root:root () /usr/lib/udev/rules.d/60-vcpuctl-agent.rules',
        'drwxr-xr-x root:root () /usr/lib/vcpuctl-agent',
        '-rw-r--r-- root:root () /usr/lib/vcpuctl-agent/vcpuctl-agent.js',
        'drwxr-xr-x root:root () /usr/share/doc/vcpuctl-agent',
        '-rw-r--r-- root:root (dl) /usr/share/doc/vcpuctl-agent/copyright',
        '-rw-r--r-- root:root (d) /usr/share/man/man8/vcpuctl-agent.8.gz',
      ]);
    });

    it("the controller's: the bundle, the launcher, the exporter's unit, its defaults and the hosts file as %config(noreplace), the report directory, completion, man page, license", () => {
      assert.deepEqual(rpmQuery(hostRpm, FILE_FORMAT).trim().split('\n'), [
        '-rw-r--r-- root:root (cn) /etc/default/vcpuctl-exporter',
        'drwxr-xr-x root:root () /etc/vcpuctl',
        '-rw-r--r-- root:root (cn) /etc/vcpuctl/hosts',
        '-rwxr-xr-x root:root () /usr/bin/vcpuctl',
        '-rw-r--r-- root:root () /usr/lib/systemd/system/vcpuctl-exporter.service',
        'drwxr-xr-x root:root () /usr/lib/vcpuctl',
        '-rw-r--r-- root:root () /usr/lib/vcpuctl/start.js',
        '-rw-r--r-- root:root () /usr/lib/vcpuctl/vcpuctl.js',
        '-rw-r--r-- root:root () /usr/share/bash-completion/completions/vcpuctl',
        'drwxr-xr-x root:root () /usr/share/doc/vcpuctl',
        '-rw-r--r-- root:root (dl) /usr/share/doc/vcpuctl/copyright',
        '-rw-r--r-- root:root (d) /usr/share/man/man1/vcpuctl.1.gz',
        'drwxr-xr-x root:root () /var/cache/vcpuctl',
        '-rw-r--r-- root:root (g) /var/cache/vcpuctl/vcpuctl.js.v8-cache',
        'drwxr-xr-x root:root () /var/lib/vcpuctl',
        'drwxr-xr-x root:root () /var/lib/vcpuctl/reports',
      ]);
    });

    it("require nodejs >= 1:18 (with RHEL's epoch) and /bin/sh; the agent conflicts with vcpuctl-agent-static; the controller recommends virsh and ssh", () => {
      assert.deepEqual(deps(agentRpm, '-R'), ['/bin/sh', 'config(vcpuctl-agent) = ' + `${AGENT_VERSION}-1`, 'nodejs >= 1:18']);
      assert.deepEqual(deps(hostRpm, '-R'), ['/bin/sh', 'config(vcpuctl) = ' + `${HOST_VERSION}-1`, 'nodejs >= 1:18']);
      assert.deepEqual(deps(agentRpm, '--conflicts'), ['vcpuctl-agent-static']);
      assert.deepEqual(deps(hostRpm, '--conflicts'), []);
      assert.deepEqual(deps(hostRpm, '--recommends'), ['libvirt-client', 'openssh-clients']);
    });

    it("carry hand-written systemd scriptlets (no systemd-rpm-macros in Debian's rpm): post, preun, postun in sh, each guarded by command -v systemctl", () => {
      for (const [file, unit] of [
        [agentRpm, 'vcpuctl-agent.service'],
        [hostRpm, 'vcpuctl-exporter.service'],
      ] as const) {
        const scripts = rpmScripts(file);
        assert.deepEqual([...scripts.keys()], ['postinstall', 'preuninstall', 'postuninstall'], file);
        for (const [name, s] of scripts) {
          assert.equal(s.interpreter, '/bin/sh', `${file} ${name}`);
          assert.doesNotMatch(s.body, /%[{(]|%systemd/, `${file} ${name}: a macro left unexpanded`);
          assert.match(s.body, /command -v systemctl >\/dev\/null 2>&1/, `${file} ${name}: not guarded`);
          assert.match(s.body, /\nexit 0\n*$/, `${file} ${name}: a failing test as the last command would fail the transaction`);
          const tmp = join(out, `${name}.sh`);
          writeFileSync(tmp, s.body);
          assert.equal(spawnSync('sh', ['-n', tmp]).status, 0, `${file} ${name}: sh -n`);
        }
        assert.match(scripts.get('preuninstall')!.body, new RegExp(`systemctl --no-reload disable ${unit}`));
        assert.match(scripts.get('postuninstall')!.body, new RegExp(`systemctl try-restart ${unit}`));
      }
      assert.match(rpmScripts(agentRpm).get('postinstall')!.body, /systemctl --no-reload enable vcpuctl-agent\.service/);
      assert.doesNotMatch(rpmScripts(hostRpm).get('postinstall')!.body, /\benable\b|\bpreset\b/, 'the exporter serves an inventory: the administrator enables it');
    });

    it('builds the same bytes twice from the same commit', function () {
      this.timeout(60_000);
      const again = mkdtempSync(join(tmpdir(), `vcpuctl-rpm-again-${process.pid}-`));
      try {
        execFileSync('bash', [join(REPO, 'scripts/package.sh'), '--no-build', '--out', again]);
        assert.equal(sha256(join(again, `vcpuctl-agent-${AGENT_VERSION}-1.noarch.rpm`)), sha256(agentRpm));
        assert.equal(sha256(join(again, `vcpuctl-${HOST_VERSION}-1.noarch.rpm`)), sha256(hostRpm));
        assert.equal(sha256(join(again, `cockpit-vcpuctl-${HOST_VERSION}-1.noarch.rpm`)), sha256(join(out, `cockpit-vcpuctl-${HOST_VERSION}-1.noarch.rpm`)));
      } finally {
        rmSync(again, { recursive: true, force: true });
      }
    });
  });

  describe('rpm --root into a root of its own, where systemd "runs" (a systemctl stand-in records the scriptlets\' calls)', () => {
    let root: string;
    const hostPaths = ['/usr/bin/vcpuctl', '/usr/bin/vcpuctl-agent', '/usr/lib/vcpuctl', '/usr/lib/vcpuctl-agent', '/etc/default/vcpuctl-exporter', '/etc/default/vcpuctl-agent', '/etc/vcpuctl/hosts', '/var/lib/vcpuctl'];
    const hostNow = () => hostPaths.map((p) => `${p} ${lexists(p)}`);
    let hostBefore: string[];
    /** The files of the packages in `root`: everything but the root's own shell, device, systemctl and rpm database. */
    const packageFiles = (dir: string) => treeState(dir).filter((l) => !/^(bin|dev|run|var\/lib\/rpm|var\/tmp|systemctl\.log|usr\/bin\/systemctl)[/ ]/.test(l) && !/\/ \d+$/.test(l));
    /** An installed program as its launcher in /usr/bin runs it, with the registry's Node 18 for /usr/bin/node. */
    const installed = (launcher: string, args: string[]) => {
      const script = /^exec \/usr\/bin\/node (\S+) "\$@"$/m.exec(readFileSync(join(root, launcher), 'utf8'))![1]!;
      return spawnSync(node18, [join(root, script), ...args], { encoding: 'utf8', env: noNodeModules, cwd: root });
    };

    before(() => {
      assert.equal(existsSync('/run/systemd/system'), false, 'these tests expect a machine where systemd is not running');
      hostBefore = hostNow();
      root = rpmRoot('vcpuctl-rpm-root', { systemctl: true, systemdRunning: true });
      cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    });

    it("refuses to install next to RHEL 9's default nodejs, 1:16 (the requirement's epoch at work), and changes nothing", () => {
      const nodejs16 = standInRpm(standIns, { name: 'nodejs', epoch: 1, version: '16.20.2' });
      const shell = standInRpm(standIns, { name: 'bash', version: '5.1.8', provides: ['/bin/sh'] });
      const base = rpm(root, ['-i', nodejs16, shell]);
      assert.equal(base.status, 0, base.stderr);
      const before = treeState(root).filter((l) => !l.startsWith('var/lib/rpm'));
      const r = rpm(root, ['-i', agentRpm, hostRpm]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, new RegExp(`nodejs >= 1:18 is needed by vcpuctl-agent-${AGENT_VERSION.replace(/\./g, '\\.')}-1\\.noarch`));
      assert.match(r.stderr, new RegExp(`nodejs >= 1:18 is needed by vcpuctl-${HOST_VERSION.replace(/\./g, '\\.')}-1\\.noarch`));
      assert.deepEqual(
        treeState(root).filter((l) => !l.startsWith('var/lib/rpm')),
        before,
      );
      assert.deepEqual(systemctlCalls(root), []);
    });

    it("installs next to nodejs 1:18: the .debs' files byte for byte, the report directory, the agent enabled and started, the exporter only reloaded; nothing outside the root touched", () => {
      const up = rpm(root, ['-U', standInRpm(standIns, { name: 'nodejs', epoch: 1, version: '18.20.8' })]);
      assert.equal(up.status, 0, up.stderr);
      const agent = rpm(root, ['-i', agentRpm]);
      assert.equal(agent.status, 0, agent.stderr);
      assert.equal(agent.stderr, '');
      assert.deepEqual(systemctlCalls(root), ['--no-reload enable vcpuctl-agent.service', 'daemon-reload', 'start vcpuctl-agent.service']);
      const host = rpm(root, ['-i', hostRpm]);
      assert.equal(host.status, 0, host.stderr);
      assert.equal(host.stderr, '');
      assert.deepEqual(systemctlCalls(root), ['daemon-reload']);
      assert.equal(rpm(root, ['-q', '--qf', '%{NAME} %{VERSION}\n', 'vcpuctl-agent', 'vcpuctl']).stdout, `vcpuctl-agent ${AGENT_VERSION}\nvcpuctl ${HOST_VERSION}\n`);
      assert.deepEqual(packageFiles(root), packageFiles(debTree));
      assert.equal(treeState(join(root, 'var/lib/vcpuctl')).join(), 'reports/ 755');
      assert.deepEqual(hostNow(), hostBefore);
    });

    it('the installed agent runs under Node 18: --version, and snapshot --sysroot reads a real guest tree as lscpu did inside it', () => {
      const version = installed('usr/bin/vcpuctl-agent', ['--version']);
      assert.equal(version.status, 0, version.stderr);
      assert.equal(version.stdout.trim(), AGENT_VERSION);
      const parse = installed('usr/bin/vcpuctl-agent', ['snapshot', '--sysroot', GUEST_TREE, '--format', 'parse']);
      assert.equal(parse.status, 0, parse.stderr);
      assert.equal(parse.stdout, readFileSync(GUEST_LSCPU_P, 'utf8'));
    });

    it('the installed vcpuctl runs under Node 18: --version, --help', () => {
      const version = installed('usr/bin/vcpuctl', ['--version']);
      assert.equal(version.status, 0, version.stderr);
      assert.equal(version.stdout.trim(), HOST_VERSION);
      const help = installed('usr/bin/vcpuctl', ['--help']);
      assert.equal(help.status, 0, help.stderr);
      assert.match(help.stdout, /^Usage: vcpuctl /m);
    });

    it('rpm -U keeps the edited %config(noreplace) files (no .rpmnew) and the reports, and restarts the units, not enabling them again', () => {
      const edit = (path: string, from: string, to: string) => {
        const text = readFileSync(join(root, path), 'utf8');
        assert.ok(text.includes(from), `${path} has no ${from}`);
        writeFileSync(join(root, path), text.replace(from, to));
      };
      edit('etc/default/vcpuctl-agent', 'VCPUCTL_AGENT_OPTS=""', 'VCPUCTL_AGENT_OPTS="--read-only"');
      edit('etc/default/vcpuctl-exporter', 'VCPUCTL_EXPORTER_OPTS=""', 'VCPUCTL_EXPORTER_OPTS="--host-poll 60"');
      edit('etc/vcpuctl/hosts', 'qemu:///system\n', 'qemu:///system\nqemu+ssh://root@kvm2/system\n');
      writeFileSync(join(root, 'var/lib/vcpuctl/reports/r1.json'), '{}\n');
      const edited = treeState(join(root, 'etc'));
      const agent = rpm(root, ['-U', join(next, `vcpuctl-agent-${AGENT_NEXT}-1.noarch.rpm`)]);
      assert.equal(agent.status, 0, agent.stderr);
      assert.equal(agent.stderr, '');
      // The new %post ($1 = 2), then the old %preun and %postun ($1 = 1).
      assert.deepEqual(systemctlCalls(root), ['daemon-reload', 'daemon-reload', 'try-restart vcpuctl-agent.service']);
      const host = rpm(root, ['-U', join(next, `vcpuctl-${HOST_NEXT}-1.noarch.rpm`)]);
      assert.equal(host.status, 0, host.stderr);
      assert.equal(host.stderr, '');
      assert.deepEqual(systemctlCalls(root), ['daemon-reload', 'daemon-reload', 'try-restart vcpuctl-exporter.service']);
      assert.equal(rpm(root, ['-q', '--qf', '%{VERSION}\n', 'vcpuctl-agent', 'vcpuctl']).stdout, `${AGENT_NEXT}\n${HOST_NEXT}\n`);
      assert.deepEqual(treeState(join(root, 'etc')), edited, 'an edited config file replaced, or a .rpmnew made');
      assert.ok(existsSync(join(root, 'var/lib/vcpuctl/reports/r1.json')));
      assert.deepEqual(hostNow(), hostBefore);
    });

    it('rpm -e stops and disables the units, saves the edited config files as .rpmsave, keeps the reports, and leaves nothing else of the packages', () => {
      const agent = rpm(root, ['-e', 'vcpuctl-agent']);
      assert.equal(agent.status, 0, agent.stderr);
      assert.equal(agent.stderr, 'warning: /etc/default/vcpuctl-agent saved as /etc/default/vcpuctl-agent.rpmsave\n');
      assert.deepEqual(systemctlCalls(root), ['stop vcpuctl-agent.service', '--no-reload disable vcpuctl-agent.service', 'daemon-reload']);
      const host = rpm(root, ['-e', 'vcpuctl']);
      assert.equal(host.status, 0, host.stderr);
      assert.deepEqual(host.stderr.split('\n').filter(Boolean).sort(), ['warning: /etc/default/vcpuctl-exporter saved as /etc/default/vcpuctl-exporter.rpmsave', 'warning: /etc/vcpuctl/hosts saved as /etc/vcpuctl/hosts.rpmsave']);
      assert.deepEqual(systemctlCalls(root), ['stop vcpuctl-exporter.service', '--no-reload disable vcpuctl-exporter.service', 'daemon-reload']);
      const left = treeState(root)
        .filter((l) => !l.startsWith('var/lib/rpm') && /vcpuctl/.test(l))
        .map((l) => l.split(' ')[0]);
      assert.deepEqual(left, [
        'etc/default/vcpuctl-agent.rpmsave',
        'etc/default/vcpuctl-exporter.rpmsave',
        'etc/vcpuctl/',
        'etc/vcpuctl/hosts.rpmsave',
        'var/lib/vcpuctl/',
        'var/lib/vcpuctl/reports/',
        'var/lib/vcpuctl/reports/r1.json',
      ]);
      assert.deepEqual(hostNow(), hostBefore);
    });
  });

  describe('cockpit-vcpuctl-<version>-1.noarch.rpm, the Cockpit page', () => {
    let cockpitRpm: string;
    let cockpitDeb: string;
    const PAGE_DIR = 'usr/share/cockpit/vcpuctl';
    before(() => {
      cockpitRpm = join(out, `cockpit-vcpuctl-${HOST_VERSION}-1.noarch.rpm`);
      cockpitDeb = mkdtempSync(join(tmpdir(), `vcpuctl-rpm-cockpit-debtree-${process.pid}-`));
      cleanups.push(() => rmSync(cockpitDeb, { recursive: true, force: true }));
      execFileSync('dpkg-deb', ['-x', join(out, `cockpit-vcpuctl_${HOST_VERSION}_all.deb`), cockpitDeb]);
    });

    it('requires vcpuctl of its version and cockpit-bridge >= 219 (what its manifest requires), has no scriptlets, and is built reproducibly', () => {
      const epoch = spawnSync('git', ['-C', REPO, 'log', '-1', '--format=%ct'], { encoding: 'utf8' }).stdout.trim() || '0';
      assert.equal(rpmQuery(cockpitRpm, '%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{BUILDHOST} %{BUILDTIME}'), `cockpit-vcpuctl ${HOST_VERSION} 1 noarch reproducible ${epoch}`);
      const manifest = JSON.parse(readFileSync(join(cockpitDeb, PAGE_DIR, 'manifest.json'), 'utf8'));
      assert.deepEqual(deps(cockpitRpm, '-R'), [`cockpit-bridge >= ${manifest.requires.cockpit}`, `vcpuctl = ${HOST_VERSION}`]);
      assert.deepEqual([...rpmScripts(cockpitRpm).keys()], []);
    });

    it("refuses a root without its requirements; installs the .deb's files byte for byte next to them; rpm -e leaves nothing of it", () => {
      const root = rpmRoot('vcpuctl-rpm-cockpit-root');
      const dir = mkdtempSync(join(tmpdir(), `vcpuctl-rpm-cockpit-standins-${process.pid}-`));
      try {
        const missing = rpm(root, ['-i', cockpitRpm]);
        assert.notEqual(missing.status, 0);
        assert.match(missing.stderr, /cockpit-bridge >= 219 is needed by cockpit-vcpuctl-/);
        assert.match(missing.stderr, new RegExp(`vcpuctl = ${HOST_VERSION.replace(/\./g, '\\.')} is needed by cockpit-vcpuctl-`));
        const base = rpm(root, ['-i', standInRpm(dir, { name: 'vcpuctl', version: HOST_VERSION }), standInRpm(dir, { name: 'cockpit-bridge', version: '287.1' })]);
        assert.equal(base.status, 0, base.stderr);
        const before = treeState(root).filter((l) => !l.startsWith('var/lib/rpm'));
        const r = rpm(root, ['-i', cockpitRpm]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stderr, '');
        const files = (d: string) => treeState(d).filter((l) => l.startsWith('usr/share/cockpit/') || l.startsWith('usr/share/doc/cockpit-vcpuctl/'));
        assert.deepEqual(files(root), files(cockpitDeb));
        assert.ok(files(root).some((l) => l.startsWith(`${PAGE_DIR}/manifest.json `)));
        const erase = rpm(root, ['-e', 'cockpit-vcpuctl']);
        assert.equal(erase.status, 0, erase.stderr);
        // rpm keeps the parents it made (usr/share/cockpit/ is cockpit-bridge's on a real system), nothing else.
        const parents = ['usr/ 755', 'usr/share/ 755', 'usr/share/cockpit/ 755', 'usr/share/doc/ 755'];
        assert.deepEqual(
          treeState(root).filter((l) => !l.startsWith('var/lib/rpm') && !parents.includes(l)),
          before,
        );
      } finally {
        rmSync(root, { recursive: true, force: true });
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it('in a root without systemctl (a container, an installroot without systemd), the scriptlets exit 0 and change nothing; the agent says how to start it', () => {
    const root = rpmRoot('vcpuctl-rpm-nosystemd');
    try {
      const agent = rpm(root, ['--nodeps', '-i', agentRpm]);
      assert.equal(agent.status, 0, agent.stderr);
      assert.equal(agent.stderr, 'vcpuctl-agent: no systemd here; start it with: vcpuctl-agent run --channel\n');
      const host = rpm(root, ['--nodeps', '-i', hostRpm]);
      assert.equal(host.status, 0, host.stderr);
      assert.equal(`${host.stdout}${host.stderr}`, '');
      assert.deepEqual(
        treeState(root).filter((l) => /systemd\/system\/[^/]*\.wants/.test(l)),
        [],
      );
      const erase = rpm(root, ['-e', 'vcpuctl-agent', 'vcpuctl']);
      assert.equal(erase.status, 0, erase.stderr);
      assert.equal(`${erase.stdout}${erase.stderr}`, '');
      assert.deepEqual(
        treeState(root).filter((l) => !l.startsWith('var/lib/rpm') && /vcpuctl/.test(l)),
        [],
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
