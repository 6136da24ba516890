/**
 * The host's guest-input boundary (guest/guest-input.ts, proto's frame-shape
 * and cpulist): what a hostile guest can put in a frame is refused or bounded
 * before it costs more than its bytes, and no string from it reaches an
 * output able to steer a terminal.
 */
import { strict as assert } from 'node:assert';
import {
  FRAME_SHAPES,
  MAX_CPULIST_CHARS,
  MAX_GUEST_CPUS,
  MAX_GUEST_KERNEL_LINES_PER_FRAME,
  MAX_REPLY_BYTES,
  VcpuctlError,
  canonicalCpuList,
  checkFrameShape,
  cpuListCount,
  decodeGuestFrame,
  encodeEnvelope,
  parseCpuList,
  parseCpuRanges,
  v1,
} from '@vcpuctl/proto';
import { checkHello, checkSnapshot, checkCpuEvent, checkSetOnlineReply, forTerminal, guestError, guestText } from '@vcpuctl/host';
import { fieldKey, lengthDelimited, varint } from '../helpers/raw-protobuf';

const isCode = (code: string, re?: RegExp) => (e: unknown) => e instanceof VcpuctlError && e.code === code && (!re || re.test(e.message));

describe('the guest-input boundary', () => {
  describe('CPU lists are parsed without expanding them', () => {
    it('a list that repeats the widest range costs what its text costs', () => {
      const hostile = Array(4000).fill('0-8191').join(',');
      assert.equal(cpuListCount(hostile), 8192);
      assert.equal(parseCpuList(hostile).length, 8192);
      assert.equal(canonicalCpuList(hostile), '0-8191');
      // Not a timing assertion: the old parser built 4000 x 8192 entries here (32M); this one builds 8192.
      assert.deepEqual(parseCpuRanges('5,0-3,2-4,9'), [
        [0, 5],
        [9, 9],
      ]);
    });

    it('refuses a list longer than any kernel writes before parsing it', () => {
      assert.throws(() => parseCpuRanges('0,'.repeat(MAX_CPULIST_CHARS)), isCode('PROTOCOL', /characters; at most/));
    });

    it("accepts only digits, commas and hyphens (a sysfs file's trailing newline aside)", () => {
      assert.equal(canonicalCpuList('0-3\n'), '0-3');
      for (const bad of ['0\r1', '0-1\r', '0,\x1b[2J', '1\v', '0 - 3', '0-3\n\n', '٣']) {
        assert.throws(() => parseCpuRanges(bad), isCode('PROTOCOL'), JSON.stringify(bad));
      }
      // The message shows what was refused without acting on it.
      assert.throws(
        () => parseCpuRanges('0,\x1b]0;pwned\x07'),
        (e: Error) => !/[\x00-\x1f]/.test(e.message),
      );
    });

    it('keeps the kernel spelling, so equal sets compare equal', () => {
      assert.equal(canonicalCpuList('0,1,2,3'), '0-3');
      assert.equal(canonicalCpuList('3,1-2,0'), '0-3');
      assert.equal(canonicalCpuList(''), '');
    });
  });

  describe('frames are shape-checked before decoding', () => {
    const snapshotReply = (snapshot: number[]) => [...fieldKey(1, 0), ...varint(1n), ...lengthDelimited(12, lengthDelimited(1, snapshot))];

    it('an 8 MiB frame of empty Cpu entries is refused without decoding one', () => {
      const emptyCpu = lengthDelimited(7, []);
      const n = MAX_GUEST_CPUS + 1;
      const snapshot: number[] = new Array(n * emptyCpu.length);
      for (let i = 0; i < n; i++) snapshot.splice(i * 2, 2, ...emptyCpu);
      const frame = Buffer.from(snapshotReply(snapshot));
      assert.throws(() => decodeGuestFrame(frame), isCode('PROTOCOL', new RegExp(`more than ${MAX_GUEST_CPUS} entries of Snapshot.7`)));
    });

    it('exactly the largest real snapshot passes', () => {
      const cpus = Array.from({ length: MAX_GUEST_CPUS }, (_, i) => ({ index: i, present: true, online: true }));
      const env = decodeGuestFrame(encodeEnvelope({ id: 1, snapshotReply: { snapshot: { present: '0-8191', cpus } } }));
      assert.equal(checkSnapshot(env.snapshotReply?.snapshot).cpus.length, MAX_GUEST_CPUS);
    });

    it('kernel lines past the per-frame bound are refused', () => {
      const line = lengthDelimited(1, lengthDelimited(4, [0x78]));
      const body: number[] = [];
      for (let i = 0; i <= MAX_GUEST_KERNEL_LINES_PER_FRAME; i++) body.push(...line);
      assert.throws(() => decodeGuestFrame(Buffer.from(lengthDelimited(18, body))), isCode('PROTOCOL', /KernelLog\.1/));
    });

    it('a singular field sent again (decoded again and again) is refused', () => {
      const twice = [...lengthDelimited(12, lengthDelimited(1, [])), ...lengthDelimited(12, lengthDelimited(1, []))];
      assert.throws(() => checkFrameShape(Buffer.from(twice)), isCode('PROTOCOL', /Envelope field 12 repeated/));
      const presentTwice = lengthDelimited(12, lengthDelimited(1, [...lengthDelimited(3, [0x30]), ...lengthDelimited(3, [0x31])]));
      assert.throws(() => checkFrameShape(Buffer.from(presentTwice)), isCode('PROTOCOL', /Snapshot field 3 repeated/));
    });

    it('a nested length that runs past its message, or truncated bytes, is PROTOCOL', () => {
      assert.throws(() => checkFrameShape(Buffer.from([...fieldKey(12, 2), 10, ...lengthDelimited(1, [])])), isCode('PROTOCOL'));
      assert.throws(() => checkFrameShape(Buffer.from([...fieldKey(12, 2), 0x80])), isCode('PROTOCOL'));
    });

    it('oversized frames are TOO_BIG before any pass over them', () => {
      assert.throws(() => decodeGuestFrame(Buffer.alloc(MAX_REPLY_BYTES + 1)), isCode('TOO_BIG'));
    });

    it("the shape table names the schema's own field numbers", () => {
      // Each entry is checked against protobufjs's generated decoder: a field with
      // `of` must decode into that message type; a field with `max` must be repeated.
      const gen = v1 as unknown as Record<string, { decode(b: Uint8Array): Record<string, unknown> }>;
      const fieldName = (type: string, no: number): string => {
        // Encode a one-field message by hand and see which property protobufjs fills.
        const msg = gen[type]!.decode(Buffer.from(lengthDelimited(no, [])));
        const keys = Object.keys(msg).filter((k) => k !== '$unknowns');
        const filled = keys.filter((k) => {
          const v = msg[k];
          return Array.isArray(v) ? v.length > 0 : v !== undefined && v !== null && v !== '' && v !== 0;
        });
        assert.equal(filled.length, 1, `${type} field ${no} names no field of the schema (${keys.join(',')})`);
        return filled[0]!;
      };
      for (const [type, fields] of Object.entries(FRAME_SHAPES)) {
        for (const [no, f] of Object.entries(fields)) {
          const name = fieldName(type, Number(no));
          const value = gen[type]!.decode(Buffer.from(lengthDelimited(Number(no), [])))[name];
          if (f.max !== undefined) assert.ok(Array.isArray(value), `${type}.${name} is bounded as repeated but is not`);
          if (f.of) {
            const inner = Array.isArray(value) ? value[0] : value;
            assert.ok(inner instanceof (gen[f.of] as unknown as new () => object), `${type}.${name} is not a ${f.of}`);
          }
        }
      }
    });
  });

  describe('fields are bounded and made safe once', () => {
    it('a snapshot with control characters in its strings shows them, as cat -v does', () => {
      const s = checkSnapshot({
        present: '0-1',
        online: '0',
        system: { hostname: 'evil\x1b]0;title\x07\r\nhost', kernel: '6.1\u202e' },
        lscpu: 'Architecture: x86_64\nModel name: \x1b[31mred\x1b[0m\rX',
      });
      assert.equal(s.system?.hostname, 'evil^[]0;title^G^M^Jhost');
      assert.equal(s.system?.kernel, '6.1<U+202E>');
      assert.equal(s.lscpu, 'Architecture: x86_64\nModel name: ^[[31mred^[[0m^MX');
    });

    it('refuses what no real guest sends, naming the field', () => {
      assert.throws(() => checkSnapshot({ online: '0\r1' }), isCode('PROTOCOL', /online/));
      assert.throws(() => checkSnapshot({ cpus: [{ index: 1 }, { index: 1 }] }), isCode('PROTOCOL', /CPU 1.*twice/));
      assert.throws(() => checkSnapshot({ cpus: [{ index: 8192 }] }), isCode('PROTOCOL', /not a CPU number/));
      assert.throws(() => checkSnapshot({ system: { hostname: 'h'.repeat(257) } }), isCode('PROTOCOL', /hostname of 257 characters/));
      assert.throws(() => checkSnapshot({ lscpu: 'x\n'.repeat(600) }), isCode('PROTOCOL', /lines/));
      assert.throws(() => checkSnapshot({ cpus: [{ index: 0, offlineCause: 99 as v1.OfflineCause }] }), isCode('PROTOCOL', /offline_cause/));
      assert.throws(() => checkSnapshot({ kernelMax: 100000 }), isCode('PROTOCOL', /kernel_max/));
      assert.throws(() => checkCpuEvent({ changes: [{ cpu: 4294967295, kind: 1 }] }), isCode('PROTOCOL'));
      assert.throws(() => checkCpuEvent({ kernelLines: [{ message: 'x'.repeat(8193) }] }), isCode('PROTOCOL', /kernel line/));
      assert.throws(() => checkSetOnlineReply({ processed: 3, results: [] }), isCode('PROTOCOL', /processed/));
    });

    it('rewrites every CPU list in the kernel spelling', () => {
      const s = checkSnapshot({ present: '0,1,2', cpus: [{ index: 0, threadSiblingsList: '0,0', caches: [{ sharedCpuList: '1,0' }] }] });
      assert.equal(s.present, '0-2');
      assert.equal(s.cpus[0]!.threadSiblingsList, '0');
      assert.equal(s.cpus[0]!.caches![0]!.sharedCpuList, '0-1');
    });

    it('a hello is bounded like the rest', () => {
      assert.equal(checkHello({ protocolVersion: '1.0', hostname: 'a\x1bb' }).hostname, 'a^[b');
      assert.throws(() => checkHello({ productUuid: 'u'.repeat(1000) }), isCode('PROTOCOL'));
    });
  });

  describe("a guest's error code is the guest's, never the host's", () => {
    it('a host code from a guest becomes GUEST_ERROR naming it', () => {
      for (const code of ['LIBVIRT_UNREACHABLE', 'LOCKED', 'INTERNAL', 'MISMATCH', 'NO_SUCH_CODE', '']) {
        const e = guestError(code, 'words');
        assert.equal(e.code, 'GUEST_ERROR', code);
        assert.equal(e.exitCode, 20);
        assert.equal(e.details?.guestCode, code);
      }
    });

    it('the refusals the protocol defines keep their meaning', () => {
      assert.equal(guestError('CPU_REFUSED', 'cpu0 cannot be offlined').code, 'CPU_REFUSED');
      assert.equal(guestError('FORBIDDEN', 'read-only').code, 'FORBIDDEN');
    });

    it('its words are bounded and shown, not acted on', () => {
      assert.equal(guestError('X\x1b', 'm\x1b[2J').message, 'agent: X^[: m^[[2J');
      assert.throws(() => guestError('X', 'm'.repeat(5000)), isCode('PROTOCOL'));
    });
  });

  it('forTerminal keeps newlines and shows every other control character', () => {
    assert.equal(forTerminal('a\nb\x1b[2J\x9b\t'), 'a\nb^[[2JM-^[^I');
    assert.equal(guestText('tab\there', 'x'), 'tab^Ihere');
  });
});
