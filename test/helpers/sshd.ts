/**
 * A real sshd of the test's own on 127.0.0.1 and a free port, so
 * `qemu+ssh://` reaches this machine's libvirtd as it would a remote host.
 * Everything lives in one temp dir: its config, host key, the client key and
 * the AuthorizedKeysFile, the pid file, and the client side's ssh_config and
 * known_hosts. Neither side touches root's ~/.ssh or /etc/ssh: ssh finds ~
 * in the passwd entry, not $HOME, so the URI's `command=` names a wrapper
 * that runs `ssh -F <our ssh_config>` (UserKnownHostsFile in the temp dir,
 * GlobalKnownHostsFile=/dev/null, BatchMode=yes). libvirt 9.0 runs that
 * wrapper for its own connection; vcpuctl runs it for the channel forward.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { sshControlDir, sshControlPath } from '@vcpuctl/host';
import { sshTransportOf } from '@vcpuctl/host/dist/libvirt/ssh-uri';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/** sshd is listening well within this on a loaded 2-core machine (it starts in ~50 ms idle). */
const SSHD_READY_TIMEOUT_MS = 20_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function keygen(file: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'vcpuctl-test', '-f', file], { stdio: 'ignore' });
}

export class TestSshd {
  private child: ChildProcess | undefined;
  private log = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly plainShell = false,
  ) {}

  /** The client key sshd accepts. */
  get keyfile(): string {
    return join(this.dir, 'client_key');
  }

  /** A second key sshd does not know (for the wrong-key test). */
  get strangerKeyfile(): string {
    return join(this.dir, 'stranger_key');
  }

  /** The ssh wrapper the URIs name with command=. */
  get sshWrapper(): string {
    return join(this.dir, 'ssh');
  }

  /** One line per ssh the wrapper started: its arguments. */
  get argvLog(): string {
    return join(this.dir, 'ssh-argv.log');
  }

  /** The arguments of each ssh the wrapper has started so far, one entry a process. */
  sshStarted(): string[] {
    return existsSync(this.argvLog) ? readFileSync(this.argvLog, 'utf8').split('\n').filter(Boolean) : [];
  }

  get knownHosts(): string {
    return join(this.dir, 'known_hosts');
  }

  /** qemu+ssh://root@127.0.0.1:PORT/system with this fixture's key and wrapper. */
  uri(opts: { keyfile?: string } = {}): string {
    const q = new URLSearchParams({ keyfile: opts.keyfile ?? this.keyfile, no_verify: '1', command: this.sshWrapper });
    return `qemu+ssh://root@127.0.0.1:${this.port}/system?${q.toString()}`;
  }

  /** What sshd logged (-e): which key it accepted or refused. */
  get output(): string {
    return this.log;
  }

  /** Resolves once sshd has logged a line matching `re` (its pipes are read only while the event loop runs). */
  waitForLog(re: RegExp, timeoutMs = 10_000): Promise<void> {
    const child = this.child;
    if (re.test(this.log)) return Promise.resolve();
    if (!child) return Promise.reject(new Error(`sshd is not running; it never logged ${re}`));
    return new Promise((resolve, reject) => {
      const outs = [child.stdout!, child.stderr!];
      const check = () => {
        if (!re.test(this.log)) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`sshd never logged ${re} within ${timeoutMs} ms: ${this.log}`));
      }, timeoutMs);
      function done() {
        clearTimeout(timer);
        for (const o of outs) o.off('data', check);
      }
      // Our own 'data' listeners were added first, so this.log already holds the chunk when check runs.
      for (const o of outs) o.on('data', check);
    });
  }

  /**
   * `plainShell`: sshd runs in its own mount namespace where root's ~/.bashrc
   * is empty. bash reads ~/.bashrc for every command sshd runs, and this
   * machine's (pyenv init) takes 0.4-0.8 s: a benchmark of what vcpuctl
   * costs over ssh would time that instead. Tests of behaviour keep the
   * machine's shell as it is.
   */
  static async start(opts: { plainShell?: boolean } = {}): Promise<TestSshd> {
    const dir = mkdtempSync(join(tmpdir(), `vcpuctl-sshd-${process.pid}-`));
    const sshd = new TestSshd(dir, await freePort(), !!opts.plainShell);
    try {
      await sshd.launch();
    } catch (err) {
      await sshd.stop();
      throw err;
    }
    return sshd;
  }

  private async launch(): Promise<void> {
    const d = this.dir;
    keygen(join(d, 'host_key'));
    keygen(this.keyfile);
    keygen(this.strangerKeyfile);
    execFileSync('cp', [`${this.keyfile}.pub`, join(d, 'authorized_keys')]);
    writeFileSync(
      join(d, 'sshd_config'),
      [
        'ListenAddress 127.0.0.1',
        `Port ${this.port}`,
        `HostKey ${join(d, 'host_key')}`,
        `AuthorizedKeysFile ${join(d, 'authorized_keys')}`,
        'StrictModes no',
        `PidFile ${join(d, 'sshd.pid')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'AllowStreamLocalForwarding yes',
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    );
    writeFileSync(join(d, 'ssh_config'), ['Host *', `  UserKnownHostsFile ${this.knownHosts}`, '  GlobalKnownHostsFile /dev/null', '  BatchMode yes', '  IdentitiesOnly yes', '  ConnectTimeout 10', ''].join('\n'));
    // Each ssh started through the URI leaves its arguments in ssh-argv.log: what libvirt and vcpuctl asked ssh for.
    writeFileSync(this.sshWrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${this.argvLog}'\nexec /usr/bin/ssh -F '${join(d, 'ssh_config')}' "$@"\n`);
    chmodSync(this.sshWrapper, 0o755);
    // sshd's privilege-separation directory; Debian makes it at service start, which no service manager does here.
    if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
    const sshdArgv = ['/usr/sbin/sshd', '-D', '-e', '-f', join(d, 'sshd_config')];
    let argv = sshdArgv;
    if (this.plainShell) {
      writeFileSync(join(d, 'empty-bashrc'), '');
      const bashrc = join(homedir(), '.bashrc');
      argv = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `[ ! -e "$1" ] || mount --bind "$2" "$1"; shift 2; exec "$@"`, 'sh', bashrc, join(d, 'empty-bashrc'), ...sshdArgv];
    }
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    // -e logs to stderr; the re-executed per-connection sshd writes its lines to what was its stdout.
    for (const out of [child.stdout!, child.stderr!]) {
      out.setEncoding('utf8').on('data', (s: string) => {
        this.log += s;
      });
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sshd did not listen within ${SSHD_READY_TIMEOUT_MS} ms: ${this.log}`)), SSHD_READY_TIMEOUT_MS);
      const check = () => {
        if (/Server listening on 127\.0\.0\.1/.test(this.log)) {
          clearTimeout(timer);
          child.stderr!.off('data', check);
          resolve();
        }
      };
      child.stderr!.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`sshd exited ${code}: ${this.log}`));
      });
      check();
    });
  }

  /** Stops sshd (and waits for it), removes the temp dir. Safe to call twice or after a failed start. */
  /**
   * The connections vcpuctl keeps shared to this sshd (libvirt/ssh-share.ts),
   * for each key the tests use, ended: nothing of a test outlives it.
   */
  endSharedConnections(): void {
    for (const keyfile of [this.keyfile, this.strangerKeyfile]) {
      const path = sshControlPath(sshTransportOf(this.uri({ keyfile }))!, sshControlDir());
      if (existsSync(path)) spawnSync('ssh', ['-o', `ControlPath=${path}`, '-O', 'exit', '127.0.0.1'], { stdio: 'ignore', timeout: 10_000 });
    }
  }

  async stop(): Promise<void> {
    if (existsSync(this.dir)) this.endSharedConnections();
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
