/**
 * One channel session as a byte stream, for the same HTTP/WebSocket server
 * path a TCP connection takes: the channel pushes the host's bytes in, and
 * what the server writes goes to the port with non-blocking writes. A write
 * the port cannot take now (EAGAIN: the host is slow or gone) is kept and
 * retried on the channel's next tick; its callback waits until it is
 * written, so the transport's own bound on queued bytes applies here too.
 */
import { Duplex } from 'node:stream';

export interface PortWriter {
  /** Bytes the port took, 0 when it would block. Throws on a dead port. */
  write(data: Buffer): number;
  /** Called when a write had to wait: retry soon. */
  wantFlush(): void;
}

export class ChannelStream extends Duplex {
  private pending: { data: Buffer; done: (err?: Error | null) => void } | undefined;

  constructor(
    private readonly port: PortWriter,
    private readonly onGone: (s: ChannelStream) => void,
  ) {
    super({ allowHalfOpen: false });
  }

  /** Bytes from the host. */
  pushIn(data: Buffer): void {
    if (data.length > 0 && !this.destroyed) this.push(data);
  }

  override _read(): void {
    // Bytes are pushed as the channel reads them; a port has no flow control to resume.
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.pending = { data: chunk, done };
    this.flush();
  }

  /** Writes what is pending as far as the port takes it; true when something was written. */
  flush(): boolean {
    let wrote = false;
    while (this.pending) {
      let n: number;
      try {
        n = this.port.write(this.pending.data);
      } catch (err) {
        const p = this.pending;
        this.pending = undefined;
        p.done(err as Error);
        return wrote;
      }
      if (n === 0) {
        this.port.wantFlush();
        return wrote;
      }
      wrote = true;
      if (n < this.pending.data.length) {
        this.pending.data = this.pending.data.subarray(n);
        continue;
      }
      const p = this.pending;
      this.pending = undefined;
      p.done();
    }
    return wrote;
  }

  /** A port has no half-close: the server ending its side ends the session. */
  override _final(done: (err?: Error | null) => void): void {
    done();
    this.destroy();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    const p = this.pending;
    this.pending = undefined;
    p?.done(new Error('channel session ended'));
    this.onGone(this);
    done(err);
  }

  // What a net.Socket offers and the HTTP/WebSocket server may call; a port has no such settings.
  setTimeout(): this {
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }
}
