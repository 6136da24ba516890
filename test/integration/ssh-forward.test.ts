/**
 * The channel socket reached through a +ssh URI's ssh (guest/socket-reach.ts,
 * guest/ssh-forward.ts) against a real sshd of the test's own on loopback
 * (test/helpers/sshd.ts) and a real unix socket standing in for the
 * channel's: bytes both ways, a retry on the same forward, ssh's own reason
 * when it fails, bounded by the timeout, the ssh child always reaped.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { VcpuctlError } from '@vcpuctl/proto';
import { socketReachFor } from '@vcpuctl/host/dist/guest/socket-reach';
import { TestSshd } from '../helpers/sshd';

/** One line in, "echo:" + it out: enough to see bytes cross the forward in both directions. */
function echoServer(path: string): Promise<Server> {
  const server = createServer((s: Socket) => s.on('data', (d) => s.write(`echo:${d.toString()}`)));
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

function roundTrip(stream: Duplex, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    stream.once('error', reject);
    stream.once('data', (d: Buffer) => {
      resolve(d.toString());
      stream.destroy();
    });
    stream.write(text);
  });
}

/** ssh processes whose arguments name this fixture's directory (ours alone). */
function sshChildren(sshd: TestSshd): number {
  const out = execFileSync('ps', ['-eo', 'stat=,args='], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes('/usr/bin/ssh -F') && l.includes(sshd.dir) && !l.startsWith('Z')).length;
}

describe('channel sockets through a +ssh URI (real sshd on loopback)', function () {
  this.timeout(60_000);
  let sshd: TestSshd;
  let dir: string;
  let server: Server;
  let socketPath: string;

  before(async () => {
    sshd = await TestSshd.start();
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-ssh-forward-'));
    socketPath = join(dir, 'channel.sock');
    server = await echoServer(socketPath);
  });
  after(async () => {
    server?.close();
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('forwards the remote socket: bytes both ways, twice on one forward; close reaps ssh and removes its socket', async () => {
    const reach = socketReachFor(sshd.uri());
    assert.deepEqual([reach.transport, reach.host], ['ssh', '127.0.0.1']);
    const before = readdirSync(tmpdir()).filter((n) => n.startsWith('vcpuctl-ssh-')).length;
    const s = await reach.open(socketPath, 20_000);
    assert.equal(sshChildren(sshd), 1);
    assert.equal(await roundTrip(s.connect(), 'one'), 'echo:one');
    assert.equal(await roundTrip(s.connect(), 'two'), 'echo:two', 'a retry uses the same forward');
    assert.equal(s.reason(), undefined);
    await s.close();
    assert.equal(sshChildren(sshd), 0, 'ssh was ended and reaped');
    assert.equal(readdirSync(tmpdir()).filter((n) => n.startsWith('vcpuctl-ssh-')).length, before, 'its private dir is gone');
    const argv = readFileSync(sshd.argvLog, 'utf8');
    assert.match(argv, new RegExp(`-p ${sshd.port} -l root -i ${sshd.keyfile} -T -e none -o StrictHostKeyChecking=no -N .* -L \\S+:${socketPath} -- 127\\.0\\.0\\.1`));
  });

  it('a socket that is not there on the remote host: the connection ends, and ssh says why', async () => {
    const s = await socketReachFor(sshd.uri()).open(join(dir, 'absent.sock'), 20_000);
    try {
      const c = s.connect();
      await new Promise<void>((resolve) => {
        c.on('error', () => undefined);
        c.once('close', () => resolve());
      });
      await new Promise<void>((resolve, reject) => {
        const started = Date.now();
        const check = () => (s.reason() ? resolve() : Date.now() - started > 10_000 ? reject(new Error('ssh gave no reason')) : setTimeout(check, 50));
        check();
      });
      assert.match(s.reason()!, /^ssh to root@127\.0\.0\.1:\d+ could not open \S+absent\.sock: channel \d+: open failed/);
    } finally {
      await s.close();
    }
    assert.equal(sshChildren(sshd), 0);
  });

  it("a key sshd does not know: AGENT_UNREACHABLE with ssh's reason, at once, ssh reaped", async () => {
    const started = Date.now();
    await assert.rejects(socketReachFor(sshd.uri({ keyfile: sshd.strangerKeyfile })).open(socketPath, 20_000), (e: VcpuctlError) => {
      assert.equal(e.code, 'AGENT_UNREACHABLE');
      assert.match(e.message, /^ssh to root@127\.0\.0\.1:\d+ failed: root@127\.0\.0\.1: Permission denied \(publickey\)\.$/);
      return true;
    });
    assert.ok(Date.now() - started < 15_000, 'BatchMode: refused, not prompted');
    assert.equal(sshChildren(sshd), 0);
  });

  it("nothing listening on the port: ssh's reason; an ssh that never answers: bounded by the timeout", async () => {
    const closed = createServer();
    const port = await new Promise<number>((resolve) => closed.listen(0, '127.0.0.1', () => resolve((closed.address() as { port: number }).port)));
    await new Promise((r) => closed.close(r));
    const refused = sshd.uri().replace(`:${sshd.port}/`, `:${port}/`);
    await assert.rejects(socketReachFor(refused).open(socketPath, 20_000), (e: VcpuctlError) => e.code === 'AGENT_UNREACHABLE' && /failed: .*port \d+: Connection refused$/.test(e.message));
    // A listener that accepts and never speaks SSH: the open gives up at its bound, and the child is reaped.
    const silent = createServer(() => undefined);
    const silentPort = await new Promise<number>((resolve) => silent.listen(0, '127.0.0.1', () => resolve((silent.address() as { port: number }).port)));
    try {
      const started = Date.now();
      await assert.rejects(socketReachFor(sshd.uri().replace(`:${sshd.port}/`, `:${silentPort}/`)).open(socketPath, 1500), (e: VcpuctlError) => {
        assert.equal(e.code, 'AGENT_UNREACHABLE');
        assert.match(e.message, /did not forward the channel socket within 1500 ms/);
        return true;
      });
      assert.ok(Date.now() - started < 10_000);
      assert.equal(sshChildren(sshd), 0);
    } finally {
      silent.close();
    }
  });
});
