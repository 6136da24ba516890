/**
 * vcpuctl-agent's command line as a service manager runs it: refuses to
 * start unsafely, with one clear line and a distinct exit code; serves TLS.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentClient } from '@vcpuctl/host';
import { VcpuctlError } from '@vcpuctl/proto';
import { CpuTreeBuilder } from '../helpers/cpu-tree-builder';
import { AGENT_BIN } from '../helpers/lscpu';

describe('vcpuctl-agent command line', function () {
  this.timeout(20_000);
  let dir: string;
  let tree: CpuTreeBuilder;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-agent-cli-'));
    tree = new CpuTreeBuilder({ sockets: 1, coresPerSocket: 2, threadsPerCore: 1 });
  });
  after(() => {
    tree.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = (args: string[]) => spawnSync(process.execPath, [AGENT_BIN, 'run', '--sysroot', tree.root, '--kmsg', '/nonexistent', ...args], { encoding: 'utf8', timeout: 10_000 });

  it('refuses to start without a token unless told --insecure-no-auth', () => {
    const r = run(['--listen', '127.0.0.1:0']);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'vcpuctl-agent: USAGE: refusing to start without --token-file (or --insecure-no-auth for tests)\n');
  });

  it('refuses a token file others can read', () => {
    const f = join(dir, 'open.token');
    writeFileSync(f, 'a-token-that-is-long-enough\n', { mode: 0o644 });
    const r = run(['--listen', '127.0.0.1:0', '--token-file', f]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /readable by others \(mode 644\); run chmod 600/);
  });

  it('refuses a short token and a bad --listen', () => {
    const f = join(dir, 'short.token');
    writeFileSync(f, 'short\n', { mode: 0o600 });
    assert.equal(run(['--listen', '127.0.0.1:0', '--token-file', f]).status, 2);
    assert.match(run(['--listen', '127.0.0.1:99999', '--insecure-no-auth']).stderr, /--listen wants HOST:PORT/);
  });

  it('refuses a channel name that is not a port name; --channel with --listen still wants a token', () => {
    for (const bad of ['../kmsg', '..', 'a b']) {
      const r = run(['--channel', bad]);
      assert.equal(r.status, 2, bad);
      assert.match(r.stderr, /^vcpuctl-agent: USAGE: --channel wants a port name of letters, digits/, bad);
    }
    // --channel with --listen still wants a token for the network side.
    assert.match(run(['--channel', '--listen', '127.0.0.1:0']).stderr, /refusing to start without --token-file/);
  });

  it('says so when the port is taken', async () => {
    const f = join(dir, 'ok.token');
    writeFileSync(f, 'a-token-that-is-long-enough\n', { mode: 0o600 });
    const first = spawn(process.execPath, [AGENT_BIN, 'run', '--sysroot', tree.root, '--kmsg', '/nonexistent', '--listen', '127.0.0.1:0', '--token-file', f]);
    try {
      const port = await new Promise<number>((resolve) => first.stdout.on('data', (d) => resolve(Number(/:(\d+)/.exec(String(d))![1]))));
      const r = run(['--listen', `127.0.0.1:${port}`, '--token-file', f]);
      assert.equal(r.status, 2);
      assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
    } finally {
      first.kill();
    }
  });

  it('serves TLS with --tls-cert/--tls-key', async () => {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const f = join(dir, 'tls.token');
    writeFileSync(f, 'a-token-that-is-long-enough\n', { mode: 0o600 });
    const agent = spawn(process.execPath, [AGENT_BIN, 'run', '--sysroot', tree.root, '--kmsg', '/nonexistent', '--listen', '127.0.0.1:0', '--token-file', f, '--tls-cert', cert, '--tls-key', key]);
    try {
      const port = await new Promise<number>((resolve) => agent.stdout.on('data', (d) => resolve(Number(/:(\d+)/.exec(String(d))![1]))));
      const c = await AgentClient.connect({ url: `wss://127.0.0.1:${port}`, token: 'a-token-that-is-long-enough', ca: readFileSync(cert) }, { timeoutMs: 5000 });
      assert.equal((await c.snapshot()).online, '0-1');
      await c.close();
      // Without trusting the certificate, the connection is refused.
      await assert.rejects(AgentClient.connect({ url: `wss://127.0.0.1:${port}`, token: 'a-token-that-is-long-enough' }, { timeoutMs: 5000 }), (e: VcpuctlError) => e.code === 'AGENT_UNREACHABLE' && /SELF_SIGNED/.test(e.message));
    } finally {
      agent.kill();
    }
  });
});
