/**
 * HTTP basic auth for the exporter against the bcrypt hashes of a web
 * configuration file (`basic_auth_users`), as exporter-toolkit checks them:
 * - a good user and password are remembered (by a SHA-256 of user, hash and
 *   password), so a scrape every 15 s costs a hash, not a bcrypt; only a
 *   success is remembered, so a wrong password is verified every time and a
 *   flood of guesses cannot push the scraper's entry out with failures;
 * - an unknown user is verified against a dummy hash as costly as the
 *   dearest configured one, so a user name cannot be probed by timing;
 * - one bcrypt runs at a time (it is CPU work on the event loop, in slices),
 *   and a bounded number wait; past that a request is turned away at once.
 */
import { createHash, randomBytes } from 'node:crypto';

/** Remembered successes: a handful of users and the passwords they rotate through; exporter-toolkit keeps 100 too. */
export const MAX_AUTH_CACHE_ENTRIES = 100;
/**
 * Requests waiting for a bcrypt. At cost 10 one takes ~0.1 s in bcryptjs,
 * so 16 waiting is under 2 s of queue: a scraper that is not yet
 * remembered still gets in within its 10 s scrape timeout, and a client
 * sending guesses faster than they can be checked is answered 429.
 */
export const MAX_WAITING_VERIFICATIONS = 16;
/** bcrypt reads 72 bytes of password; Go's bcrypt refuses longer ones rather than check a prefix, and so do we. */
const MAX_BCRYPT_PASSWORD_BYTES = 72;
const BCRYPT_ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export type AuthResult = 'ok' | 'denied' | 'busy';
/** bcrypt's check of a password against a hash; replaceable in tests to count the calls. */
export type BcryptCompare = (password: string, hash: string) => Promise<boolean>;

type Bcrypt = typeof import('bcryptjs');
let bcryptLoaded: Bcrypt | undefined;
/** Loaded on use: only an exporter with basic_auth_users pays for it. */
function bcryptCompare(password: string, hash: string): Promise<boolean> {
  return (bcryptLoaded ??= require('bcryptjs') as Bcrypt).compare(password, hash);
}

/** A well-formed bcrypt hash of nothing anyone knows, at `cost`: checking any password against it costs what a real check at that cost does. */
export function dummyBcryptHash(cost: number): string {
  const chars = [...randomBytes(53)].map((b) => BCRYPT_ALPHABET[b % 64]).join('');
  return `$2b$${String(cost).padStart(2, '0')}$${chars}`;
}

/** The user and password of an `Authorization: Basic` header, or undefined when it is not one. */
export function parseBasicAuth(header: string | undefined): { user: string; password: Buffer } | undefined {
  const m = /^basic +([A-Za-z0-9+/]*={0,2}) *$/i.exec(header ?? '');
  if (!m) return undefined;
  const raw = Buffer.from(m[1], 'base64');
  const colon = raw.indexOf(0x3a);
  if (colon < 0) return undefined;
  return { user: raw.subarray(0, colon).toString('utf8'), password: raw.subarray(colon + 1) };
}

export class BasicAuth {
  /** Keys of remembered successes, oldest first (a Map keeps insertion order). */
  private readonly good = new Map<string, true>();
  private readonly dummyHash: string;
  /** The bcrypt running now; the next one starts when it settles. */
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  constructor(
    private readonly users: ReadonlyMap<string, string>,
    maxCost: number,
    private readonly compare: BcryptCompare = bcryptCompare,
  ) {
    this.dummyHash = dummyBcryptHash(maxCost);
  }

  async check(authorization: string | undefined): Promise<AuthResult> {
    const creds = parseBasicAuth(authorization);
    if (!creds) return 'denied';
    const hash = this.users.get(creds.user);
    const known = hash !== undefined;
    const target = hash ?? this.dummyHash;
    const key = createHash('sha256')
      .update(JSON.stringify([creds.user, target]))
      .update('\0')
      .update(creds.password)
      .digest('base64');
    if (known && this.good.has(key)) {
      this.good.delete(key); // most recently used last
      this.good.set(key, true);
      return 'ok';
    }
    if (creds.password.length > MAX_BCRYPT_PASSWORD_BYTES) return 'denied';
    if (this.waiting >= MAX_WAITING_VERIFICATIONS) return 'busy';
    this.waiting++;
    const password = creds.password.toString('utf8');
    const turn = this.tail.then(() => this.compare(password, target)).catch(() => false);
    this.tail = turn;
    let matches: boolean;
    try {
      matches = await turn;
    } finally {
      this.waiting--;
    }
    if (!known || !matches) return 'denied';
    this.good.set(key, true);
    if (this.good.size > MAX_AUTH_CACHE_ENTRIES) this.good.delete(this.good.keys().next().value!);
    return 'ok';
  }
}
