import { strict as assert } from 'node:assert';
import { formatCpuList, parseCpuList } from '@vcpuctl/proto';

describe('cpulist', () => {
  it('parses the kernel format', () => {
    assert.deepEqual(parseCpuList('0-3,8,10-11\n'), [0, 1, 2, 3, 8, 10, 11]);
    assert.deepEqual(parseCpuList(''), []);
    assert.deepEqual(parseCpuList('5'), [5]);
  });

  it('rejects malformed and absurd lists', () => {
    assert.throws(() => parseCpuList('0-'), /malformed/);
    assert.throws(() => parseCpuList('3-1'), /malformed/);
    assert.throws(() => parseCpuList('a'), /malformed/);
    assert.throws(() => parseCpuList('0-99999999'), /malformed/);
  });

  it('formats as util-linux does: pairs stay pairs, runs of three become ranges', () => {
    assert.equal(formatCpuList([0, 1]), '0,1');
    assert.equal(formatCpuList([0, 1, 2]), '0-2');
    assert.equal(formatCpuList([3, 0, 1, 2, 5, 7, 8]), '0-3,5,7,8');
    assert.equal(formatCpuList([]), '');
  });
});
