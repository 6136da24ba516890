/**
 * A token bucket: `rate` tokens per second, at most `burst` saved up. It can
 * also be charged after the fact (a cost known only once the work is done),
 * which may leave it in debt until it refills.
 */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }

  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Takes `amount` even when that leaves the bucket in debt. */
  charge(amount: number): void {
    this.refill();
    this.tokens -= amount;
  }

  /** Milliseconds until the bucket holds at least `level` tokens (0 when it does now). */
  msUntil(level: number): number {
    this.refill();
    return this.tokens >= level ? 0 : ((level - this.tokens) / this.rate) * 1000;
  }

  get isFull(): boolean {
    this.refill();
    return this.tokens >= this.burst;
  }
}
