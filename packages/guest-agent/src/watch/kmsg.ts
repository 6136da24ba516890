/**
 * Follows the kernel log (/dev/kmsg): each read() returns one record
 * "PRIO,SEQ,USEC,FLAGS;MESSAGE". Reads block in a libuv worker thread, so an
 * idle agent spends no CPU on the log, and a CPU line wakes it at once.
 */
import { closeSync, constants, openSync, read, readSync } from 'node:fs';

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
  const message = text.slice(semi + 1).split('\n')[0]!.trimEnd();
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

export class KmsgFollower {
  private fd: number | undefined;
  private stopped = false;
  private lastBacklogSeq = -1;
  private readonly buf = Buffer.alloc(MAX_RECORD_BYTES);

  constructor(private readonly path: string, private readonly onRecord: (rec: KernelRecord) => void, private readonly log: (line: string) => void) {}

  /** False (and no error) where the log cannot be read, e.g. without CAP_SYSLOG. */
  start(): boolean {
    this.skipBacklog();
    try {
      this.fd = openSync(this.path, constants.O_RDONLY);
    } catch {
      return false;
    }
    this.readNext();
    return true;
  }

  /**
   * Every open of /dev/kmsg starts at the oldest record and there is no
   * lseek from Node, so the backlog's last sequence number is noted through
   * a non-blocking descriptor and the follower skips up to it: history is
   * not news.
   */
  private skipBacklog(): void {
    let nb: number;
    try {
      nb = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch {
      return;
    }
    try {
      for (let i = 0; i < MAX_BACKLOG_RECORDS; i++) {
        let n: number;
        try {
          n = readSync(nb, this.buf, 0, this.buf.length, null);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EPIPE') continue; // overwritten while reading
          break; // EAGAIN: the backlog is read
        }
        if (n <= 0) break;
        for (const rec of parseChunk(this.buf.toString('utf8', 0, n))) this.lastBacklogSeq = rec.seq;
      }
    } finally {
      closeSync(nb);
    }
  }

  private readNext(): void {
    if (this.stopped || this.fd === undefined) return;
    read(this.fd, this.buf, 0, this.buf.length, null, (err, n) => {
      if (this.stopped) return;
      if (err) {
        // EPIPE: records we had not read were overwritten; the next read resumes.
        if (err.code === 'EPIPE') return this.readNext();
        this.log(`kernel log: ${err.code ?? err.message}; no more kernel lines`);
        return;
      }
      if (n === 0) return; // the writer went away (tests); /dev/kmsg never ends
      const now = Date.now();
      for (const rec of parseChunk(this.buf.toString('utf8', 0, n))) {
        if (rec.seq > this.lastBacklogSeq) this.onRecord({ ...rec, receivedAtMs: now });
      }
      this.readNext();
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
