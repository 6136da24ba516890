/**
 * `vcpuctl exporter --web-config-file`: Prometheus's web configuration file
 * (exporter-toolkit's format) giving the exporter TLS and basic auth. The
 * real CLI against libvirt's test driver (`test:///default`, inside virsh: no
 * daemon), certificates made with the openssl CLI, bcrypt hashes with
 * bcryptjs, loopback only. Then BasicAuth alone, with a counting bcrypt: what
 * is remembered, what an unknown user costs, what a flood gets.
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet, RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compare as bcryptCompare, hashSync } from 'bcryptjs';
import { BasicAuth, MAX_AUTH_CACHE_ENTRIES, MAX_WAITING_VERIFICATIONS, parseBasicAuth } from '@vcpuctl/host/dist/watch/basic-auth';
import { MAX_WEB_CONFIG_BYTES } from '@vcpuctl/host/dist/watch/web-config';
import { asksForCredentials, servesEveryAddress } from '@vcpuctl/host/dist/commands/exporter';
import { VCPUCTL, setupHost } from '../helpers/libvirt';

const TEST_URI = 'test:///default';
/** Start-up of the exporter on the test driver takes well under a second; this bounds it on a loaded machine. */
const START_MS = 30_000;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function fetchUrl(url: string, opts: RequestOptions & { user?: string; password?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (opts.user !== undefined) headers.authorization = `Basic ${Buffer.from(`${opts.user}:${opts.password ?? ''}`).toString('base64')}`;
  const get = url.startsWith('https:') ? httpsGet : httpGet;
  return new Promise((resolve, reject) => {
    const req = get(url, { ...opts, headers, timeout: 10_000 }, (res) => {
      let body = '';
      res
        .setEncoding('utf8')
        .on('data', (d: string) => (body += d))
        .on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

describe('vcpuctl exporter --web-config-file (TLS, basic auth; libvirt test driver)', function () {
  this.timeout(60_000);
  let dir: string;
  let base: string[];
  const children: ChildProcess[] = [];
  let serverCert: Buffer;
  let clientCert: Buffer;
  let clientKey: Buffer;
  const prom = 'correct horse battery staple';
  const ops = 'ops-password';

  before(function () {
    this.timeout(20 * 60_000);
    // virsh (the test driver runs inside it) and openssl come with the host setup (scripts/setup-host.sh).
    if (!have('virsh') || !have('openssl')) setupHost();
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-web-config-'));
    writeFileSync(join(dir, 'agents.json'), '{"domains":{}}\n');
    base = ['--report-dir', join(dir, 'reports'), '--agents-file', join(dir, 'agents.json'), '-c', TEST_URI];
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    // The server's certificate, self-signed for 127.0.0.1: the client trusts it as its CA.
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-keyout', 'server.key', '-out', 'server.pem', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1');
    // A client's certificate, self-signed: the server trusts it as its client CA.
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-keyout', 'client.key', '-out', 'client.pem', '-subj', '/CN=prometheus');
    const read = (f: string) => readFileSync(join(dir, f));
    serverCert = read('server.pem');
    clientCert = read('client.pem');
    clientKey = read('client.key');
  });

  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : (c.once('exit', () => r()), c.kill('SIGTERM'))))));
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Starts the exporter and resolves with the URL it says it serves (and its stderr so far). */
  function start(args: string[]): Promise<{ url: string; stderr: () => string }> {
    // From another directory: relative paths in the config must resolve against the config's own.
    const c = spawn(process.execPath, [VCPUCTL, ...base, 'exporter', 'test', '--listen', '127.0.0.1:0', ...args], {
      cwd: '/',
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, VCPUCTL_LOCK_DIR: join(dir, 'locks') },
    });
    children.push(c);
    let err = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "serving" line within ${START_MS} ms: ${err}`)), START_MS);
      c.stderr!.setEncoding('utf8').on('data', (d: string) => {
        err += d;
        const m = /serving (https?:\/\/\S+)/.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve({ url: m[1], stderr: () => err });
        }
      });
      c.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`exporter exited ${code}: ${err}`));
      });
    });
  }

  function config(name: string, text: string): string {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  }

  /** Runs the exporter expecting it to refuse the file: exit 2, one line on stderr. */
  function refused(file: string): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        [VCPUCTL, ...base, 'exporter', 'test', '--listen', '127.0.0.1:0', '--web-config-file', file],
        { encoding: 'utf8', timeout: START_MS, env: { ...process.env, VCPUCTL_LOCK_DIR: join(dir, 'locks') } },
        (err, _stdout, stderr) => {
          try {
            assert.equal((err as { code?: unknown } | null)?.code, 2, `exit 2 (USAGE); stderr: ${stderr}`);
            const lines = stderr.split('\n').filter((l) => l !== '');
            assert.equal(lines.length, 1, `one line: ${stderr}`);
            assert.match(lines[0], /^vcpuctl: USAGE: --web-config-file /);
            resolve(lines[0]);
          } catch (e) {
            reject(e);
          }
        },
      );
    });
  }

  it('TLS and basic auth: https with the CA and the right password is served; no or a wrong password is 401 with WWW-Authenticate: Basic; plain HTTP gets nothing', async () => {
    const file = config(
      'web.yml',
      [
        'tls_server_config:',
        "  cert_file: server.pem   # relative: from this file's directory",
        '  key_file: server.key',
        '  min_version: TLS12',
        'http_server_config:',
        '  headers:',
        '    X-Content-Type-Options: nosniff',
        'basic_auth_users:',
        `  prom: ${hashSync(prom, 4)}`,
        // htpasswd writes $2y$: the same algorithm under another name.
        `  ops: '${hashSync(ops, 5).replace(/^\$2b\$/, '$2y$')}'`,
        '',
      ].join('\n'),
    );
    const e = await start(['--web-config-file', file]);
    assert.match(e.url, /^https:\/\/127\.0\.0\.1:\d+\/metrics$/, 'the served line says https');
    assert.doesNotMatch(e.stderr(), /warning/, 'loopback: no warning');
    const tls = { ca: serverCert };

    const ok = await fetchUrl(e.url, { ...tls, user: 'prom', password: prom });
    assert.equal(ok.status, 200, ok.body);
    assert.match(ok.body, /vcpuctl_host_up\{uri="test:\/\/\/default"/);
    assert.equal(ok.headers['x-content-type-options'], 'nosniff', 'the configured header is set');
    assert.equal((await fetchUrl(e.url, { ...tls, user: 'ops', password: ops })).status, 200, 'a $2y$ hash verifies');

    for (const [what, auth] of [
      ['no credentials', {}],
      ['a wrong password', { user: 'prom', password: 'wrong' }],
      ['an empty password', { user: 'prom', password: '' }],
      ["ops's password for prom", { user: 'prom', password: ops }],
      ['an unknown user', { user: 'nobody', password: prom }],
    ] as const) {
      const r = await fetchUrl(e.url, { ...tls, ...auth });
      assert.equal(r.status, 401, what);
      assert.equal(r.headers['www-authenticate'], 'Basic', what);
      assert.doesNotMatch(r.body, /vcpuctl_/, what);
    }
    // Every path asks first: nothing, not even a 404, without credentials.
    assert.equal((await fetchUrl(e.url.replace('/metrics', '/other'), tls)).status, 401);
    // A success remembered does not make a wrong password good afterwards.
    assert.equal((await fetchUrl(e.url, { ...tls, user: 'prom', password: prom })).status, 200);
    assert.equal((await fetchUrl(e.url, { ...tls, user: 'prom', password: `${prom}x` })).status, 401);

    await assert.rejects(fetchUrl(e.url.replace('https:', 'http:')), 'plain HTTP on the TLS port gets no answer');
    await assert.rejects(fetchUrl(e.url, { user: 'prom', password: prom }), /self-signed|certificate/, 'a client without the CA refuses the server');
  });

  it('client certificates: RequireAndVerifyClientCert with client_ca_file lets only a certificate that CA signed in', async () => {
    const file = config(
      'mtls.yml',
      ['tls_server_config:', `  cert_file: ${join(dir, 'server.pem')}`, `  key_file: ${join(dir, 'server.key')}`, '  client_ca_file: client.pem', '  client_auth_type: RequireAndVerifyClientCert', ''].join('\n'),
    );
    const e = await start(['--web-config-file', file]);
    const ok = await fetchUrl(e.url, { ca: serverCert, cert: clientCert, key: clientKey });
    assert.equal(ok.status, 200);
    await assert.rejects(fetchUrl(e.url, { ca: serverCert }), 'no client certificate');
    // The server's own certificate is well-formed but not signed by the client CA.
    await assert.rejects(fetchUrl(e.url, { ca: serverCert, cert: serverCert, key: readFileSync(join(dir, 'server.key')) }), 'a certificate of another CA');
  });

  it('refuses at start, with a one-line USAGE error (exit 2): unknown keys by name, a hash that is not bcrypt, an oversized file, wrong types, bad TLS settings', async () => {
    const hash = hashSync(prom, 4);
    const tlsOk = `tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n`;
    const cases: [string, string, RegExp][] = [
      ['unknown top-level key', `${tlsOk}basic_auth_user:\n  prom: ${hash}\n`, /unknown key "basic_auth_user"/],
      ['unknown nested key', `tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  cert_fil: x\n`, /unknown key "tls_server_config.cert_fil"/],
      ['a known key vcpuctl does not implement', `rate_limit:\n  burst: 10\n`, /"rate_limit" is not supported/],
      ['a plain-text password', `basic_auth_users:\n  prom: ${prom}\n`, /basic_auth_users\."prom" is not a bcrypt hash/],
      ['a truncated hash', `basic_auth_users:\n  prom: ${hash.slice(0, 59)}\n`, /not a bcrypt hash/],
      ['a hash of another scheme', `basic_auth_users:\n  prom: '$6$salt$${'x'.repeat(50)}'\n`, /not a bcrypt hash/],
      ['a list for a mapping', `basic_auth_users:\n  - prom\n`, /basic_auth_users must be a mapping/],
      ['a number for a file name', `tls_server_config:\n  cert_file: 12\n  key_file: server.key\n`, /cert_file must be a string/],
      ['a string for a boolean', `${tlsOk}  prefer_server_cipher_suites: "yes"\n`, /must be true or false/],
      ['a missing key file', `tls_server_config:\n  cert_file: server.pem\n`, /missing one of key or key_file/],
      ['a key that does not match', `tls_server_config:\n  cert_file: server.pem\n  key_file: client.key\n`, /cannot use the certificate and key/],
      ['a certificate file that is not there', `tls_server_config:\n  cert_file: nope.pem\n  key_file: server.key\n`, /cert_file .*nope\.pem: cannot read it: ENOENT/],
      ['an unknown TLS version', `${tlsOk}  min_version: TLS14\n`, /min_version: "TLS14" is not one of TLS10, TLS11, TLS12, TLS13/],
      ['a client CA without a policy that asks for certificates', `${tlsOk}  client_ca_file: client.pem\n`, /client CA is configured without a client_auth_type/],
      ['verification without a client CA', `${tlsOk}  client_auth_type: RequireAndVerifyClientCert\n`, /needs client_ca_file/],
      ['a header that cannot be set', `http_server_config:\n  headers:\n    Server: vcpuctl\n`, /HTTP header "Server" can not be configured/],
      ['a duplicate user', `basic_auth_users:\n  prom: ${hash}\n  prom: ${hash}\n`, /not valid YAML: Map keys must be unique/],
      ['a key with a terminal escape', `"\\e[31mred": 1\n`, /unknown key "\\u001b\[31mred"/],
    ];
    // One byte over the bound, as YAML comments: refused before the parser sees it.
    cases.push(['a file one byte over the bound', `${'#'.repeat(MAX_WEB_CONFIG_BYTES)}\n`, new RegExp(`: larger than ${MAX_WEB_CONFIG_BYTES} bytes$`)]);
    const runs = cases.map(([, text], i) => refused(config(`bad-${i}.yml`, text)));
    runs.push(refused('/dev/zero'));
    const lines = await Promise.all(runs);
    cases.forEach(([what, , expected], i) => assert.match(lines[i], expected, what));
    assert.match(lines[cases.length], /not a regular file/);
  });

  it('every-address warning: decided by the address and whether the configuration asks for credentials', () => {
    // Checked on the decision rather than by binding every address of the machine in a test.
    for (const h of ['0.0.0.0', '::', '']) assert.ok(servesEveryAddress(h), h);
    for (const h of ['127.0.0.1', '::1', '192.0.2.1']) assert.ok(!servesEveryAddress(h), h);
    const web = (users: number, clientAuth?: 'NoClientCert' | 'RequireAndVerifyClientCert') => ({
      path: '/x',
      users: new Map(Array.from({ length: users }, (_, i) => [`u${i}`, 'h'])),
      maxBcryptCost: 4,
      headers: {},
      tls: clientAuth ? { cert: Buffer.alloc(0), key: Buffer.alloc(0), clientAuth, minVersion: 'TLSv1.2' as const, maxVersion: 'TLSv1.3' as const, honorCipherOrder: true } : undefined,
    });
    assert.ok(!asksForCredentials(undefined));
    assert.ok(!asksForCredentials(web(0)), 'an empty file');
    assert.ok(!asksForCredentials(web(0, 'NoClientCert')), 'TLS alone identifies nobody');
    assert.ok(asksForCredentials(web(1)));
    assert.ok(asksForCredentials(web(0, 'RequireAndVerifyClientCert')));
  });
});

describe('BasicAuth: what is remembered, what an unknown user costs, what a flood gets', () => {
  const header = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const hashes = new Map([
    ['prom', hashSync('right', 4)],
    ['ops', hashSync('other', 6)],
  ]);

  /** bcryptjs's compare, counted, with the hashes it was asked about. */
  function counting(delayMs = 0) {
    const calls: string[] = [];
    const compare = async (password: string, hash: string) => {
      calls.push(hash);
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      return bcryptCompare(password, hash);
    };
    return { calls, compare };
  }

  it('a success is remembered: one bcrypt for many scrapes; a wrong password is checked every time and never becomes good', async () => {
    const { calls, compare } = counting();
    const auth = new BasicAuth(hashes, 6, compare);
    for (let i = 0; i < 5; i++) assert.equal(await auth.check(header('prom', 'right')), 'ok');
    assert.equal(calls.length, 1, 'one bcrypt for five scrapes');
    for (let i = 0; i < 3; i++) assert.equal(await auth.check(header('prom', 'wrong')), 'denied');
    assert.equal(calls.length, 4, 'each wrong password verified');
    assert.equal(await auth.check(header('prom', 'right')), 'ok');
    assert.equal(calls.length, 4, 'still remembered after the failures');
    // The same password for another user is that user's check, not prom's remembered one.
    assert.equal(await auth.check(header('ops', 'right')), 'denied');
  });

  it('an unknown user pays a bcrypt as dear as the dearest configured hash, against none of them', async () => {
    const { calls, compare } = counting();
    const auth = new BasicAuth(hashes, 6, compare);
    assert.equal(await auth.check(header('nobody', 'right')), 'denied');
    assert.equal(await auth.check(header('nobody', 'right')), 'denied');
    assert.equal(calls.length, 2, 'verified each time, never remembered');
    assert.match(calls[0], /^\$2b\$06\$[./A-Za-z0-9]{53}$/, 'a well-formed hash at cost 6');
    assert.ok(![...hashes.values()].includes(calls[0]));
  });

  it('refuses without a bcrypt what cannot be a credential: no header, another scheme, no colon, a password over 72 bytes', async () => {
    const { calls, compare } = counting();
    const auth = new BasicAuth(hashes, 4, compare);
    for (const h of [undefined, '', 'Bearer abc', `Basic ${Buffer.from('prom').toString('base64')}`, 'Basic !!!', header('prom', 'x'.repeat(73))]) {
      assert.equal(await auth.check(h), 'denied', String(h));
    }
    assert.equal(calls.length, 0);
    assert.deepEqual(parseBasicAuth(`basic ${Buffer.from('a:b:c').toString('base64')}`), { user: 'a', password: Buffer.from('b:c') }, 'the first colon ends the user');
  });

  it(`one bcrypt at a time, at most ${MAX_WAITING_VERIFICATIONS} waiting: a flood of guesses is turned away (busy), a remembered scraper still gets in`, async () => {
    const { calls, compare } = counting(20);
    const auth = new BasicAuth(hashes, 4, compare);
    assert.equal(await auth.check(header('prom', 'right')), 'ok');
    const flood = Array.from({ length: MAX_WAITING_VERIFICATIONS + 10 }, (_, i) => auth.check(header('prom', `guess${i}`)));
    assert.equal(await auth.check(header('prom', 'right')), 'ok', 'the remembered scraper is not queued behind the flood');
    const results = await Promise.all(flood);
    assert.equal(results.filter((r) => r === 'busy').length, 10);
    assert.equal(results.filter((r) => r === 'denied').length, MAX_WAITING_VERIFICATIONS);
    assert.equal(calls.length, 1 + MAX_WAITING_VERIFICATIONS);
  });

  it(`remembers at most ${MAX_AUTH_CACHE_ENTRIES} successes, the least recently used going first`, async () => {
    const users = new Map(Array.from({ length: MAX_AUTH_CACHE_ENTRIES + 1 }, (_, i) => [`u${i}`, hashes.get('prom')!]));
    const { calls, compare } = counting();
    const auth = new BasicAuth(users, 4, compare);
    for (let i = 0; i <= MAX_AUTH_CACHE_ENTRIES; i++) assert.equal(await auth.check(header(`u${i}`, 'right')), 'ok');
    assert.equal(calls.length, MAX_AUTH_CACHE_ENTRIES + 1);
    assert.equal(await auth.check(header(`u${MAX_AUTH_CACHE_ENTRIES}`, 'right')), 'ok');
    assert.equal(calls.length, MAX_AUTH_CACHE_ENTRIES + 1, 'the newest is remembered');
    assert.equal(await auth.check(header('u0', 'right')), 'ok');
    assert.equal(calls.length, MAX_AUTH_CACHE_ENTRIES + 2, 'the oldest was let go');
  });
});
