import { strict as assert } from 'node:assert';
import { WireTracker } from '@vcpuctl/guest-agent/dist/server/wire-tracker';

const REQUEST = 'GET / HTTP/1.1\r\nHost: channel\r\nUpgrade: websocket\r\n\r\n';

/** A masked client frame with `len` payload bytes, using the 7-, 16- or 64-bit length form as RFC 6455 requires. */
function frame(len: number): Buffer {
  const head =
    len < 126
      ? Buffer.from([0x82, 0x80 | len])
      : len < 65536
        ? Buffer.from([0x82, 0x80 | 126, len >> 8, len & 0xff])
        : Buffer.concat([
            Buffer.from([0x82, 0x80 | 127]),
            (() => {
              const b = Buffer.alloc(8);
              b.writeBigUInt64BE(BigInt(len));
              return b;
            })(),
          ]);
  return Buffer.concat([head, Buffer.from([9, 8, 7, 6]), Buffer.alloc(len, 0x47)]);
}

describe('channel wire tracker', () => {
  it('is partial inside the upgrade request, also across chunks, and whole after its blank line', () => {
    const t = new WireTracker();
    assert.equal(t.partial, false);
    assert.equal(t.feed(Buffer.from(REQUEST.slice(0, 40))), -1);
    assert.equal(t.partial, true);
    assert.equal(t.feed(Buffer.from(REQUEST.slice(40, -2))), -1);
    assert.equal(t.partial, true);
    assert.equal(t.feed(Buffer.from(REQUEST.slice(-2))), -1);
    assert.equal(t.partial, false);
  });

  it('follows frames of each length form byte by byte (payload bytes equal to "G" are payload)', () => {
    for (const len of [0, 5, 125, 126, 300, 65536]) {
      const t = new WireTracker();
      t.feed(Buffer.from(REQUEST));
      const f = frame(len);
      for (let i = 0; i < f.length; i++) {
        assert.equal(t.feed(f.subarray(i, i + 1)), -1, `len ${len} byte ${i}`);
        assert.equal(t.partial, i < f.length - 1, `len ${len} byte ${i}`);
      }
    }
  });

  it('finds a new request that starts at a frame boundary, in the same chunk or the next', () => {
    const t = new WireTracker();
    const f = frame(10);
    assert.equal(t.feed(Buffer.concat([Buffer.from(REQUEST), f, Buffer.from(REQUEST)])), REQUEST.length + f.length);
    const u = new WireTracker();
    u.feed(Buffer.concat([Buffer.from(REQUEST), f]));
    assert.equal(u.feed(Buffer.from(REQUEST)), 0);
  });

  it('does not see a request inside a frame that is still being read', () => {
    const t = new WireTracker();
    t.feed(Buffer.concat([Buffer.from(REQUEST), frame(500).subarray(0, 30)]));
    assert.equal(t.feed(Buffer.from(REQUEST)), -1);
    assert.equal(t.partial, true);
  });
});
