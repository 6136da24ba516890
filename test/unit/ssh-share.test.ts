/**
 * Sharing one ssh connection between commands (libvirt/ssh-share.ts): only
 * in a directory no one else can use, one socket per key and URI, and off
 * when asked.
 */
import { strict as assert } from 'node:assert';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_SSH_CONTROL_DIR_CHARS, sshControlDir, sshShareOptions } from '@vcpuctl/host';
import { sshTransportOf } from '@vcpuctl/host/dist/libvirt/ssh-uri';

describe('ssh connection sharing between commands', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'vcpuctl-share-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const t = (uri: string) => sshTransportOf(uri)!;
  const pathOf = (opts: string[]) => opts.find((o) => o.startsWith('ControlPath='))?.slice('ControlPath='.length);

  it('makes its control directory 0700 and names one socket per connection: another key, user or port is another socket', () => {
    const env = { VCPUCTL_SSH_CONTROL_DIR: join(dir, 'ctl') };
    const a = sshShareOptions(t('qemu+ssh://root@h1/system?keyfile=/k1'), env);
    assert.deepEqual(
      a.filter((o) => o !== '-o' && !o.startsWith('ControlPath=')),
      ['ControlMaster=auto', 'ControlPersist=60'],
    );
    assert.equal(statSync(join(dir, 'ctl')).mode & 0o777, 0o700);
    assert.ok(pathOf(a)!.startsWith(`${join(dir, 'ctl')}/`));
    assert.equal(pathOf(sshShareOptions(t('qemu+ssh://root@h1/system?keyfile=/k1'), env)), pathOf(a), 'the same URI: the same connection');
    for (const other of ['qemu+ssh://root@h1/system?keyfile=/k2', 'qemu+ssh://admin@h1/system?keyfile=/k1', 'qemu+ssh://root@h1:2222/system?keyfile=/k1', 'qemu+ssh://root@h2/system?keyfile=/k1']) {
      assert.notEqual(pathOf(sshShareOptions(t(other), env)), pathOf(a), other);
    }
  });

  it('shares nothing when told not to, in a directory others can write, or one too long for a socket path', () => {
    const uri = t('qemu+ssh://root@h1/system');
    assert.deepEqual(sshShareOptions(uri, { VCPUCTL_SSH_SHARE: 'off', VCPUCTL_SSH_CONTROL_DIR: join(dir, 'ctl') }), []);
    const open = join(dir, 'open');
    sshShareOptions(uri, { VCPUCTL_SSH_CONTROL_DIR: open });
    chmodSync(open, 0o770);
    assert.deepEqual(sshShareOptions(uri, { VCPUCTL_SSH_CONTROL_DIR: open }), []);
    assert.deepEqual(sshShareOptions(uri, { VCPUCTL_SSH_CONTROL_DIR: join(dir, 'x'.repeat(MAX_SSH_CONTROL_DIR_CHARS)) }), []);
  });

  it("the directory: VCPUCTL_SSH_CONTROL_DIR, else the login session's runtime directory, else ~/.cache", () => {
    assert.equal(sshControlDir({ VCPUCTL_SSH_CONTROL_DIR: '/x' }, '/home/op'), '/x');
    assert.equal(sshControlDir({ XDG_RUNTIME_DIR: '/run/user/1000' }, '/home/op'), '/run/user/1000/vcpuctl-ssh');
    assert.equal(sshControlDir({}, '/home/op'), '/home/op/.cache/vcpuctl/ssh');
  });
});
