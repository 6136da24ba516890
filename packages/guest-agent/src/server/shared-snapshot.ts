/**
 * One snapshot computation shared by every request that asks while it is
 * pending: the first asker schedules it for the next turn of the event loop
 * (after the frames already read are dispatched), and everyone who asks
 * before it runs gets the same result. Each sharer is charged an equal part
 * of what it cost, in CPU time (not wall time, which a busy machine inflates
 * for reasons no peer controls). A snapshot taken after a request arrived is as fresh as
 * that request can want, so sharing never serves stale state.
 */
import type { SnapshotData } from '../snapshot';

interface Waiter {
  resolve: (s: SnapshotData) => void;
  reject: (err: unknown) => void;
  charge: (ms: number) => void;
}

export class SharedSnapshot {
  private batch: Waiter[] | undefined;

  constructor(private readonly take: () => SnapshotData) {}

  get(charge: (ms: number) => void): Promise<SnapshotData> {
    return new Promise((resolve, reject) => {
      if (!this.batch) {
        const batch: Waiter[] = [];
        this.batch = batch;
        setImmediate(() => this.build(batch));
      }
      this.batch.push({ resolve, reject, charge });
    });
  }

  private build(batch: Waiter[]): void {
    this.batch = undefined;
    const started = process.cpuUsage();
    let snapshot: SnapshotData;
    try {
      snapshot = this.take();
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    const used = process.cpuUsage(started);
    const share = (used.user + used.system) / 1000 / batch.length;
    for (const w of batch) {
      w.charge(share);
      w.resolve(snapshot);
    }
  }
}
