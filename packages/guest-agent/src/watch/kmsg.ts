/**
 * Reads the kernel log (/dev/kmsg) without blocking: each read() returns one
 * record "PRIO,SEQ,USEC,FLAGS;MESSAGE", EAGAIN when none is waiting. Polled
 * from the same tick as sysfs, so no thread sits blocked in a read.
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';

export interface KernelRecord {
  priority: number;
  seq: number;
  usec: number;
  message: string;
  receivedAtMs: number;
}

/** The kernel caps a record at 1 KiB of text plus its prefix (PRINTK_MESSAGE_MAX). */
const MAX_RECORD_BYTES = 8192;

/** Records read per tick, so a log flood cannot stall the agent's loop. */
const MAX_RECORDS_PER_DRAIN = 1024;

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

export class KmsgReader {
  private fd: number | undefined;
  private readonly buf = Buffer.alloc(MAX_RECORD_BYTES);

  constructor(private readonly path: string) {}

  /** Opens the log; false (and no error) where it cannot be read, e.g. without CAP_SYSLOG. */
  open(): boolean {
    try {
      this.fd = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
      return true;
    } catch {
      this.fd = undefined;
      return false;
    }
  }

  get isOpen(): boolean {
    return this.fd !== undefined;
  }

  /** Every record waiting now (bounded per call). */
  drain(): KernelRecord[] {
    const out: KernelRecord[] = [];
    if (this.fd === undefined) return out;
    for (let i = 0; i < MAX_RECORDS_PER_DRAIN; i++) {
      let n: number;
      try {
        n = readSync(this.fd, this.buf, 0, this.buf.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // EPIPE: records we had not read were overwritten; the next read resumes.
        if (code === 'EPIPE') continue;
        break; // EAGAIN: nothing more now.
      }
      if (n <= 0) break;
      // A FIFO (tests) can deliver several records in one read; /dev/kmsg delivers one.
      for (const line of this.buf.toString('utf8', 0, n).split(/\n(?=\d+,)/)) {
        const rec = parseKmsgRecord(line);
        if (rec) out.push(rec);
      }
    }
    return out;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
