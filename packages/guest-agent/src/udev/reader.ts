/**
 * The guest's udev rules that online CPUs, read from the rules directories
 * under a root ("/" for the live system, a tree in tests), after udev's own
 * override rule: a file in /etc/udev/rules.d masks one of the same name in
 * /run/udev/rules.d, which masks /usr/lib/udev/rules.d and /lib/udev/rules.d;
 * a symlink to /dev/null (or an empty file) disables the name. Files are
 * read in the order udev reads them (by name).
 *
 * The files are the guest's, so untrusted: each bound below is checked once,
 * here, and a file past one is skipped and the reading said to be partial.
 * A file is parsed again only when its size, time or inode changed, so the
 * reread on every CPU change costs a stat per file.
 */
import { closeSync, fstatSync, lstatSync, openSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { MAX_GUEST_UDEV_RULES, MAX_GUEST_UDEV_RULE_CHARS } from '@vcpuctl/proto';
import { OnliningRule, findOnliningRules } from './rules';

/** Where udev reads rules, highest priority first (udev(7)). */
export const RULES_DIRS = ['/etc/udev/rules.d', '/run/udev/rules.d', '/usr/lib/udev/rules.d', '/lib/udev/rules.d'] as const;

/**
 * Rules files read at most, over the four directories. A Debian or Fedora
 * system ships 60 to 120 (systemd's, plus a few per package); 1024 is far
 * above any real guest and bounds the stats of a reread.
 */
export const MAX_UDEV_FILES = 1024;

/**
 * A rules file larger than this is skipped. The largest shipped ones are
 * device lists (libgphoto2's and libmtp's, 200 to 400 KiB); 1 MiB reads
 * them all, and a CPU rule is never in a file that size.
 */
export const MAX_UDEV_FILE_BYTES = 1024 * 1024;

/**
 * A logical line longer than this makes the file skipped: udev's own limit
 * (UDEV_LINE_SIZE, 16 KiB in udev-rules.c) rejects such a line, so a longer
 * one is no rule udev runs, and the parser's regular expressions never see
 * more than this.
 */
export const MAX_UDEV_LINE_CHARS = 16 * 1024;

export interface UdevRuleFound extends OnliningRule {
  /** The file as the guest names it ("/etc/udev/rules.d/99-cpu.rules"). */
  file: string;
}

export interface UdevReading {
  /** Every rules file was read (false: one was skipped at a bound, or there were too many). */
  whole: boolean;
  /** Why not whole, for the agent's log. */
  why?: string;
  /** The rules that online CPUs, in udev's order, at most MAX_GUEST_UDEV_RULES, texts cut at MAX_GUEST_UDEV_RULE_CHARS. */
  rules: UdevRuleFound[];
  /** Rules files read. */
  files: number;
}

interface Parsed {
  key: string;
  rules: OnliningRule[] | undefined;
  why?: string;
}

/** The file's text, or why it is skipped; never reads more than the bound. */
function readBounded(path: string): { text?: string; why?: string } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_UDEV_FILE_BYTES) return { why: `${path}: ${size} bytes (at most ${MAX_UDEV_FILE_BYTES})` };
    const buf = Buffer.alloc(size + 1);
    let n = 0;
    while (n < buf.length) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r <= 0) break;
      n += r;
    }
    if (n > MAX_UDEV_FILE_BYTES) return { why: `${path}: more than ${MAX_UDEV_FILE_BYTES} bytes` };
    return { text: buf.toString('utf8', 0, n) };
  } finally {
    closeSync(fd);
  }
}

function cut(text: string): string {
  return text.length > MAX_GUEST_UDEV_RULE_CHARS ? `${text.slice(0, MAX_GUEST_UDEV_RULE_CHARS - 3)}...` : text;
}

export class UdevReader {
  private readonly parsed = new Map<string, Parsed>();
  private last: UdevReading | undefined;
  private lastKey = '';

  constructor(private readonly root: string) {}

  /** The rules now; the previous reading (the same object) when nothing in it changed. */
  read(): UdevReading {
    const chosen = new Map<string, string>(); // name -> guest path, first directory wins
    let whole = true;
    let why: string | undefined;
    const partial = (w: string) => {
      whole = false;
      why ??= w;
    };
    for (const dir of RULES_DIRS) {
      let names: string[];
      try {
        names = readdirSync(join(this.root, dir));
      } catch {
        continue; // a directory that does not exist holds no rules
      }
      for (const name of names) {
        if (!name.endsWith('.rules') || chosen.has(name)) continue;
        if (chosen.size >= MAX_UDEV_FILES) {
          partial(`more than ${MAX_UDEV_FILES} rules files`);
          break;
        }
        chosen.set(name, `${dir}/${name}`);
      }
    }
    const rules: UdevRuleFound[] = [];
    const seen = new Set<string>();
    let files = 0;
    for (const name of [...chosen.keys()].sort()) {
      const file = chosen.get(name)!;
      const p = this.parse(file);
      if (!p) continue; // masked, or gone since listed
      seen.add(file);
      files++;
      if (!p.rules) {
        partial(p.why ?? file);
        continue;
      }
      for (const r of p.rules) {
        if (rules.length >= MAX_GUEST_UDEV_RULES) {
          partial(`more than ${MAX_GUEST_UDEV_RULES} rules online CPUs`);
          break;
        }
        rules.push({ ...r, file, text: cut(r.text) });
      }
    }
    for (const k of this.parsed.keys()) if (!seen.has(k)) this.parsed.delete(k);
    const reading: UdevReading = { whole, rules, files, ...(why ? { why } : {}) };
    const key = JSON.stringify(reading);
    if (this.last && key === this.lastKey) return this.last;
    this.last = reading;
    this.lastKey = key;
    return reading;
  }

  /** One file's onlining rules, from the cache while it is unchanged; undefined when masked or unreadable. */
  private parse(file: string): Parsed | undefined {
    let path = join(this.root, file);
    let st;
    try {
      st = lstatSync(path);
      if (st.isSymbolicLink()) {
        const target = readlinkSync(path);
        if (target === '/dev/null') return undefined; // udev's way to disable a name
        // An absolute link is the guest's path: it is followed under the root.
        path = isAbsolute(target) ? join(this.root, target) : path;
        st = lstatSync(path);
        if (st.isSymbolicLink()) return undefined; // one level is what rules directories use; more is not followed
      }
    } catch {
      return undefined;
    }
    if (!st.isFile()) return undefined; // /dev/null itself, a directory
    if (st.size === 0) return undefined; // an empty file masks the name too
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    const cached = this.parsed.get(file);
    if (cached?.key === key) return cached;
    let out: Parsed;
    try {
      const { text, why } = readBounded(path);
      if (text === undefined) out = { key, rules: undefined, why };
      else {
        const long = text.split('\n').findIndex((l) => l.length > MAX_UDEV_LINE_CHARS);
        // Continuation lines joined may pass the bound too: udev counts the joined line.
        const joinedLong =
          /\\\n/.test(text) &&
          text
            .replace(/\\\n/g, '')
            .split('\n')
            .some((l) => l.length > MAX_UDEV_LINE_CHARS);
        if (long >= 0 || joinedLong) out = { key, rules: undefined, why: `${file}: a line of more than ${MAX_UDEV_LINE_CHARS} characters${long >= 0 ? ` (line ${long + 1})` : ''}` };
        else out = { key, rules: findOnliningRules(text) };
      }
    } catch (err) {
      out = { key, rules: undefined, why: `${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    }
    this.parsed.set(file, out);
    return out;
  }
}
