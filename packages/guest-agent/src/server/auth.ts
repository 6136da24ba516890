/**
 * Bearer-token authentication of the WebSocket upgrade. The token comes from
 * a file only root can read; it is compared in constant time (SHA-256 of
 * both sides, so lengths never leak through timingSafeEqual's length check).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { MAX_TOKEN_FILE_BYTES, VcpuctlError } from '@vcpuctl/proto';

/** Shorter tokens can be guessed; 16 characters of base64 is 96 bits. */
export const MIN_TOKEN_LENGTH = 16;

export function readTokenFile(path: string, opts: { requirePrivate: boolean }): string {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw new VcpuctlError('USAGE', `cannot read token file ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  if (st.size > MAX_TOKEN_FILE_BYTES) throw new VcpuctlError('USAGE', `token file ${path} is ${st.size} bytes; a token is at most ${MAX_TOKEN_FILE_BYTES}`);
  if (opts.requirePrivate && (st.mode & 0o077) !== 0) {
    throw new VcpuctlError('USAGE', `token file ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 ${path}`);
  }
  const token = readFileSync(path, 'utf8').trim();
  if (token.length < MIN_TOKEN_LENGTH) throw new VcpuctlError('USAGE', `token in ${path} is shorter than ${MIN_TOKEN_LENGTH} characters`);
  return token;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export class TokenCheck {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = digest(token);
  }

  /** True when the Authorization header carries this token. */
  accepts(authorization: string | undefined): boolean {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    return timingSafeEqual(digest(m?.[1] ?? ''), this.expected) && m !== null;
  }
}
