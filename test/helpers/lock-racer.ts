/**
 * One process racing for a per-domain lock (for the lock race test):
 *   node lock-racer.js LOCKDIR KEY STATEDIR HOLD_MS [--die]
 * Prints READY, waits for the start time in STATEDIR/go, takes the lock, and while holding it
 * owns STATEDIR/holder, created exclusively: finding it there means two
 * holders at once, printed as OVERLAP. With --die it takes the lock at once
 * and exits holding it, leaving a dead owner behind.
 */
import { closeSync, existsSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { lockDomain } from '@vcpuctl/host';

async function main(): Promise<void> {
  const [dir, key, state, hold, die] = process.argv.slice(2);
  if (die === '--die') {
    await lockDomain(dir!, key!, 60_000);
    process.exit(0);
  }
  process.stdout.write('READY\n');
  // STATEDIR/go holds a start time on the monotonic clock all processes share:
  // sleep until just before it, then spin, so the racers leave the line
  // within microseconds of each other while burning only a few ms of CPU.
  const go = join(state!, 'go');
  while (!existsSync(go)) await new Promise((r) => setTimeout(r, 5));
  const startNs = BigInt(readFileSync(go, 'utf8').trim());
  const sleepMs = Number((startNs - process.hrtime.bigint()) / 1_000_000n) - 3;
  if (sleepMs > 0) await new Promise((r) => setTimeout(r, sleepMs));
  while (process.hrtime.bigint() < startNs) {
    /* spin */
  }
  const lock = await lockDomain(dir!, key!, 60_000);
  const marker = join(state!, 'holder');
  try {
    closeSync(openSync(marker, 'wx'));
  } catch {
    process.stdout.write(`OVERLAP ${process.pid}\n`);
    lock.release();
    return;
  }
  await new Promise((r) => setTimeout(r, Number(hold)));
  unlinkSync(marker);
  lock.release();
  process.stdout.write(`HELD ${process.pid}\n`);
}

main().catch((err) => {
  process.stdout.write(`ERROR ${(err as Error).message}\n`);
  process.exitCode = 1;
});
