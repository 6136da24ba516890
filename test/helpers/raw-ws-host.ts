/**
 * A host that speaks raw bytes to an agent's channel (a unix socket): the
 * WebSocket upgrade and frame headers written by hand, so a test can stop
 * in the middle of a frame, as a killed controller does.
 */
import { connect } from 'node:net';

export const UPGRADE = 'GET / HTTP/1.1\r\nHost: channel\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

/** A masked binary frame header announcing `len` payload bytes (RFC 6455), as a client sends. */
export function frameHeader(len: number): Buffer {
  const h = Buffer.alloc(8);
  h[0] = 0x82;
  h[1] = 0x80 | 126;
  h.writeUInt16BE(len, 2);
  h.writeUInt32BE(0x01020304, 4);
  return h;
}

/** A raw host: connects, sends `first`, waits for `until` in the reply (or `ms`), and returns what came. */
export function rawHost(path: string, first: Buffer | string, until: RegExp, ms: number): Promise<{ reply: string; end: (last?: Buffer) => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let reply = '';
    const timer = setTimeout(() => done(), ms);
    const done = () => {
      clearTimeout(timer);
      sock.removeAllListeners('data');
      resolve({
        reply,
        end: (last) =>
          new Promise((r) => {
            sock.once('close', () => r());
            if (last) sock.write(last);
            sock.end();
          }),
      });
    };
    sock.on('error', reject);
    sock.on('data', (d: Buffer) => {
      reply += d.toString('latin1');
      if (until.test(reply)) done();
    });
    sock.write(first);
  });
}
