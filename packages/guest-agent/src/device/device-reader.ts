/**
 * Follows a non-blocking device: on an adaptive timer (adaptive-poll.ts) it
 * drains what the device holds, read() by read() until EAGAIN, and hands each
 * chunk on. Nothing here can block the event loop, the libuv pool or exit.
 *
 * The trade-off, measured in bench/ (README, "Benchmarks"): a blocking read
 * would wake at once and cost nothing idle, but it cannot be interrupted;
 * polling costs one failed read() per idle period and adds up to one period
 * of latency to the first byte after a quiet spell, none inside a burst.
 */
import { AdaptivePoll, PollPeriods, TickResult } from './adaptive-poll';
import { NonBlockingDevice } from './nonblocking-device';

export interface DeviceReaderOptions {
  periods: PollPeriods;
  /** Size of one read(); a record device (/dev/kmsg) needs room for its largest record. */
  readBytes: number;
  /** Bytes drained per tick at most, so a flood cannot hold the event loop; the rest waits a min period. */
  maxBytesPerTick: number;
  /** A chunk of fresh bytes (a copy the receiver may keep). */
  onData: (chunk: Buffer) => void;
  /**
   * read() returned 0: a FIFO with no writer, or a virtio-serial port with no
   * host connected. The reader keeps polling, at the dormant rate; return
   * true to count it as work, i.e. to keep the fast rate.
   */
  onEof?: () => boolean | void;
  /** Any error but EAGAIN. Return 'continue' to keep reading (EPIPE on /dev/kmsg), 'stop' to stop. */
  onError: (err: NodeJS.ErrnoException) => 'continue' | 'stop';
}

export class DeviceReader {
  private readonly buf: Buffer;
  private readonly poll: AdaptivePoll;

  constructor(
    readonly device: NonBlockingDevice,
    private readonly opts: DeviceReaderOptions,
  ) {
    this.buf = Buffer.alloc(opts.readBytes);
    this.poll = new AdaptivePoll(opts.periods, () => this.drain());
  }

  start(): void {
    this.poll.start();
  }

  stop(): void {
    this.poll.stop();
  }

  /** Look again soon (e.g. a reply was just written, so a next request is likely). */
  hurry(): void {
    this.poll.hurry();
  }

  get currentPeriodMs(): number {
    return this.poll.currentPeriodMs;
  }

  /** One tick: reads until the device has nothing more; true when anything came, 'dormant' on a read() of 0. */
  drain(): TickResult {
    let taken = 0;
    let busy = false;
    while (taken < this.opts.maxBytesPerTick && this.device.isOpen) {
      let r;
      try {
        r = this.device.read(this.buf);
      } catch (err) {
        if (this.opts.onError(err as NodeJS.ErrnoException) === 'stop') {
          this.stop();
          return busy;
        }
        return true; // a passing error (EPIPE): look again at the fast rate, never spin here
      }
      if (r === 'again') return busy;
      if (r === 'eof') return this.opts.onEof?.() === true || busy ? true : 'dormant';
      taken += r;
      busy = true;
      this.opts.onData(Buffer.from(this.buf.subarray(0, r)));
    }
    return busy;
  }
}
