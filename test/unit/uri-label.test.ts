import { strict as assert } from 'node:assert';
import { uriLabel } from '@vcpuctl/host';

describe("the exporter's uri label", () => {
  it('drops the user and every credential, keeps what tells connections apart', () => {
    assert.equal(uriLabel('qemu+ssh://root@h2:2222/system?keyfile=/root/.ssh/k&no_verify=1'), 'qemu+ssh://h2:2222/system');
    assert.equal(uriLabel('qemu+unix:///system?socket=/run/other/libvirt-sock'), 'qemu+unix:///system?socket=/run/other/libvirt-sock');
    assert.equal(uriLabel('qemu+ssh://u:secret@h/system?socket=/s&sshauth=privkey'), 'qemu+ssh://h/system?socket=/s');
    assert.equal(uriLabel('qemu:///system'), 'qemu:///system');
    assert.equal(uriLabel('test:///default'), 'test:///default');
  });
});
