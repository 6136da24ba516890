/**
 * Follows the kernel log (/dev/kmsg): each read() returns one record
 * "PRIO,SEQ,USEC,FLAGS;MESSAGE". The log is read through a non-blocking
 * DeviceReader (device/), never with a blocking read: a read that waits for
 * the next kernel line holds a libuv pool thread for ever, and with a small
 * pool (UV_THREADPOOL_SIZE=1 or 2) the agent then ignored SIGTERM.
 */
import { PollPeriods } from '../device/adaptive-poll';
import { DeviceReader } from '../device/device-reader';
import { NonBlockingDevice } from '../device/nonblocking-device';

export interface KernelRecord {
  priority: number;
  seq: number;
  usec: number;
  message: string;
  receivedAtMs: number;
}

/** The kernel caps a record at 1 KiB of text plus its prefix and dictionary; 8 KiB is ample. */
const MAX_RECORD_BYTES = 8192;

/** Backlog records skipped at start: the kernel's log buffer holds at most a few thousand. */
const MAX_BACKLOG_RECORDS = 100_000;

/** Lines that are evidence about CPUs: hot-add, boot/offline, topology. */
const CPU_LINE = /\bCPU\s?\d+\b|\bcpu\d+\b|smpboot|[Hh]ot-?(?:add|plug|remov)/;

export function parseKmsgRecord(text: string, receivedAtMs = Date.now()): KernelRecord | undefined {
  const semi = text.indexOf(';');
  if (semi < 0) return undefined;
  const [prio, seq, usec] = text.slice(0, semi).split(',');
  if (prio === undefined || seq === undefined || usec === undefined) return undefined;
  // Continuation lines (" KEY=value") follow the message after a newline.
  const message = text
    .slice(semi + 1)
    .split('\n')[0]!
    .trimEnd();
  const p = Number(prio);
  if (!Number.isFinite(p) || !/^\d+$/.test(seq) || !/^\d+$/.test(usec)) return undefined;
  return { priority: p & 7, seq: Number(seq), usec: Number(usec), message, receivedAtMs };
}

export function isCpuEvidence(message: string): boolean {
  return CPU_LINE.test(message);
}

/** A FIFO (tests) can deliver several records in one read; /dev/kmsg delivers one. */
function parseChunk(chunk: string): KernelRecord[] {
  const out: KernelRecord[] = [];
  for (const line of chunk.split(/\n(?=\d+,)/)) {
    const rec = parseKmsgRecord(line);
    if (rec) out.push(rec);
  }
  return out;
}

/**
 * How often the kernel log is looked at. A CPU line makes the agent re-read
 * sysfs at once, so this period is the latency of a logged change while the
 * log is quiet (inside a burst, `minMs`). Measured in bench/agent-bench.js:
 * see the README for the latency and idle-CPU figures that chose it.
 */
export const KMSG_POLL: PollPeriods = { minMs: 2, maxMs: 50 };

/** Records taken per tick at most: a log flood is drained over several ticks, not in one long one. */
const MAX_BYTES_PER_TICK = 64 * 1024;

export class KmsgFollower {
  private reader: DeviceReader | undefined;
  private readonly buf = Buffer.alloc(MAX_RECORD_BYTES);

  constructor(
    private readonly path: string,
    private readonly onRecord: (rec: KernelRecord) => void,
    private readonly log: (line: string) => void,
  ) {}

  /** False (and no error) where the log cannot be read, e.g. without CAP_SYSLOG. */
  start(): boolean {
    let device: NonBlockingDevice;
    try {
      device = NonBlockingDevice.open(this.path, 'read');
    } catch {
      return false;
    }
    this.skipBacklog(device);
    this.reader = new DeviceReader(device, {
      periods: KMSG_POLL,
      readBytes: MAX_RECORD_BYTES,
      maxBytesPerTick: MAX_BYTES_PER_TICK,
      onData: (chunk) => {
        const now = Date.now();
        for (const rec of parseChunk(chunk.toString('utf8'))) this.onRecord({ ...rec, receivedAtMs: now });
      },
      onError: (err) => {
        // EPIPE: records we had not read were overwritten; the next read resumes.
        if (err.code === 'EPIPE') return 'continue';
        this.log(`kernel log: ${err.code ?? err.message}; no more kernel lines`);
        return 'stop';
      },
    });
    this.reader.start();
    return true;
  }

  /**
   * Every open of /dev/kmsg starts at the oldest record: the backlog is read
   * and dropped before following, since history is not news.
   */
  private skipBacklog(device: NonBlockingDevice): void {
    for (let i = 0; i < MAX_BACKLOG_RECORDS; i++) {
      let r;
      try {
        r = device.read(this.buf);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EPIPE') continue; // overwritten while reading
        return;
      }
      if (typeof r !== 'number') return; // EAGAIN: the backlog is read
    }
  }

  stop(): void {
    this.reader?.stop();
    this.reader?.device.close();
    this.reader = undefined;
  }
}
