/**
 * A character device (or FIFO) opened O_NONBLOCK and read and written with
 * plain synchronous syscalls that return at once. Node offers nothing better
 * for such a device: libuv classes it as a file, so it cannot be wrapped in a
 * net.Socket (no epoll), and an asynchronous fs.read on a blocking descriptor
 * holds a libuv pool thread until data comes (for ever, on an idle
 * /dev/kmsg), which starves every other pool user and blocks exit. A worker
 * thread blocked in read() is no better: exit joins it. With O_NONBLOCK no
 * call ever waits, so nothing can hang; the price is that someone must ask
 * (see device-reader.ts).
 */
import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';

/** Bytes read, or why none were: `again` (nothing now), `eof` (read() returned 0). */
export type ReadResult = number | 'again' | 'eof';

export type DeviceMode = 'read' | 'read-write';

export class NonBlockingDevice {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Throws the open's ErrnoException (ENOENT, EACCES, EBUSY, ...). */
  static open(path: string, mode: DeviceMode): NonBlockingDevice {
    const access = mode === 'read' ? constants.O_RDONLY : constants.O_RDWR;
    return new NonBlockingDevice(path, openSync(path, access | constants.O_NONBLOCK));
  }

  get isOpen(): boolean {
    return this.fd !== undefined;
  }

  /** One read(); throws errors other than EAGAIN (EPIPE on /dev/kmsg, ENODEV on an unplugged port, ...). */
  read(buf: Buffer): ReadResult {
    if (this.fd === undefined) throw Object.assign(new Error(`${this.path} is closed`), { code: 'EBADF' });
    try {
      const n = readSync(this.fd, buf, 0, buf.length, null);
      return n === 0 ? 'eof' : n;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return 'again';
      throw err;
    }
  }

  /** One write(); returns the bytes taken, 0 when the device would block. Throws other errors. */
  write(data: Buffer): number {
    if (this.fd === undefined) throw Object.assign(new Error(`${this.path} is closed`), { code: 'EBADF' });
    try {
      return writeSync(this.fd, data, 0, data.length);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return 0;
      throw err;
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      closeSync(fd);
    } catch {
      // Already gone (an unplugged port): nothing left to release.
    }
  }
}
