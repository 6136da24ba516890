/**
 * One line of `virsh event --all --loop --timestamp` (libvirt 9.0):
 *   2026-11-27 23:55:53.411+0000: event 'lifecycle' for domain 'web1': Stopped Destroyed
 *   2026-11-27 23:55:53.411+0000: event 'metadata-change' for domain 'web1': type element, uri https://...
 * Anything else virsh prints (its closing "events received" count, error
 * lines) is not an event.
 */

export interface DomainEvent {
  /** virsh's event name: lifecycle, metadata-change, agent-lifecycle, device-added, tunable, ... */
  kind: string;
  domain: string;
  /** The rest of the line, e.g. "Stopped Destroyed". */
  detail: string;
  /** libvirt's timestamp (ms since the epoch) when virsh printed one. */
  atMs: number | undefined;
}

/**
 * Longer lines are not events we know of; virsh prints a domain name of at
 * most a few hundred characters and a short detail, so this bounds a
 * runaway line without losing a real event.
 */
export const MAX_EVENT_LINE_CHARS = 4096;

const LINE = /^(?:(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d{4}): )?event '([a-z0-9-]+)' for domain '(.*?)'(?:: (.*))?$/;

function timestamp(text: string): number | undefined {
  // "2026-11-27 23:55:53.411+0000" -> ISO 8601 with a colon in the offset.
  const iso = `${text.slice(0, 10)}T${text.slice(11, 23)}${text.slice(23, 26)}:${text.slice(26)}`;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : undefined;
}

export function parseEventLine(line: string): DomainEvent | undefined {
  if (line.length > MAX_EVENT_LINE_CHARS) return undefined;
  const m = LINE.exec(line.trimEnd());
  if (!m) return undefined;
  return { kind: m[2]!, domain: m[3]!, detail: (m[4] ?? '').trim(), atMs: m[1] ? timestamp(m[1]) : undefined };
}

/** Splits a byte stream into lines, keeping the unfinished tail (bounded: an endless line is dropped). */
export class LineSplitter {
  private tail = '';

  push(chunk: string): string[] {
    const text = this.tail + chunk;
    const lines = text.split('\n');
    this.tail = lines.pop() ?? '';
    if (this.tail.length > MAX_EVENT_LINE_CHARS) this.tail = '';
    return lines;
  }
}
