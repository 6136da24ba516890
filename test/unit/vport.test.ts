import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findPort } from '@vcpuctl/guest-agent/dist/device/vport';

describe('virtio-serial port lookup', () => {
  let root: string;
  const dev = () => join(root, 'dev');
  const port = (vport: string, name: string) => {
    mkdirSync(join(root, 'sys/class/virtio-ports', vport), { recursive: true });
    writeFileSync(join(root, 'sys/class/virtio-ports', vport, 'name'), `${name}\n`);
  };
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'vcpuctl-vport-'));
    mkdirSync(dev());
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('finds the port by its sysfs name when there is no udev link', () => {
    port('vport1p1', 'org.qemu.guest_agent.0');
    port('vport2p1', 'org.vcpuctl.agent.0');
    assert.equal(findPort('org.vcpuctl.agent.0', { sysroot: root, devRoot: dev() }), join(dev(), 'vport2p1'));
  });

  it('prefers the udev link where there is one', () => {
    port('vport2p1', 'org.vcpuctl.agent.0');
    mkdirSync(join(dev(), 'virtio-ports'));
    writeFileSync(join(dev(), 'vport2p1'), '');
    symlinkSync('../vport2p1', join(dev(), 'virtio-ports/org.vcpuctl.agent.0'));
    assert.equal(findPort('org.vcpuctl.agent.0', { sysroot: root, devRoot: dev() }), join(dev(), 'virtio-ports/org.vcpuctl.agent.0'));
  });

  it('finds nothing without the driver, without the port, or with a port of another name', () => {
    assert.equal(findPort('org.vcpuctl.agent.0', { sysroot: root, devRoot: dev() }), undefined);
    port('vport1p1', 'org.vcpuctl.agent.00');
    mkdirSync(join(root, 'sys/class/virtio-ports/vport1p2')); // a port without a name
    assert.equal(findPort('org.vcpuctl.agent.0', { sysroot: root, devRoot: dev() }), undefined);
  });
});
