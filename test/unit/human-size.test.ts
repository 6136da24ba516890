import { strict as assert } from 'node:assert';
import { humanSize, parseKernelSize } from '@vcpuctl/guest-agent/dist/lscpu/human-size';

describe('humanSize (util-linux size_to_human_string)', () => {
  it('prints whole units without decimals', () => {
    assert.equal(humanSize(96 * 1024), '96 KiB');
    assert.equal(humanSize(2 * 1024 * 1024), '2 MiB');
    assert.equal(humanSize(512), '512 B');
  });
  it('rounds to one decimal and drops a trailing zero', () => {
    assert.equal(humanSize(1280 * 1024), '1.3 MiB');
    assert.equal(humanSize(1536 * 1024), '1.5 MiB');
    assert.equal(humanSize(10 * 1280 * 1024), '12.5 MiB');
    // util-linux carries a rounded-up fraction into the whole part, not into the unit
    assert.equal(humanSize(1023.99 * 1024 * 1024), '1024 MiB');
  });
  it('reads kernel cache sizes', () => {
    assert.equal(parseKernelSize('32K'), 32768);
    assert.equal(parseKernelSize('2M'), 2 * 1024 * 1024);
    assert.equal(parseKernelSize('bogus'), 0);
  });
});
