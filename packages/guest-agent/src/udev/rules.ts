/**
 * Finds, in one udev rules file's text, the rules that bring CPUs online:
 * `SUBSYSTEM=="cpu"` (or `KERNEL=="cpu*"`, `DEVPATH=="/devices/system/cpu/*"`)
 * with `ATTR{online}="1"`, or a RUN that writes 1 to `online` (`echo 1 >
 * /sys$devpath/online`, `chcpu -e`), and which of the kernel's events each
 * fires on. A rule matching only "add" onlines hot-added CPUs; one matching
 * "offline", "change" or every event (no ACTION key) also onlines a CPU that
 * was offlined on purpose: it fights the offline.
 *
 * The grammar is udev's (udev(7)): a rule is one line (a trailing backslash
 * continues it), comma-separated `KEY op "value"`, `#` starts a comment.
 * GOTO/LABEL guards are followed as far as they scope a region to CPUs or to
 * actions: `SUBSYSTEM!="cpu", GOTO="x"` then rules then `LABEL="x"`, the
 * shape distributions use. Pure: the caller bounds the text (reader.ts).
 */

/** The actions the kernel sends for a CPU device, and `udevadm trigger`'s "change". */
export const CPU_ACTIONS = ['add', 'remove', 'change', 'move', 'online', 'offline', 'bind', 'unbind'] as const;
export type CpuAction = (typeof CPU_ACTIONS)[number];

export interface OnliningRule {
  /** 1-based line where the rule starts. */
  line: number;
  /** The rule as written, continuation lines joined. */
  text: string;
  /** The events it fires on, in CPU_ACTIONS order. */
  actions: CpuAction[];
  /** It fires on something besides "add": an offline ("offline"), a `udevadm trigger` ("change"). */
  fightsOffline: boolean;
}

interface Pair {
  key: string;
  /** Inside the key's braces: `ATTR{online}` gives "online". */
  attr: string;
  op: '==' | '!=' | '=' | '+=' | '-=' | ':=';
  value: string;
}

const PAIR = /^\s*([A-Za-z_]+)(?:\{([^}]*)\})?\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)/;

/** A rule's key-value pairs; undefined for a line udev would reject (it skips such a line too). */
export function parsePairs(text: string): Pair[] | undefined {
  const out: Pair[] = [];
  let rest = text;
  while (rest.trim() !== '') {
    const m = PAIR.exec(rest);
    if (!m) return undefined;
    out.push({ key: m[1]!.toUpperCase(), attr: m[2] ?? '', op: m[3] as Pair['op'], value: m[4]! });
    rest = rest.slice(m[0].length);
  }
  return out;
}

/** udev's glob: `*`, `?`, `[...]`, alternatives with `|`. */
export function globMatches(pattern: string, value: string): boolean {
  return pattern.split('|').some((alt) => {
    let re = '';
    for (let i = 0; i < alt.length; i++) {
      const ch = alt[i]!;
      if (ch === '*') re += '.*';
      else if (ch === '?') re += '.';
      else if (ch === '[') {
        const end = alt.indexOf(']', i + 1);
        if (end < 0) re += '\\[';
        else {
          re += `[${alt
            .slice(i + 1, end)
            .replace(/^!/, '^')
            .replace(/\\/g, '\\\\')}]`;
          i = end;
        }
      } else re += ch.replace(/[.+^${}()|\\]/g, '\\$&');
    }
    return new RegExp(`^${re}$`).test(value);
  });
}

/** Whether the pair's match holds for a value (== matches, != does not). */
function holds(p: Pair, value: string): boolean {
  return p.op === '==' ? globMatches(p.value, value) : !globMatches(p.value, value);
}

const isMatch = (p: Pair) => p.op === '==' || p.op === '!=';

/** Keys that, in a match, say which device: each is judged for a CPU ("cpu", "cpu1", its devpath). */
const CPU_VALUES: Record<string, string[]> = {
  SUBSYSTEM: ['cpu'],
  SUBSYSTEMS: ['cpu'],
  KERNEL: ['cpu1', 'cpu2', 'cpu63'],
  KERNELS: ['cpu1', 'cpu2', 'cpu63'],
  DEVPATH: ['/devices/system/cpu/cpu1', '/devices/system/cpu/cpu63'],
};

/** Whether a match on which device names CPUs (`yes`), excludes them (`no`), or the rule says nothing about it. */
function cpuScope(pairs: Pair[]): 'yes' | 'no' | 'silent' {
  const about = pairs.filter((p) => isMatch(p) && CPU_VALUES[p.key]);
  if (about.length === 0) return 'silent';
  return about.every((p) => CPU_VALUES[p.key]!.some((v) => holds(p, v))) ? 'yes' : 'no';
}

/** The actions among CPU_ACTIONS for which every ACTION match of the rule holds. */
function actionsOf(pairs: Pair[], from: readonly CpuAction[]): CpuAction[] {
  const conds = pairs.filter((p) => isMatch(p) && p.key === 'ACTION');
  return from.filter((a) => conds.every((p) => holds(p, a)));
}

/** A RUN program that writes 1 to a CPU's online file, or enables CPUs with chcpu. */
const RUN_ONLINES = /\becho\s+1\s*>+\s*\S*online\b|\bprintf\s+['"]?1['"]?\s*>+\s*\S*online\b|\bchcpu\s+(?:-e|--enable)\b|\btee\s+\S*online\b/;

function onlines(pairs: Pair[]): boolean {
  return pairs.some(
    (p) => (p.key === 'ATTR' && p.attr === 'online' && (p.op === '=' || p.op === ':=') && p.value.trim() === '1') || (p.key === 'RUN' && (p.op === '+=' || p.op === '=' || p.op === ':=') && RUN_ONLINES.test(p.value)),
  );
}

/** A guard: a rule of matches and a GOTO only. Its label ends the region it skips to. */
interface Guard {
  label: string;
  /** Inside the region (the guard's matches did not hold): is the device a CPU, which actions remain. */
  cpu: 'yes' | 'no' | 'silent';
  actions: CpuAction[];
}

/** What a guard leaves inside its region: the device and events for which its matches do not all hold. */
function guardOf(pairs: Pair[], label: string): Guard {
  const matches = pairs.filter(isMatch);
  const negate = (p: Pair): Pair => ({ ...p, op: p.op === '==' ? '!=' : '==' });
  // A guard of one match is inverted exactly; with several, only a lone device or action test is followed.
  if (matches.length === 1) {
    const inv = [negate(matches[0]!)];
    return { label, cpu: cpuScope(inv), actions: actionsOf(inv, CPU_ACTIONS) };
  }
  return { label, cpu: 'silent', actions: [...CPU_ACTIONS] };
}

/** Logical lines: a trailing backslash joins the next line; each keeps the number of its first line. */
function logicalLines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  const raw = text.split('\n');
  for (let i = 0; i < raw.length; i++) {
    const start = i + 1;
    let s = raw[i]!.replace(/\r$/, '');
    while (s.endsWith('\\') && i + 1 < raw.length) {
      s = s.slice(0, -1) + raw[++i]!.replace(/\r$/, '').trimStart();
    }
    out.push({ line: start, text: s });
  }
  return out;
}

/** The rules of one file that online CPUs, in file order. */
export function findOnliningRules(text: string): OnliningRule[] {
  const out: OnliningRule[] = [];
  const guards: Guard[] = [];
  for (const { line, text: raw } of logicalLines(text)) {
    const t = raw.trim();
    if (t === '' || t.startsWith('#')) continue;
    const pairs = parsePairs(t);
    if (!pairs) continue;
    const label = pairs.find((p) => p.key === 'LABEL');
    if (label) {
      const at = guards.findIndex((g) => g.label === label.value);
      if (at >= 0) guards.splice(at, 1);
    }
    const goto = pairs.find((p) => p.key === 'GOTO');
    if (goto && pairs.every((p) => isMatch(p) || p.key === 'GOTO')) {
      guards.push(guardOf(pairs, goto.value));
      continue;
    }
    if (!onlines(pairs)) continue;
    const own = cpuScope(pairs);
    const inRegion = guards.map((g) => g.cpu);
    const cpu = own === 'no' || inRegion.includes('no') ? false : own === 'yes' || inRegion.includes('yes');
    if (!cpu) continue;
    const allowed = guards.reduce<CpuAction[]>((acc, g) => acc.filter((a) => g.actions.includes(a)), [...CPU_ACTIONS]);
    const actions = actionsOf(pairs, allowed);
    // "remove" cannot online anything (the device is going away).
    const effective = actions.filter((a) => a !== 'remove');
    if (effective.length === 0) continue;
    out.push({ line, text: t, actions: effective, fightsOffline: effective.some((a) => a !== 'add') });
  }
  return out;
}
