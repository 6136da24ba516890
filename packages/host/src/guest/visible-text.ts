/**
 * Text made safe to print whatever put it there (a guest, a file, libvirt
 * relaying qemu-ga): the one place that decides which characters a terminal,
 * a Markdown reader or a log never receives raw. Its own module, free of the
 * protocol code, because every command's output passes here, --help included.
 */
/**
 * Characters no terminal, Markdown reader or log should take from a guest:
 * C0 and C1 controls, DEL, and the Unicode format characters that reorder or
 * hide text (bidirectional overrides and isolates, zero-width characters).
 */
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
/** The same, less the newline, for text that is lines by nature (the lscpu view). */
const UNSAFE_BUT_NEWLINE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

/** `cat -v`'s notation: ^[ for ESC, ^? for DEL, M-^[ for a C1 control; other format characters as <U+XXXX>. */
function shownChar(c: string): string {
  const n = c.charCodeAt(0);
  if (n < 0x20) return `^${String.fromCharCode(n + 0x40)}`;
  if (n === 0x7f) return '^?';
  if (n <= 0x9f) return `M-^${String.fromCharCode(n - 0x80 + 0x40)}`;
  return `<U+${n.toString(16).toUpperCase().padStart(4, '0')}>`;
}

/** Any string made safe to print: control and format characters shown, never acted on. */
export function visible(text: string): string {
  return text.replace(UNSAFE, shownChar);
}

/**
 * Text for a terminal or a log line, whatever it carries: newlines kept,
 * every other control character shown. Applied where text output is written
 * (cli/), after guest strings were already made visible at the boundary:
 * errors relayed by libvirt (qemu-ga's words) and reports read back from disk
 * pass here and nowhere else.
 */
export function forTerminal(text: string): string {
  return text.replace(UNSAFE_BUT_NEWLINE, shownChar);
}
