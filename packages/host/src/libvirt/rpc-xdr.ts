/**
 * XDR (RFC 4506), the encoding of libvirt's RPC protocol: big-endian 32-bit
 * words, strings and opaques padded to a multiple of four. Only the types
 * vcpuctl's few calls use. The reader checks every length against the data it
 * has and against a named bound, since the bytes come from another process.
 */
import { REMOTE, VIR_NET } from './rpc-protocol';
import { unexpectedOutput } from './virsh-errors';

/**
 * libvirt's own bound on one string (VIR_NET_MESSAGE_STRING_MAX, 4 MiB): a
 * longer one is not something libvirtd sends, so it is refused, not allocated.
 */
export const XDR_STRING_MAX = VIR_NET.MESSAGE_STRING_MAX;

/** Arrays vcpuctl reads are domain lists unless it says otherwise: libvirt's REMOTE_DOMAIN_LIST_MAX (16384). */
export const XDR_ARRAY_MAX = REMOTE.DOMAIN_LIST_MAX;

export class XdrWriter {
  private readonly chunks: Buffer[] = [];

  int(v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    this.chunks.push(b);
    return this;
  }

  uint(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    this.chunks.push(b);
    return this;
  }

  /** Fixed-length opaque (a UUID): no length word. */
  fixed(bytes: Buffer): this {
    this.chunks.push(bytes, Buffer.alloc((4 - (bytes.length % 4)) % 4));
    return this;
  }

  string(s: string): this {
    const bytes = Buffer.from(s, 'utf8');
    this.uint(bytes.length);
    return this.fixed(bytes);
  }

  /** An optional value ("pointer" in libvirt's .x files): a boolean word, then the value. */
  optionalString(s: string | undefined): this {
    if (s === undefined) return this.uint(0);
    return this.uint(1).string(s);
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export class XdrReader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  private need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) throw unexpectedOutput('libvirt RPC', `${what} runs past the end of the message`);
  }

  int(): number {
    this.need(4, 'an int');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint(): number {
    this.need(4, 'an unsigned int');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** XDR hyper: a signed 64-bit word, as a bigint (nanosecond counters outgrow a double's exact range). */
  hyper(): bigint {
    this.need(8, 'a hyper');
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  uhyper(): bigint {
    this.need(8, 'an unsigned hyper');
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  double(): number {
    this.need(8, 'a double');
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  bool(): boolean {
    const v = this.uint();
    if (v > 1) throw unexpectedOutput('libvirt RPC', `boolean word ${v}`);
    return v === 1;
  }

  fixed(n: number): Buffer {
    const padded = n + ((4 - (n % 4)) % 4);
    this.need(padded, 'an opaque');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += padded;
    return out;
  }

  string(max: number = XDR_STRING_MAX): string {
    const n = this.uint();
    if (n > max) throw unexpectedOutput('libvirt RPC', `a string of ${n} bytes (at most ${max})`);
    return this.fixed(n).toString('utf8');
  }

  optional<T>(read: () => T): T | undefined {
    return this.bool() ? read() : undefined;
  }

  array<T>(read: () => T, max: number = XDR_ARRAY_MAX): T[] {
    const n = this.uint();
    if (n > max) throw unexpectedOutput('libvirt RPC', `an array of ${n} items (at most ${max})`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(read());
    return out;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }
}
