/**
 * Follows the host-to-agent bytes of one channel session just far enough to
 * know where requests and frames begin and end: the HTTP upgrade request up
 * to its blank line, then WebSocket frame headers and payload lengths (RFC
 * 6455 5.2). It decides nothing about their content (ws does that); the
 * channel uses it to answer two questions a byte stream without connection
 * boundaries cannot: "is the host in the middle of something?" (a session
 * stuck mid-frame is reset) and "did a new host start over at a frame
 * boundary?" (a reconnect the agent did not see as a read() of 0).
 */

/** 'G' of "GET": as a frame's first byte it would be FIN=0, RSV1=1, opcode 7, which RFC 6455 forbids. */
const NEW_REQUEST_BYTE = 0x47;

export class WireTracker {
  private phase: 'request' | 'frames' = 'request';
  /** Request bytes seen, and the last three, to find "\r\n\r\n" across chunks. */
  private requestBytes = 0;
  private tail = '';
  /** Header bytes of the frame being read, until the header is whole. */
  private header: number[] = [];
  private payloadLeft = 0;
  /** Bytes of the frame being read so far (header and payload). */
  private frameBytes = 0;

  /** True while the stream has stopped inside a request or a frame. */
  get partial(): boolean {
    return this.phase === 'request' ? this.requestBytes > 0 : this.header.length > 0 || this.payloadLeft > 0;
  }

  /** How many of the bytes fed last belong to the unfinished request or frame (0 when whole). */
  get partialBytes(): number {
    return this.phase === 'request' ? this.requestBytes : this.frameBytes;
  }

  /**
   * Takes the next bytes. Returns the offset in `chunk` where a new HTTP
   * request starts at a frame boundary (so the bytes from there on belong
   * to a new session), or -1.
   */
  feed(chunk: Uint8Array): number {
    let i = 0;
    while (i < chunk.length) {
      if (this.phase === 'request') {
        const text = this.tail + Buffer.from(chunk.subarray(i)).toString('latin1');
        const end = text.indexOf('\r\n\r\n');
        if (end < 0) {
          this.requestBytes += chunk.length - i;
          this.tail = text.slice(-3);
          return -1;
        }
        i += end + 4 - this.tail.length;
        this.phase = 'frames';
        this.requestBytes = 0;
        this.tail = '';
        continue;
      }
      if (this.payloadLeft > 0) {
        const take = Math.min(this.payloadLeft, chunk.length - i);
        this.payloadLeft -= take;
        this.frameBytes = this.payloadLeft > 0 ? this.frameBytes + take : 0;
        i += take;
        continue;
      }
      if (this.header.length === 0 && chunk[i] === NEW_REQUEST_BYTE) return i;
      this.header.push(chunk[i]!);
      this.frameBytes++;
      i++;
      const need = headerLength(this.header);
      if (need !== undefined && this.header.length === need) {
        this.payloadLeft = payloadLength(this.header);
        this.header = [];
        if (this.payloadLeft === 0) this.frameBytes = 0;
      }
    }
    return -1;
  }
}

/** Frame header length once its second byte is known: 2, plus 2 or 8 for an extended length, plus 4 for a mask. */
function headerLength(h: number[]): number | undefined {
  if (h.length < 2) return undefined;
  const len7 = h[1]! & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (h[1]! & 0x80 ? 4 : 0);
}

function payloadLength(h: number[]): number {
  const len7 = h[1]! & 0x7f;
  if (len7 < 126) return len7;
  if (len7 === 126) return (h[2]! << 8) | h[3]!;
  // A 64-bit length; far beyond any frame ws accepts (it closes the session), only the count matters here.
  let n = 0;
  for (let k = 2; k < 10; k++) n = n * 256 + h[k]!;
  return n;
}
