/**
 * Reading a small configuration file (a token, the agents file) without
 * trusting what the path names: it is opened without blocking (a FIFO would
 * wait for a writer), must be a regular file (/dev/zero never ends), must be
 * no larger than a bound checked on the open descriptor before reading, and
 * at most that bound is read (a file growing meanwhile is refused, not
 * followed).
 */
import { Stats, closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { VcpuctlError } from '@vcpuctl/proto/errors';

export interface ConfigFile {
  bytes: Buffer;
  /** The opened file's metadata (its mode, for the permission warning). */
  stat: Stats;
}

/** `what` names the file in errors ("token file", "agents file"). */
export function readConfigFile(path: string, maxBytes: number, what: string): ConfigFile {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw new VcpuctlError('USAGE', `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new VcpuctlError('USAGE', `${what} ${path} is not a regular file`);
    if (stat.size > maxBytes) throw new VcpuctlError('USAGE', `${what} ${path} is ${stat.size} bytes, larger than the ${maxBytes}-byte limit`);
    // One byte more than allowed tells a file that grew after fstat from one that fits.
    const buf = Buffer.alloc(maxBytes + 1);
    let got = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, got, buf.length - got, null);
      } catch (err) {
        throw new VcpuctlError('USAGE', `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
      }
      if (n === 0) break;
      got += n;
      if (got > maxBytes) throw new VcpuctlError('USAGE', `${what} ${path} is larger than the ${maxBytes}-byte limit`);
    }
    return { bytes: buf.subarray(0, got), stat };
  } finally {
    closeSync(fd);
  }
}
