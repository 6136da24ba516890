import { strict as assert } from 'node:assert';
import { VcpuctlError, formatCpuList, formatKernelCpuList, parseCpuList } from '@vcpuctl/proto';

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

  it('a malformed list is guest data gone wrong: a PROTOCOL error saying why, not a plain Error', () => {
    const protocol = (text: string, re: RegExp) =>
      assert.throws(
        () => parseCpuList(text),
        (e: unknown) => e instanceof VcpuctlError && e.code === 'PROTOCOL' && re.test(e.message),
      );
    protocol('3-1', /range 3-1 runs backwards/);
    protocol('0,8192', /CPU 8192 is above 8191/);
    protocol('9007199254740993', /is not a CPU number or range/);
    protocol('x'.repeat(1000), /^malformed cpulist "x{100}\.\.\."/);
  });

  it('formats as util-linux does: pairs stay pairs, runs of three become ranges', () => {
    assert.equal(formatCpuList([0, 1]), '0,1');
    assert.equal(formatCpuList([0, 1, 2]), '0-2');
    assert.equal(formatCpuList([3, 0, 1, 2, 5, 7, 8]), '0-3,5,7,8');
    assert.equal(formatCpuList([]), '');
  });

  it('formats as the kernel writes sysfs lists: pairs are ranges too, and it reads back', () => {
    assert.equal(formatKernelCpuList([0, 1]), '0-1');
    assert.equal(formatKernelCpuList([3, 0, 1, 2, 5, 7, 8]), '0-3,5,7-8');
    assert.equal(formatKernelCpuList([]), '');
    assert.deepEqual(parseCpuList(formatKernelCpuList([9, 4, 5, 6])), [4, 5, 6, 9]);
  });
});
