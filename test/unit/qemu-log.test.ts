/**
 * Where a domain's QEMU log is read for a crash report (libvirt/qemu-log.ts):
 * this machine's disk only for a local URI, the URI's own ssh for qemu+ssh://,
 * and nowhere for a transport vcpuctl cannot reach it through.
 */
import { strict as assert } from 'node:assert';
import { lastLines, qemuLogSource, QEMU_LOG_LINE_CHARS } from '@vcpuctl/host';

describe('the QEMU log of a crash report: where it is read', () => {
  it("a local system URI reads libvirt's log directory on this machine; a session URI the user's cache", () => {
    assert.deepEqual(qemuLogSource('qemu:///system', 'web1'), { kind: 'local', path: '/var/log/libvirt/qemu/web1.log' });
    assert.deepEqual(qemuLogSource('qemu+unix:///system?socket=/run/x', 'web1'), { kind: 'local', path: '/var/log/libvirt/qemu/web1.log' });
    assert.deepEqual(qemuLogSource('qemu:///session', 'web1', '/home/op'), { kind: 'local', path: '/home/op/.cache/libvirt/qemu/log/web1.log' });
  });

  it("a qemu+ssh:// domain's log is read on its host, through the URI's ssh, never from this machine's disk", () => {
    const s = qemuLogSource('qemu+ssh://root@h1:2222/system?keyfile=/k&no_verify=1', 'web1');
    assert.equal(s?.kind, 'ssh');
    assert.equal(s.path, '/var/log/libvirt/qemu/web1.log');
    assert.deepEqual(s.kind === 'ssh' && [s.ssh.host, s.ssh.user, s.ssh.port, s.ssh.keyfile], ['h1', 'root', 2222, '/k']);
  });

  it('other transports, and names that are not file names in the log directory, read nothing', () => {
    for (const uri of ['qemu+tls://h1/system', 'qemu+tcp://h1/system', 'test:///default', 'qemu+ssh:///system', 'not a uri']) assert.equal(qemuLogSource(uri, 'web1'), undefined, uri);
    for (const name of ['../../etc/shadow', 'a/b', '.', '..', '']) assert.equal(qemuLogSource('qemu:///system', name), undefined, name);
  });

  it('keeps the last lines, drops a first line cut in the middle, and shortens a very long line', () => {
    assert.deepEqual(lastLines('a\nb\nc\n', 2, false), ['b', 'c']);
    assert.deepEqual(lastLines('rtial\nb\nc\n', 5, true), ['b', 'c']);
    assert.deepEqual(lastLines('', 5, false), []);
    const [long] = lastLines(`${'x'.repeat(QEMU_LOG_LINE_CHARS + 10)}\n`, 1, false);
    assert.equal(long!.length, QEMU_LOG_LINE_CHARS + 1);
  });
});
