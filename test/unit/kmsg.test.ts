import { strict as assert } from 'node:assert';
import { isCpuEvidence, parseKmsgRecord } from '@vcpuctl/guest-agent/dist/watch/kmsg';

describe('kmsg records', () => {
  it('parses the record format seen on the rig', () => {
    const r = parseKmsgRecord('6,398,4717095,-;CPU1 has been hot-added', 1000);
    assert.deepEqual(r, { priority: 6, seq: 398, usec: 4717095, message: 'CPU1 has been hot-added', receivedAtMs: 1000 });
  });
  it('keeps only the message line, not continuation dictionaries', () => {
    const r = parseKmsgRecord('12,400,4800000,-;smpboot: CPU 1 is now offline\n SUBSYSTEM=cpu\n DEVICE=+cpu:cpu1');
    assert.equal(r?.message, 'smpboot: CPU 1 is now offline');
    assert.equal(r?.priority, 4); // facility bits removed
  });
  it('refuses malformed records', () => {
    assert.equal(parseKmsgRecord('no separator'), undefined);
    assert.equal(parseKmsgRecord('x,y,z,-;msg'), undefined);
    assert.equal(parseKmsgRecord('6,1;msg'), undefined);
  });
  it('recognises CPU evidence and ignores the rest', () => {
    for (const m of ['CPU1 has been hot-added', 'smpboot: Booting Node 0 Processor 1 APIC 0x1', 'Will online and init hotplugged CPU: 1', 'smpboot: CPU 1 is now offline']) {
      assert.ok(isCpuEvidence(m), m);
    }
    for (const m of ['virtio_net virtio0 eth0: renamed', 'EXT4-fs (vda1): mounted filesystem']) {
      assert.ok(!isCpuEvidence(m), m);
    }
  });
});
