import { strict as assert } from 'node:assert';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VcpuctlError } from '@vcpuctl/proto';
import { parseCpuMask } from '@vcpuctl/guest-agent/dist/sysfs/cpumask';
import { readNodes } from '@vcpuctl/guest-agent/dist/sysfs/cpu-tree';
import { treePaths } from '@vcpuctl/guest-agent/dist/sysfs/paths';

describe('parseCpuMask (the kernel bitmap lscpu reads for NUMA nodes)', () => {
  it('reads the least significant 32-bit group last', () => {
    assert.deepEqual(parseCpuMask('00000000,00000003'), [0, 1]);
    assert.deepEqual(parseCpuMask('80000000,00000001'), [0, 63]);
    assert.deepEqual(parseCpuMask('ff,00000000,00000000'), [64, 65, 66, 67, 68, 69, 70, 71]);
  });

  it('reads a short map (nr_cpu_ids below 32) and an empty node', () => {
    assert.deepEqual(parseCpuMask('3'), [0, 1]);
    assert.deepEqual(parseCpuMask('00000000,00000000'), []);
  });

  it('calls a map no kernel writes guest data, naming the file', () => {
    assert.throws(
      () => parseCpuMask('0-3', '/x/node0/cpumap'),
      (e: unknown) => e instanceof VcpuctlError && e.code === 'GUEST_DATA' && /node0\/cpumap/.test(e.message),
    );
    // one bit past CPU 8191 (MAX_CPU_INDEX): 2049 hex digits
    assert.throws(
      () => parseCpuMask(`1${'0'.repeat(2048)}`),
      (e: unknown) => e instanceof VcpuctlError && e.code === 'GUEST_DATA',
    );
  });
});

describe('readNodes', () => {
  it('prefers the cpumap, as lscpu does, and falls back to the cpulist', () => {
    const root = mkdtempSync(join(tmpdir(), `vcpuctl-nodes-${process.pid}-`));
    try {
      const node = (n: number) => join(root, 'sys/devices/system/node', `node${n}`);
      mkdirSync(node(0), { recursive: true });
      mkdirSync(node(1), { recursive: true });
      writeFileSync(join(node(0), 'cpumap'), '00000000,0000ffff\n');
      writeFileSync(join(node(1), 'cpulist'), '16-31\n');
      const nodes = readNodes(treePaths(root));
      assert.deepEqual(
        nodes.map((n) => [n.id, n.cpulist]),
        [
          [0, '0-15'],
          [1, '16-31'],
        ],
      );
      assert.equal(nodes[1]!.cpus.length, 16);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
