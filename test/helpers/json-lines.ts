/** A child's stdout read as one JSON object per line, with event-driven waits for a line that matches. */
import { ChildProcess } from 'node:child_process';

export type Rec = Record<string, any>;

export interface JsonLines {
  records: Rec[];
  /** The first record (from `from` on) that matches; rejects after `ms` with every record seen, or when the child exits. */
  waitFor(what: string, pred: (r: Rec) => boolean, ms: number, from?: number): Promise<Rec>;
}

export function jsonLines(child: ChildProcess): JsonLines {
  const records: Rec[] = [];
  const waiters = new Set<() => void>();
  let tail = '';
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const ls = (tail + d).split('\n');
    tail = ls.pop()!;
    for (const l of ls) if (l.trim()) records.push(JSON.parse(l));
    for (const w of [...waiters]) w();
  });
  return {
    records,
    waitFor(what, pred, ms, from = 0) {
      return new Promise((resolve, reject) => {
        const done = () => {
          waiters.delete(check);
          clearTimeout(timer);
          child.off('exit', exited);
        };
        const seen = () => `${records.map((r) => JSON.stringify(r).slice(0, 300)).join('\n')}\n${stderr}`;
        const check = () => {
          const hit = records.slice(from).find(pred);
          if (hit) {
            done();
            resolve(hit);
          }
        };
        const exited = (code: number | null) => {
          done();
          reject(new Error(`the child exited (${code}) before ${what}:\n${seen()}`));
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${what} within ${ms} ms:\n${seen()}`));
        }, ms);
        waiters.add(check);
        child.once('exit', exited);
        check();
      });
    },
  };
}
