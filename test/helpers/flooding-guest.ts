/**
 * A guest "agent" that pushes events as fast as its socket takes them, in a
 * process of its own: a flood sent from the process that measures (a test,
 * a benchmark) would slow that process's own event loop and so the very
 * latency it measures. Alternating `present` makes each event one the host
 * would re-read libvirt for, if it let it through.
 */
import { fork } from 'node:child_process';
import { FakeGuest, honestSnapshot } from './fake-guest';

export interface FloodingGuest {
  url: string;
  /** Frames pushed so far, as last reported by the child (every 200 ms, and when a flood ends). */
  sent(): number;
  close(): Promise<void>;
}

/** Each subscribed session is flooded for `floodMs` (or until closed when 0). */
export async function startFloodingGuest(productUuid: string, floodMs = 0): Promise<FloodingGuest> {
  const child = fork(__filename, ['--flood', productUuid, String(floodMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let sent = 0;
  const url = await new Promise<string>((resolve, reject) => {
    child.on('message', (m: { url?: string; sent?: number }) => {
      if (m.url) resolve(m.url);
      if (m.sent !== undefined) sent = m.sent;
    });
    child.once('exit', (code) => reject(new Error(`the flooding guest exited (${code}) before serving`)));
  });
  return {
    url,
    sent: () => sent,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

if (require.main === module && process.argv[2] === '--flood') {
  const floodMs = Number(process.argv[4]) || Infinity;
  let n = 0;
  const report = () => process.send?.({ sent: n });
  setInterval(report, 200).unref();
  void FakeGuest.start(process.argv[3]!, {
    snapshot: () => honestSnapshot(1),
    subscribed(s) {
      let on = true;
      const until = Date.now() + floodMs;
      const flood = () => {
        if (!on) return;
        if (Date.now() > until) {
          report();
          return;
        }
        for (let i = 0; i < 100; i++) {
          n++;
          s.send({ id: 0, cpuEvent: { changes: [{ cpu: 1, kind: n % 2 ? 1 : 2 }], detectedAtMs: Date.now(), snapshot: honestSnapshot(n % 2 ? 2 : 1) } });
        }
        if (s.ws.bufferedAmount < 4 * 1024 * 1024) setImmediate(flood);
        else setTimeout(flood, 1);
      };
      setImmediate(flood);
      return () => (on = false);
    },
  }).then((g) => process.send?.({ url: g.url }));
}
