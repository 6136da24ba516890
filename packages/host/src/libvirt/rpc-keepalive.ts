/**
 * libvirt's keepalive program (src/rpc/virkeepalive.c), client side: answer
 * the daemon's PING with PONG, and, while started, PING the daemon whenever it
 * has been silent for an interval, so that a daemon which stopped answering
 * (hung, or its host gone without a FIN) is noticed instead of waited on
 * forever. It knows no socket: the client gives it a way to send and to die.
 */
import { KEEPALIVE_PROC } from './rpc-protocol';

/**
 * virsh's defaults (-k 5 -K 6) and the daemon's (keepalive_interval 5,
 * keepalive_count 5): ping after 5 s of silence, give up after 6 more
 * unanswered intervals, about 35 s. A busy daemon answers a ping within
 * milliseconds, so this never cuts a slow but live one.
 */
export const KEEPALIVE_INTERVAL_MS = 5000;
export const KEEPALIVE_COUNT = 6;

export class Keepalive {
  private lastHeardMs = Date.now();
  private timer: NodeJS.Timeout | undefined;
  /** The daemon's pings answered so far (the tests see the daemon keep this connection alive). */
  pingsAnswered = 0;

  constructor(
    private readonly send: (procedure: number) => void,
    private readonly die: (why: string) => void,
    private readonly intervalMs = KEEPALIVE_INTERVAL_MS,
    private readonly count = KEEPALIVE_COUNT,
  ) {}

  /** Anything arrived from the daemon: it is alive. */
  heard(): void {
    this.lastHeardMs = Date.now();
  }

  /** A keepalive message: a PING is answered at once; a PONG only proves life (heard() did that). */
  message(procedure: number): void {
    if (procedure !== KEEPALIVE_PROC.PING) return;
    this.pingsAnswered++;
    this.send(KEEPALIVE_PROC.PONG);
  }

  get started(): boolean {
    return this.timer !== undefined;
  }

  /** Starts pinging a silent daemon; the timer never keeps the process alive by itself. */
  start(): void {
    if (this.timer) return;
    this.lastHeardMs = Date.now();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const silentMs = Date.now() - this.lastHeardMs;
    if (silentMs >= this.intervalMs * (this.count + 1)) {
      this.stop();
      this.die(`libvirt did not answer keepalive for ${Math.round(silentMs / 1000)} s`);
    } else if (silentMs >= this.intervalMs) {
      this.send(KEEPALIVE_PROC.PING);
    }
  }
}
