/**
 * libvirt's event stream through one long-lived `virsh event --all --loop
 * --timestamp` child. When it ends (libvirtd restarted, connection lost) it
 * is started again after a pause, and the caller is told, since events may
 * have been missed meanwhile.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { DomainEvent, LineSplitter, parseEventLine } from './event-line';

export interface EventStreamHandlers {
  event(e: DomainEvent): void;
  /** The stream (re)started: events may have been missed before it. */
  reconnected(): void;
  /** The stream ended; it is restarted after `retryMs`. */
  lost(why: string, retryMs: number): void;
}

export interface EventStream {
  close(): void;
}

/** First retry pause, and the most it grows to while libvirtd stays away (the RPC stream's too: rpc-event-stream.ts). */
export const RETRY_MIN_MS = 250;
export const RETRY_MAX_MS = 5000;
/** A stream that lived this long was healthy: the next loss starts from the short pause again. */
export const HEALTHY_MS = 10_000;

export function virshEventStream(uri: string, handlers: EventStreamHandlers, binary = 'virsh'): EventStream {
  let child: ChildProcess | undefined;
  let closed = false;
  let retryMs = RETRY_MIN_MS;
  let timer: NodeJS.Timeout | undefined;
  let first = true;

  const start = () => {
    if (closed) return;
    const startedAt = Date.now();
    const c = spawn(binary, ['-c', uri, 'event', '--all', '--loop', '--timestamp'], { env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    const lines = new LineSplitter();
    let stderr = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => {
      for (const line of lines.push(d)) {
        const e = parseEventLine(line);
        if (e) handlers.event(e);
      }
    });
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    c.once('error', () => undefined); // 'close' follows
    c.once('close', (code, signal) => {
      if (child === c) child = undefined;
      if (closed) return;
      if (Date.now() - startedAt > HEALTHY_MS) retryMs = RETRY_MIN_MS;
      const why =
        stderr
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean)
          .pop() ?? `virsh event ended (${code ?? signal})`;
      handlers.lost(why, retryMs);
      timer = setTimeout(start, retryMs);
      retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
    });
    // virsh prints nothing until the first event; once it is running, the
    // caller re-reads what it may have missed while the stream was down.
    if (!first) setTimeout(() => child === c && handlers.reconnected(), RETRY_MIN_MS).unref();
    first = false;
  };
  start();
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      child?.kill('SIGTERM');
    },
  };
}
