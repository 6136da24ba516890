/**
 * issue 9 item 4: the agent exits within 1 s of SIGTERM whatever the size of
 * libuv's thread pool, while it follows a real character-like source (a
 * FIFO held open by a writer, as /dev/kmsg is always "open") and, with
 * --channel, while it waits on a virtio-serial port stand-in.
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuTreeBuilder } from '../helpers/cpu-tree-builder';
import { AGENT_BIN } from '../helpers/lscpu';

/** The bound the issue sets. */
const EXIT_BOUND_MS = 1000;

/** TCP and UDP sockets (IPv4 and IPv6) the process holds: its socket inodes found in /proc/net. */
function networkSockets(pid: number): number {
  const mine = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const m = /^socket:\[(\d+)\]$/.exec(safeReadlink(`/proc/${pid}/fd/${fd}`));
    if (m) mine.add(m[1]!);
  }
  let n = 0;
  for (const table of ['tcp', 'tcp6', 'udp', 'udp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const inode = line.trim().split(/\s+/)[9];
      if (inode && mine.has(inode)) n++;
    }
  }
  return n;
}

function safeReadlink(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return ''; // closed meanwhile
  }
}

/** Writes `bytes` of kernel records into the FIFO, waiting for the reader to make room; fails if it never does. */
async function pushThrough(fd: number, bytes: number): Promise<void> {
  const record = Buffer.from(`6,1,100,-;${'x'.repeat(1000)}\n`);
  const deadline = Date.now() + 10_000;
  let seq = 0;
  for (let sent = 0; sent < bytes;) {
    let n = 0;
    try {
      n = writeSync(fd, record);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
    if (n > 0) {
      sent += n;
      seq++;
      continue;
    }
    if (Date.now() > deadline) throw new Error(`nobody reads the kernel log: ${sent} of ${bytes} bytes went through (${seq} records)`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('vcpuctl-agent exits promptly on SIGTERM', function () {
  this.timeout(30_000);
  let dir: string;
  let tree: CpuTreeBuilder;
  let fifo: string;
  let writer: number;
  const children: ChildProcess[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-agent-exit-'));
    tree = new CpuTreeBuilder({ sockets: 1, coresPerSocket: 2, threadsPerCore: 1 });
    fifo = join(dir, 'kmsg');
    execFileSync('mkfifo', [fifo]);
    // A writer that never writes and never closes: a read on the FIFO waits for ever, as one on /dev/kmsg does.
    writer = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
  });
  after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    closeSync(writer);
    tree.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  async function startAndTerm(poolSize: number, extra: string[], ready: RegExp, kmsg = fifo): Promise<{ exitMs: number; sockets: number }> {
    const child = spawn(process.execPath, [AGENT_BIN, 'run', '--sysroot', tree.root, '--kmsg', kmsg, ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, UV_THREADPOOL_SIZE: String(poolSize) },
    });
    children.push(child);
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const look = (d: Buffer) => {
        out += String(d);
        if (ready.test(out)) resolve();
      };
      child.stdout!.on('data', look);
      child.stderr!.on('data', look);
      child.once('exit', (code) => reject(new Error(`agent exited ${code} before it was ready:\n${out}`)));
    });
    // Four times a pipe's capacity of kernel records goes through: the follower is really reading the source.
    if (kmsg === fifo) await pushThrough(writer, 4 * 65536);
    else await new Promise((r) => setTimeout(r, 300));
    const sockets = networkSockets(child.pid!);
    const t0 = Date.now();
    child.kill('SIGTERM');
    const exited = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 5_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(Date.now() - t0);
      });
    });
    assert.notEqual(exited, null, `agent (UV_THREADPOOL_SIZE=${poolSize}) still running 5 s after SIGTERM:\n${out}`);
    assert.equal(child.exitCode, 0, out);
    return { exitMs: exited!, sockets };
  }

  it("with UV_THREADPOOL_SIZE=1, following this machine's live /dev/kmsg (the case of the issue)", async () => {
    const { exitMs } = await startAndTerm(1, ['--listen', '127.0.0.1:0', '--insecure-no-auth'], /listening on/, '/dev/kmsg');
    assert.ok(exitMs < EXIT_BOUND_MS, `exited ${exitMs} ms after SIGTERM`);
  });

  for (const pool of [1, 2]) {
    it(`over TCP, with UV_THREADPOOL_SIZE=${pool}, while following the kernel log`, async () => {
      const { exitMs, sockets } = await startAndTerm(pool, ['--listen', '127.0.0.1:0', '--insecure-no-auth'], /listening on/);
      assert.ok(exitMs < EXIT_BOUND_MS, `exited ${exitMs} ms after SIGTERM`);
      assert.equal(sockets, 1, 'one listening TCP socket');
    });

    it(`over --channel, with UV_THREADPOOL_SIZE=${pool}, while waiting on the port, with no network socket`, async () => {
      // The CPU tree's sysroot names a port whose device node is a FIFO held open: an idle host connection.
      const ports = join(tree.root, 'sys/class/virtio-ports/vport1p1');
      mkdirSync(ports, { recursive: true });
      writeFileSync(join(ports, 'name'), 'org.vcpuctl.agent.0\n');
      const dev = join(dir, `dev-${pool}`);
      mkdirSync(dev);
      execFileSync('mkfifo', [join(dev, 'vport1p1')]);
      const port = openSync(join(dev, 'vport1p1'), constants.O_RDWR | constants.O_NONBLOCK);
      try {
        const { exitMs, sockets } = await startAndTerm(pool, ['--channel', '--dev-root', dev], /serving channel org\.vcpuctl\.agent\.0 on .*vport1p1/);
        assert.ok(exitMs < EXIT_BOUND_MS, `exited ${exitMs} ms after SIGTERM`);
        assert.equal(sockets, 0, 'with --channel alone, no network socket at all');
      } finally {
        closeSync(port);
      }
    });
  }
});
