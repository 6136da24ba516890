import { strict as assert } from 'node:assert';
import sinon from 'sinon';
import { AdaptivePoll, TickResult } from '@vcpuctl/guest-agent/dist/device/adaptive-poll';

describe('adaptive poll', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => (clock = sinon.useFakeTimers()));
  afterEach(() => clock.restore());

  /** Runs the poll with ticks answering from `answers` (then false), returning the times ticks ran at. */
  function run(answers: TickResult[], periods = { minMs: 2, maxMs: 50, dormantMs: 250 }, untilMs = 1000): number[] {
    const at: number[] = [];
    const p = new AdaptivePoll(periods, () => {
      at.push(Date.now());
      return answers.shift() ?? false;
    });
    p.start();
    clock.tick(untilMs);
    p.stop();
    return at;
  }

  it('stays fast while ticks find work, then doubles up to the idle period', () => {
    const at = run([true, true, false, false, false, false, false, false, false], undefined, 300);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    assert.deepEqual(gaps.slice(0, 9), [2, 2, 4, 8, 16, 32, 50, 50, 50]);
  });

  it('waits the dormant period when nobody is there, and is fast again as soon as work comes', () => {
    const at = run(['dormant', 'dormant', true, false], undefined, 600);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    assert.deepEqual(gaps.slice(0, 4), [250, 250, 2, 4]);
  });

  it('hurry() brings an idle poll back to the fast period at once', () => {
    const at: number[] = [];
    const p = new AdaptivePoll({ minMs: 1, maxMs: 100 }, () => (at.push(Date.now()), false));
    p.start();
    clock.tick(500);
    const before = at.length;
    p.hurry();
    clock.tick(1);
    assert.equal(at.length, before + 1);
    p.stop();
    clock.tick(1000);
    assert.equal(at.length, before + 1, 'a stopped poll never ticks');
  });

  it('refuses periods that make no sense', () => {
    assert.throws(() => new AdaptivePoll({ minMs: 0, maxMs: 10 }, () => false), RangeError);
    assert.throws(() => new AdaptivePoll({ minMs: 10, maxMs: 5 }, () => false), RangeError);
    assert.throws(() => new AdaptivePoll({ minMs: 1, maxMs: 100, dormantMs: 50 }, () => false), RangeError);
  });
});
