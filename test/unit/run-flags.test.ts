import { strict as assert } from 'node:assert';
import { VcpuctlError } from '@vcpuctl/proto';
import { isFastRun, parseRunFlags } from '@vcpuctl/guest-agent/dist/cli/run-fast';

describe('run flags without commander (the daemon path)', () => {
  it('gives the same defaults as the CLI', () => {
    assert.deepEqual(parseRunFlags([]), {
      listen: '0.0.0.0:7643', tokenFile: undefined, insecureNoAuth: false, tlsCert: undefined, tlsKey: undefined,
      sysroot: '/', kmsg: '/dev/kmsg', pollInterval: '50', autoOnline: true, readOnly: false,
    });
  });

  it('reads every option', () => {
    const f = parseRunFlags(['--listen', '127.0.0.1:1', '--token-file', '/t', '--tls-cert', '/c', '--tls-key', '/k', '--sysroot', '/r', '--kmsg', '/m', '--poll-interval', '20', '--no-auto-online', '--read-only', '--insecure-no-auth']);
    assert.deepEqual(f, { listen: '127.0.0.1:1', tokenFile: '/t', insecureNoAuth: true, tlsCert: '/c', tlsKey: '/k', sysroot: '/r', kmsg: '/m', pollInterval: '20', autoOnline: false, readOnly: true });
  });

  it('refuses unknown options and stray arguments as usage errors', () => {
    for (const args of [['--bogus'], ['extra'], ['--listen']]) {
      assert.throws(() => parseRunFlags(args), (e: unknown) => e instanceof VcpuctlError && e.code === 'USAGE');
    }
  });

  it('leaves help and other subcommands to the CLI', () => {
    assert.equal(isFastRun(['node', 'bin', 'run', '--listen', 'x']), true);
    assert.equal(isFastRun(['node', 'bin', 'run', '--help']), false);
    assert.equal(isFastRun(['node', 'bin', 'snapshot']), false);
  });
});
