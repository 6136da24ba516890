/**
 * The per-domain lock under real concurrency: separate node processes race
 * for a lock whose owner died, and for a free one, and never hold it together.
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const RACER = join(__dirname, '../helpers/lock-racer.js');

interface Racer {
  child: ChildProcess;
  out: string;
  ready: Promise<void>;
  done: Promise<void>;
}

function startRacer(args: string[]): Racer {
  const child = spawn(process.execPath, [RACER, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const r = { child, out: '' } as Racer;
  r.ready = new Promise((resolve) =>
    child.stdout!.on('data', (d: Buffer) => {
      r.out += d.toString();
      if (r.out.includes('READY\n')) resolve();
    }),
  );
  r.done = new Promise((resolve) => child.once('close', () => resolve()));
  return r;
}

describe('per-domain lock: real processes racing', function () {
  this.timeout(180_000);
  let dir: string;
  let state: string;
  let racers: Racer[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-lockrace-'));
    state = mkdtempSync(join(tmpdir(), 'vcpuctl-lockstate-'));
  });
  afterEach(() => {
    for (const r of racers) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    racers = [];
    rmSync(dir, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  });

  /** n racers, released together once all are spinning; returns their result lines. */
  async function race(key: string, n: number, holdMs: number): Promise<string[]> {
    rmSync(join(state, 'go'), { force: true });
    const round = Array.from({ length: n }, () => startRacer([dir, key, state, String(holdMs)]));
    racers.push(...round);
    await Promise.all(round.map((r) => r.ready));
    // Start 300 ms from now on the monotonic clock the racers share.
    writeFileSync(join(state, 'go'), String(process.hrtime.bigint() + 300_000_000n));
    await Promise.all(round.map((r) => r.done));
    return round.map((r) => r.out.replace('READY\n', '').trim());
  }

  it('waiters that all find the same dead owner take over one at a time (six rounds of six processes)', async () => {
    for (let round = 0; round < 6; round++) {
      const key = `web-${round}`;
      // A holder that exits without releasing: a dead owner, whatever the lock's layout.
      const died = startRacer([dir, key, state, '0', '--die']);
      racers.push(died);
      await died.done;
      assert.equal(died.child.exitCode, 0);
      const lines = await race(key, 6, 100);
      assert.deepEqual(
        lines.filter((l) => !/^HELD \d+$/.test(l)),
        [],
        `round ${round}: ${lines.join(', ')}`,
      );
    }
  });

  it('a free lock contended by five processes is held by one at a time, and each gets it', async () => {
    const lines = await race('web-free', 5, 50);
    assert.deepEqual(
      lines.filter((l) => !/^HELD \d+$/.test(l)),
      [],
      lines.join(', '),
    );
  });
});
