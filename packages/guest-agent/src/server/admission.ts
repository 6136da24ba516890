/**
 * Admission by cost, not only by count: each connection has one request
 * carried out at a time (the rest wait in order, at most
 * MAX_PENDING_REQUESTS), and a request starts only when its peer's work
 * bucket is out of debt. What a request cost is charged to its peer, so a
 * peer asking for expensive answers gets them more slowly instead of taking
 * the agent from everyone else.
 */
import { Envelope, MAX_PENDING_REQUESTS, VcpuctlError } from '@vcpuctl/proto';
import type { Connection } from './transport';

class RequestQueue {
  private readonly waiting: Envelope[] = [];
  private busy = false;

  constructor(
    private readonly conn: Connection,
    private readonly run: (conn: Connection, env: Envelope) => Promise<void>,
  ) {}

  push(env: Envelope): void {
    if (this.waiting.length >= MAX_PENDING_REQUESTS) {
      this.conn.fail(new VcpuctlError('RATE_LIMITED', `more than ${MAX_PENDING_REQUESTS} requests waiting for their answers`));
      return;
    }
    this.waiting.push(env);
    this.conn.begin(); // waiting for its turn or its budget is not idleness either
    this.pump();
  }

  private pump(): void {
    if (this.busy || this.waiting.length === 0 || !this.conn.isOpen) return;
    this.busy = true;
    const wait = this.conn.origin.work.msUntil(0);
    if (wait > 0) {
      setTimeout(() => {
        this.busy = false;
        this.pump();
      }, Math.ceil(wait));
      return;
    }
    const env = this.waiting.shift()!;
    void this.run(this.conn, env).finally(() => {
      this.conn.end();
      this.busy = false;
      this.pump();
    });
  }
}

export class Admission {
  private readonly queues = new WeakMap<Connection, RequestQueue>();

  constructor(private readonly run: (conn: Connection, env: Envelope) => Promise<void>) {}

  submit(conn: Connection, env: Envelope): void {
    let queue = this.queues.get(conn);
    if (!queue) {
      queue = new RequestQueue(conn, this.run);
      this.queues.set(conn, queue);
    }
    queue.push(env);
  }
}
