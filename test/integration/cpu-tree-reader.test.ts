/**
 * The agent's cached tree reader must always equal a fresh full reading:
 * after every hot-add, online, offline and removal, the kernel rewrites the
 * sibling lists, shared-cache lists and node maps of other CPUs too.
 */
import { strict as assert } from 'node:assert';
import { CpuTreeReader, readCpuTree } from '@vcpuctl/guest-agent/dist/sysfs/cpu-tree';
import { treePaths } from '@vcpuctl/guest-agent/dist/sysfs/paths';
import { CpuTreeBuilder } from '../helpers/cpu-tree-builder';

describe('CpuTreeReader (cached between ticks)', function () {
  this.timeout(120000);
  it('returns the same tree object while present and online do not change', () => {
    const tree = new CpuTreeBuilder({ sockets: 2, coresPerSocket: 2, threadsPerCore: 2, nodes: 2 });
    try {
      const reader = new CpuTreeReader(treePaths(tree.root));
      const a = reader.read();
      assert.equal(reader.read(), a);
      tree.setOnline(3, false);
      const b = reader.read();
      assert.notEqual(b, a);
      assert.equal(reader.read(), b);
    } finally {
      tree.cleanup();
    }
  });

  it('equals a full reading after each change, siblings, caches and nodes included', () => {
    const tree = new CpuTreeBuilder({ sockets: 2, coresPerSocket: 4, threadsPerCore: 2, nodes: 2, present: 12, possible: 16, siblingsApart: true, cpu0Hotplug: true });
    try {
      const paths = treePaths(tree.root);
      const reader = new CpuTreeReader(paths);
      reader.read();
      const steps: [string, () => void][] = [
        ['offline cpu 9 (sibling of 1)', () => tree.setOnline(9, false)],
        ['offline cpu 1 too (whole core gone)', () => tree.setOnline(1, false)],
        ['online cpu 9 again', () => tree.setOnline(9, true)],
        ['hot-add cpu 12', () => tree.hotAdd(12)],
        ['online cpu 12', () => tree.setOnline(12, true)],
        [
          'hot-add and online 13, 14',
          () => {
            tree.hotAdd(13);
            tree.hotAdd(14);
            tree.setOnline(13, true);
            tree.setOnline(14, true);
          },
        ],
        ['offline cpu 0', () => tree.setOnline(0, false)],
        ['remove cpu 14', () => tree.remove(14)],
        [
          'online cpu 1 and 0',
          () => {
            tree.setOnline(1, true);
            tree.setOnline(0, true);
          },
        ],
      ];
      for (const [what, step] of steps) {
        step();
        assert.deepEqual(reader.read(), readCpuTree(paths), `after: ${what}`);
      }
    } finally {
      tree.cleanup();
    }
  });
});
