/**
 * libvirt's +ssh URI rules (libvirt 9.0's ssh transport, argv observed here
 * with a logging `command=` wrapper; see packages/host/src/libvirt/ssh-uri.ts).
 */
import { strict as assert } from 'node:assert';
import { VcpuctlError } from '@vcpuctl/proto';
import { hostOfUri, libvirtSshArgv, sshOptions, sshTransportOf } from '@vcpuctl/host/dist/libvirt/ssh-uri';
import { sshForwardArgv } from '@vcpuctl/host/dist/guest/ssh-forward';
import { connectUri } from '@vcpuctl/host/dist/core/input';

const PROXY = ['sh', '-c', 'virt-ssh-helper qemu:///system'];

describe('libvirt +ssh URI -> ssh argv', () => {
  it('builds the argv libvirt 9.0 ran for the same URI (seen through command=)', () => {
    const t = sshTransportOf('qemu+ssh://root@127.0.0.1:22991/system?keyfile=/k/client&no_verify=1&command=/w/ssh')!;
    assert.deepEqual(libvirtSshArgv(t, PROXY), ['/w/ssh', '-p', '22991', '-l', 'root', '-i', '/k/client', '-T', '-e', 'none', '-o', 'StrictHostKeyChecking=no', '--', '127.0.0.1', ...PROXY]);
    const tty = sshTransportOf('qemu+ssh://127.0.0.1:22991/system?keyfile=/k/client&no_verify=1&no_tty=1')!;
    assert.deepEqual(libvirtSshArgv(tty, PROXY), ['ssh', '-p', '22991', '-i', '/k/client', '-T', '-e', 'none', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '--', '127.0.0.1', ...PROXY]);
  });

  it('leaves out what the URI does not give: no port, no user, no key, host keys checked', () => {
    const t = sshTransportOf('qemu+ssh://hv1.example/system')!;
    assert.deepEqual(t, { binary: 'ssh', host: 'hv1.example', user: undefined, port: undefined, keyfile: undefined, noVerify: false, noTty: false });
    assert.deepEqual(sshOptions(t), ['-T', '-e', 'none']);
    assert.equal(sshTransportOf('qemu+ssh://h/system?no_verify=0')!.noVerify, false);
    assert.equal(sshTransportOf('qemu+ssh://h/system?no_verify=2')!.noVerify, true, 'libvirt: any non-zero integer is on');
  });

  it('decodes a percent-encoded user, key path, and an IPv6 host without brackets', () => {
    const t = sshTransportOf('qemu+ssh://op%2Eone@[::1]:2222/system?keyfile=/keys/my%20key')!;
    assert.deepEqual([t.user, t.host, t.port, t.keyfile], ['op.one', '::1', 2222, '/keys/my key']);
  });

  it('the channel forward uses the same options, then -N and one private -L', () => {
    const t = sshTransportOf('qemu+ssh://root@127.0.0.1:2222/system?keyfile=/k&no_verify=1&no_tty=1')!;
    const argv = sshForwardArgv(t, '/tmp/d/channel.sock', '/var/lib/libvirt/qemu/channel/target/domain-3-g/org.vcpuctl.agent.0');
    assert.deepEqual(argv.slice(0, sshOptions(t).length), sshOptions(t));
    assert.deepEqual(argv.slice(sshOptions(t).length), [
      '-N',
      '-o',
      'ExitOnForwardFailure=yes',
      '-o',
      'StreamLocalBindMask=0177',
      '-o',
      'StreamLocalBindUnlink=yes',
      '-L',
      '/tmp/d/channel.sock:/var/lib/libvirt/qemu/channel/target/domain-3-g/org.vcpuctl.agent.0',
      '--',
      '127.0.0.1',
    ]);
  });

  it('any other transport is not ssh', () => {
    for (const uri of ['qemu:///system', 'test:///default', 'qemu+tls://h/system', 'qemu+unix:///system?socket=/x', 'qemu+libssh://h/system', 'qemu+sshx://h/system']) {
      assert.equal(sshTransportOf(uri), undefined, uri);
    }
    assert.ok(sshTransportOf('xen+ssh://h/'), 'any driver over +ssh');
  });

  it('refuses what libvirt would refuse, or what ssh would read as an option, with one USAGE line', () => {
    const cases: [string, RegExp][] = [
      ['qemu+ssh:///system', /names the host to reach/],
      ['qemu+ssh://h:0/system', /port 0 is not 1-65535/],
      ['qemu+ssh://h:99999/system', /not a URI|port 99999/],
      ['qemu+ssh://h/system?no_verify=yes', /no_verify wants 0 or 1, not "yes"/],
      ['qemu+ssh://h/system?no_tty=', /no_tty wants 0 or 1/],
      ['qemu+ssh://h/system?keyfile=', /keyfile= is empty/],
      ['qemu+ssh://h/system?command=', /command= is empty/],
      ['qemu+ssh://-oProxyCommand=x/system', /host "-oProxyCommand=x" starts with "-"/],
      ['qemu+ssh://-oProxyCommand%3Dx@h/system', /user "-oProxyCommand=x" starts with "-"/],
      [`qemu+ssh://h/system?keyfile=${'a'.repeat(5000)}`, /longer than 4096/],
    ];
    for (const [uri, why] of cases) {
      assert.throws(
        () => sshTransportOf(uri),
        (e: VcpuctlError) => {
          assert.equal(e.code, 'USAGE', uri);
          assert.match(e.message, why);
          assert.match(e.message, /^bad libvirt URI "[^\n]*$/);
          return true;
        },
      );
      assert.throws(() => connectUri(uri), /bad libvirt URI/, '-c refuses it before libvirt is touched');
    }
  });

  it('names the host of a URI: its host, or this machine for a local one', () => {
    assert.equal(hostOfUri('qemu+ssh://root@127.0.0.1:2222/system?keyfile=k', 'here'), '127.0.0.1');
    assert.equal(hostOfUri('qemu+tls://hv2.example/system', 'here'), 'hv2.example');
    assert.equal(hostOfUri('qemu+ssh://[::1]/system', 'here'), '::1');
    assert.equal(hostOfUri('qemu:///system', 'here'), 'here');
    assert.equal(hostOfUri('test:///default', 'here'), 'here');
    assert.equal(hostOfUri('qemu+unix:///system?socket=/x', 'here'), 'here');
  });
});
