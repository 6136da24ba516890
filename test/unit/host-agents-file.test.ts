import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_TOKEN_FILE_BYTES, VcpuctlError } from '@vcpuctl/proto';
import { agentEndpoint } from '@vcpuctl/host/dist/core/agents';
import { MAX_AGENTS_FILE_BYTES } from '@vcpuctl/host/dist/core/agents-file';
import { readConfigFile } from '@vcpuctl/host/dist/core/config-file';

const usage = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => e instanceof VcpuctlError && e.code === 'USAGE' && re.test(e.message) && !e.message.includes('\n'));

describe('host configuration files (core/config-file.ts, core/agents-file.ts, core/agents.ts)', () => {
  let dir: string;
  let token: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-config-'));
    token = join(dir, 'token');
    writeFileSync(token, 'secret-token-0123456789\n', { mode: 0o600 });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const agents = (text: string) => {
    const f = join(dir, 'agents.json');
    writeFileSync(f, text);
    return f;
  };

  it('refuses /dev/zero, a directory and a FIFO before reading (no endless read, no hang)', () => {
    usage(() => readConfigFile('/dev/zero', 4096, 'token file'), /\/dev\/zero is not a regular file/);
    usage(() => readConfigFile(dir, 4096, 'token file'), /is not a regular file/);
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    usage(() => readConfigFile(fifo, 4096, 'token file'), /is not a regular file/);
    usage(() => agentEndpoint('web1', { agent: 'ws://127.0.0.1:1', tokenFile: '/dev/zero' }), /not a regular file/);
    usage(() => agentEndpoint('web1', { agentsFile: '/dev/zero' }), /agents file \/dev\/zero is not a regular file/);
  });

  it('refuses a file over its bound from its size, and follows a symlink to a regular file', () => {
    writeFileSync(token, 'x'.repeat(MAX_TOKEN_FILE_BYTES + 1));
    usage(() => agentEndpoint('web1', { agent: 'ws://127.0.0.1:1', tokenFile: token }), new RegExp(`${MAX_TOKEN_FILE_BYTES + 1} bytes, larger than the ${MAX_TOKEN_FILE_BYTES}-byte limit`));
    usage(() => agentEndpoint('web1', { agentsFile: agents(' '.repeat(MAX_AGENTS_FILE_BYTES + 1)) }), /larger than the 1048576-byte limit/);
    writeFileSync(token, 'abc\n');
    const link = join(dir, 'link');
    symlinkSync(token, link);
    assert.equal(readConfigFile(link, 10, 'token file').bytes.toString(), 'abc\n');
  });

  it('an agents file holding null, an array, or a bad "domains" is a USAGE error naming the file', () => {
    for (const text of ['null', '[]', '3', '"x"']) usage(() => agentEndpoint('web1', { agentsFile: agents(text) }), /must hold an object/);
    usage(() => agentEndpoint('web1', { agentsFile: agents('{"domains": null}') }), /"domains" must be an object/);
    usage(() => agentEndpoint('web1', { agentsFile: agents('{"domains": {"web1": null}}') }), /domain "web1": the entry must be an object/);
    usage(() => agentEndpoint('web1', { agentsFile: agents('{"domains": {"web1": {"url": 5}}}') }), /"url" must be a non-empty string/);
    usage(() => agentEndpoint('web1', { agentsFile: agents('not json') }), /is not valid JSON/);
    assert.equal(agentEndpoint('web2', { agentsFile: agents('{"domains": {"web1": {"url": "ws://127.0.0.1:1"}}}') }), undefined);
    assert.equal(agentEndpoint('constructor', { agentsFile: agents('{"domains": {}}') }), undefined, 'no inherited keys');
  });

  it('"tokenFile": 1 is refused (it would read file descriptor 1), and so is any non-string', () => {
    for (const v of ['1', '0', 'true', '{}', '""']) {
      usage(() => agentEndpoint('web1', { agentsFile: agents(`{"domains": {"web1": {"url": "ws://127.0.0.1:1", "tokenFile": ${v}}}}`) }), /"tokenFile" must be a path/);
    }
    const ok = agentEndpoint('web1', { agentsFile: agents(`{"domains": {"web1": {"url": "ws://127.0.0.1:1", "tokenFile": ${JSON.stringify(token)}}}}`) });
    assert.deepEqual(ok, { url: 'ws://127.0.0.1:1', token: 'secret-token-0123456789' });
  });

  it('a token with a line break inside, or an empty one, is a token error (not "bad URL")', () => {
    for (const text of ['abc\r\ndef', 'abc\ndef\n', 'ab\x00c', '\n \n']) {
      writeFileSync(token, text);
      usage(() => agentEndpoint('web1', { agent: 'ws://127.0.0.1:1', tokenFile: token }), /token file .* (holds more than one line|is empty)/);
    }
  });

  it('warns once, through the given channel, about a token file others can read', () => {
    const lines: string[] = [];
    const warn = (l: string) => lines.push(l);
    agentEndpoint('web1', { agent: 'ws://127.0.0.1:1', tokenFile: token, warn });
    assert.deepEqual(lines, [], 'mode 0600: no warning');
    const open = join(dir, 'open-token');
    writeFileSync(open, 'secret\n');
    chmodSync(open, 0o644);
    agentEndpoint('web1', { agent: 'ws://127.0.0.1:1', tokenFile: open, warn });
    agentEndpoint('web1', { agent: 'ws://127.0.0.1:1', tokenFile: open, warn });
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /token file .*open-token is accessible to other users \(mode 0644\); make it 0600/);
  });
});
