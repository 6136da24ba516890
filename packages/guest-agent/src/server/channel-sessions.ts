/**
 * Turns the byte stream of a virtio-serial port into sessions. QEMU lets one
 * host client at a time onto the port, and the port carries no connection
 * boundaries: the agent learns that the host went away only because read()
 * returns 0 while nobody is connected. So:
 *  - each host connection is one session, a fresh ChannelStream handed to
 *    the transport (`adopt`), which serves it exactly as a TCP connection;
 *  - a read() of 0 (`hostGone`) ends the session;
 *  - between sessions, bytes that are not the start of an HTTP request
 *    ("GET ") are discarded: the tail of a session the server already closed
 *    must never be read as the next one;
 *  - a session stopped in the middle of a request or a frame for
 *    SESSION_STALL_MS is reset. On the rig the agent usually does not see the
 *    0 between a host that vanished mid-frame and the next one (QEMU tells
 *    the guest of both within a few ms), so the next host's request is read
 *    as the rest of the old frame. The bytes of the unfinished frame are
 *    kept (up to MAX_REPLAY_BYTES), and on the reset a request found in
 *    them starts the next session: that host gets its answer a second late
 *    instead of never;
 *  - a new request at a frame boundary ('G' can never start a client frame)
 *    is a reconnect the agent did not see: the old session ends there.
 */
import { ChannelStream, PortWriter } from './channel-stream';
import { WireTracker } from './wire-tracker';

/**
 * How long a session may sit inside a partial request or frame. A host
 * writes a whole frame in one go (at most 64 KiB, MAX_REQUEST_BYTES), which
 * crosses the port in milliseconds even under TCG (a 7-8 ms echo round
 * trip), so a second without progress means the writer is gone; short
 * enough that a host retrying after a reset is not kept waiting long.
 */
export const SESSION_STALL_MS = 1000;

const REQUEST_START = Buffer.from('GET ');

/** The start of an upgrade request line, as the host sends it: what a replay must begin with. */
const REQUEST_LINE = /^GET \S{1,256} HTTP\/1\.1\r\n/;

/**
 * Bytes of an unfinished frame kept for a replay: the largest request frame
 * (MAX_REQUEST_BYTES, 64 KiB) plus its header, so a whole upgrade request
 * swallowed by any frame ws would accept is found again; bounded, so a
 * frame announcing gigabytes costs no more.
 */
export const MAX_REPLAY_BYTES = 64 * 1024 + 14;

export interface SessionsOptions {
  /** Names sessions in logs: "channel NAME #N". */
  name: string;
  port: PortWriter;
  adopt: (stream: ChannelStream, peer: string) => void;
  log: (line: string) => void;
}

interface Session {
  stream: ChannelStream;
  tracker: WireTracker;
  /** The bytes of the unfinished request or frame (their last MAX_REPLAY_BYTES). */
  unfinished: Buffer;
  peer: string;
  stall: NodeJS.Timeout | undefined;
}

export class ChannelSessions {
  private current: Session | undefined;
  /** Between sessions: the end of the last chunk, when it could be the start of "GET ". */
  private carry = Buffer.alloc(0);
  private discarded = 0;
  private count = 0;

  constructor(private readonly opts: SessionsOptions) {}

  get active(): boolean {
    return this.current !== undefined;
  }

  /** Bytes read from the port. */
  data(chunk: Buffer): void {
    while (chunk.length > 0) {
      if (!this.current) {
        const bytes = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
        this.carry = Buffer.alloc(0);
        const at = bytes.indexOf(REQUEST_START);
        if (at < 0) {
          const keep = possibleStart(bytes);
          this.discard(bytes.length - keep);
          this.carry = Buffer.from(bytes.subarray(bytes.length - keep));
          return;
        }
        this.discard(at);
        this.begin();
        chunk = bytes.subarray(at);
      }
      const s = this.current!;
      const split = s.tracker.feed(chunk);
      if (split >= 0) {
        s.stream.pushIn(chunk.subarray(0, split));
        this.end('a new request followed a whole frame: the host reconnected');
        chunk = chunk.subarray(split);
        continue;
      }
      s.stream.pushIn(chunk);
      this.keepUnfinished(s, chunk);
      this.watchStall(s);
      return;
    }
  }

  /** read() returned 0: no host is connected. */
  hostGone(): void {
    this.carry = Buffer.alloc(0);
    if (this.current) this.end('host disconnected');
  }

  /** Retries writes the port could not take; true when something was written. */
  flush(): boolean {
    return this.current?.stream.flush() ?? false;
  }

  close(reason: string): void {
    if (this.current) this.end(reason);
  }

  private begin(): void {
    if (this.discarded > 0) this.opts.log(`channel ${this.opts.name}: discarded ${this.discarded} bytes between sessions`);
    this.discarded = 0;
    this.count++;
    const peer = `channel ${this.opts.name} #${this.count}`;
    const stream = new ChannelStream(this.opts.port, (gone) => {
      // The server closed the session itself (a refused upgrade, a protocol error, ...).
      if (this.current?.stream === gone) this.forget();
    });
    this.current = { stream, tracker: new WireTracker(), unfinished: Buffer.alloc(0), peer, stall: undefined };
    this.opts.adopt(stream, peer);
  }

  private end(reason: string): void {
    const s = this.current!;
    this.forget();
    this.opts.log(`${s.peer}: session ended: ${reason}`);
    s.stream.destroy();
  }

  private forget(): void {
    const s = this.current;
    if (!s) return;
    if (s.stall) clearTimeout(s.stall);
    this.current = undefined;
  }

  private watchStall(s: Session): void {
    if (s.stall) clearTimeout(s.stall);
    s.stall = undefined;
    if (!s.tracker.partial) return;
    s.stall = setTimeout(() => {
      if (this.current !== s) return;
      this.end(`no progress inside a request or frame for ${SESSION_STALL_MS} ms; reset`);
      const replay = requestIn(s.unfinished);
      if (replay) {
        this.opts.log(`channel ${this.opts.name}: a request was inside the unfinished frame: serving it as a new session`);
        this.data(replay);
      }
    }, SESSION_STALL_MS);
    s.stall.unref();
  }

  private keepUnfinished(s: Session, chunk: Buffer): void {
    const keep = Math.min(s.tracker.partialBytes, MAX_REPLAY_BYTES);
    if (keep === 0) {
      s.unfinished = Buffer.alloc(0);
      return;
    }
    const all = keep > chunk.length ? Buffer.concat([s.unfinished, chunk]) : chunk;
    s.unfinished = Buffer.from(all.subarray(Math.max(0, all.length - keep)));
  }

  private discard(n: number): void {
    if (n > 0) this.discarded += n;
  }
}

/** The bytes from the first upgrade request line in `b` on, if there is one. */
function requestIn(b: Buffer): Buffer | undefined {
  for (let at = b.indexOf(REQUEST_START); at >= 0; at = b.indexOf(REQUEST_START, at + 1)) {
    if (REQUEST_LINE.test(b.subarray(at, at + 300).toString('latin1'))) return b.subarray(at);
  }
  return undefined;
}

/** How many bytes at the end of `b` could begin "GET " (kept for the next chunk). */
function possibleStart(b: Buffer): number {
  for (let k = Math.min(REQUEST_START.length - 1, b.length); k > 0; k--) {
    if (b.subarray(b.length - k).equals(REQUEST_START.subarray(0, k))) return k;
  }
  return 0;
}
