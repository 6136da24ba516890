/**
 * A timer whose period adapts to the work it finds: it runs again after
 * `minMs` while a tick finds work, and each idle tick doubles the wait up to
 * `maxMs`. So a burst (a kernel log flurry, a host's request) is drained at
 * the fast rate, and an idle device costs `1000 / maxMs` cheap syscalls a
 * second. The timer is unref'd: a device being watched never keeps the
 * process alive, nor delays its exit.
 */
export interface PollPeriods {
  /** Period while data flows: bounds the latency inside a burst. */
  minMs: number;
  /** Period when idle: bounds the latency of the first byte after a quiet spell, and sets the idle cost. */
  maxMs: number;
  /**
   * Period when a tick says nobody is even there (a port with no host
   * connected): the state a device spends nearly all its time in, so its
   * own, longer period; defaults to `maxMs`.
   */
  dormantMs?: number;
}

/** What a tick found: work (true), nothing (false), or nobody there at all ('dormant'). */
export type TickResult = boolean | 'dormant';

export class AdaptivePoll {
  private timer: NodeJS.Timeout | undefined;
  private periodMs: number;
  private running = false;

  constructor(
    private readonly periods: PollPeriods,
    private readonly tick: () => TickResult,
  ) {
    if (!(periods.minMs >= 1 && periods.maxMs >= periods.minMs && (periods.dormantMs ?? periods.maxMs) >= periods.maxMs)) {
      throw new RangeError(`bad poll periods ${periods.minMs}..${periods.maxMs} (${periods.dormantMs}) ms`);
    }
    this.periodMs = periods.minMs;
  }

  get currentPeriodMs(): number {
    return this.periodMs;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.periodMs = this.periods.minMs;
    this.schedule(0);
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Something says work is coming (e.g. bytes were just written): look soon. */
  hurry(): void {
    if (!this.running || this.periodMs === this.periods.minMs) return;
    this.periodMs = this.periods.minMs;
    if (this.timer) clearTimeout(this.timer);
    this.schedule(this.periodMs);
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => this.run(), ms);
    this.timer.unref();
  }

  private run(): void {
    this.timer = undefined;
    if (!this.running) return;
    const found = this.tick();
    if (!this.running) return; // the tick stopped us
    if (found === true) this.periodMs = this.periods.minMs;
    else if (found === 'dormant') this.periodMs = this.periods.dormantMs ?? this.periods.maxMs;
    else this.periodMs = Math.min(this.periods.maxMs, this.periodMs * 2);
    this.schedule(this.periodMs);
  }
}
