/**
 * A pass over a frame's wire bytes, before decoding, that counts the entries
 * of every repeated message field and refuses a frame with more than a guest
 * can truthfully send. Decoding allocates an object per entry: an empty
 * `Cpu` costs 2 bytes on the wire and about 300 in memory, so the byte
 * limit alone lets 8 MiB become gigabytes. This pass allocates nothing.
 *
 * The field numbers are vcpuctl.proto's (the schema is the source of truth;
 * test/unit/frame-shape.test.ts checks this table against the generated code).
 */
import { Reader } from 'protobufjs/minimal';
import { VcpuctlError } from './errors';
import {
  MAX_GUEST_CACHES_PER_CPU,
  MAX_GUEST_CGROUPS,
  MAX_GUEST_CHANGES_PER_EVENT,
  MAX_GUEST_CPUS,
  MAX_GUEST_CPU_FLAGS,
  MAX_GUEST_KERNEL_LINES_PER_FRAME,
  MAX_GUEST_NUMA_NODES,
  MAX_GUEST_ONLINE_FAILURES,
  MAX_GUEST_ONLINE_FAILURE_LINES,
  MAX_GUEST_UDEV_RULES,
} from './limits';

interface FieldShape {
  /** The message type inside, when the pass must look into it. */
  readonly of?: string;
  /** For a repeated field: most entries in the whole frame. Absent: a singular field, at most once per message. */
  readonly max?: number;
}

export const FRAME_SHAPES: Readonly<Record<string, Readonly<Record<number, FieldShape>>>> = {
  Envelope: { 12: { of: 'SnapshotReply' }, 14: { of: 'SubscribeReply' }, 16: { of: 'SetOnlineReply' }, 17: { of: 'CpuEvent' }, 18: { of: 'KernelLog' }, 21: { of: 'SetWantedOfflineReply' } },
  SnapshotReply: { 1: { of: 'Snapshot' } },
  SubscribeReply: { 1: { of: 'Snapshot' } },
  SetOnlineReply: { 1: { max: MAX_GUEST_CPUS }, 3: { of: 'Snapshot' } },
  CpuEvent: { 1: { of: 'CpuChange', max: MAX_GUEST_CHANGES_PER_EVENT }, 3: { max: MAX_GUEST_KERNEL_LINES_PER_FRAME }, 4: { of: 'Snapshot' } },
  KernelLog: { 1: { max: MAX_GUEST_KERNEL_LINES_PER_FRAME } },
  Snapshot: {
    7: { of: 'Cpu', max: MAX_GUEST_CPUS },
    8: { max: MAX_GUEST_NUMA_NODES },
    9: { of: 'CpuModel' },
    12: { of: 'CgroupRestriction', max: MAX_GUEST_CGROUPS },
    15: { of: 'UdevRule', max: MAX_GUEST_UDEV_RULES },
    17: { of: 'OnlineFailure', max: MAX_GUEST_ONLINE_FAILURES },
  },
  // The suspects of every comeback in one event together: the agent names at most MAX_GUEST_UDEV_RULES in an event.
  CpuChange: { 6: { of: 'UdevRule', max: MAX_GUEST_UDEV_RULES } },
  OnlineFailure: { 7: { max: MAX_GUEST_ONLINE_FAILURES * MAX_GUEST_ONLINE_FAILURE_LINES } },
  UdevRule: {},
  Cpu: { 14: { max: MAX_GUEST_CPUS * MAX_GUEST_CACHES_PER_CPU } },
  CpuModel: { 9: { max: MAX_GUEST_CPU_FLAGS } },
  // No repeated field inside; walked so that a field of it sent twice is refused like any other.
  CgroupRestriction: {},
  SetWantedOfflineReply: {},
};

const LENGTH_DELIMITED = 2;

function refuse(why: string): VcpuctlError {
  return new VcpuctlError('PROTOCOL', `refused a frame from the guest: ${why}`);
}

/** Throws PROTOCOL when the frame repeats a field more than its shape allows; decodes nothing. */
export function checkFrameShape(bytes: Uint8Array): void {
  const totals = new Map<string, number>();
  const walk = (type: string, r: Reader, end: number): void => {
    const shape = FRAME_SHAPES[type]!;
    const seen = new Set<number>();
    while (r.pos < end) {
      const tag = r.uint32();
      const field = tag >>> 3;
      const wire = tag & 7;
      const f = shape[field];
      if (f?.max !== undefined) {
        const key = `${type}.${field}`;
        const n = (totals.get(key) ?? 0) + 1;
        if (n > f.max) throw refuse(`more than ${f.max} entries of ${key}`);
        totals.set(key, n);
      } else {
        // A singular field sent again replaces the first when decoded: a way to make the host decode without end.
        if (seen.has(field)) throw refuse(`${type} field ${field} repeated`);
        seen.add(field);
      }
      if (f?.of && wire === LENGTH_DELIMITED) {
        const len = r.uint32();
        const inner = r.pos + len;
        if (inner > end) throw refuse(`${type} field ${field} runs past its message`);
        walk(f.of, r, inner);
        r.pos = inner;
      } else {
        r.skipType(wire);
      }
    }
    if (r.pos > end) throw refuse(`${type} runs past its end`);
  };
  try {
    const r = Reader.create(bytes);
    walk('Envelope', r, bytes.length);
  } catch (err) {
    if (err instanceof VcpuctlError) throw err;
    throw refuse(`malformed: ${(err as Error).message}`);
  }
}

/** Envelope fields a guest pushes unasked (cpu_event, kernel_log). */
const PUSHED_FIELDS = new Set([17, 18]);

/**
 * Whether a frame is a pushed event or kernel log, from its first field tags
 * only, so a flood can be charged to the guest's budget before it is decoded.
 * A frame that does not parse this far is "not pushed": decoding refuses it.
 */
export function isPushedFrame(bytes: Uint8Array): boolean {
  try {
    const r = Reader.create(bytes);
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag >>> 3 === 1) {
        r.skipType(tag & 7); // the id comes first in our encoder; any order is allowed
        continue;
      }
      return PUSHED_FIELDS.has(tag >>> 3);
    }
  } catch {
    // malformed: let decoding say why
  }
  return false;
}
