import { strict as assert } from 'node:assert';
import { diffLists } from '@vcpuctl/guest-agent/dist/watch/cpu-poller';

describe('diffLists', () => {
  it('names a hot-add that stays offline', () => {
    assert.deepEqual(diffLists({ present: '0', online: '0' }, { present: '0-1', online: '0' }), [{ cpu: 1, kind: 'HOT_ADDED' }]);
  });
  it('names onlining and offlining', () => {
    assert.deepEqual(diffLists({ present: '0-2', online: '0,2' }, { present: '0-2', online: '0-1' }), [
      { cpu: 1, kind: 'ONLINED' },
      { cpu: 2, kind: 'OFFLINED' },
    ]);
  });
  it('names a removal after an offline', () => {
    assert.deepEqual(diffLists({ present: '0-1', online: '0-1' }, { present: '0', online: '0' }), [
      { cpu: 1, kind: 'OFFLINED' },
      { cpu: 1, kind: 'REMOVED' },
    ]);
  });
  it('is empty when nothing changed', () => {
    assert.deepEqual(diffLists({ present: '0-3', online: '0-3' }, { present: '0-3', online: '0-3' }), []);
  });
});
