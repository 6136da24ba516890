/**
 * Which domains `--all` takes: a shell-style name glob (`*` any run, `?` one
 * character, nothing else special) and a set of states. Pure, unit-tested.
 */
import { VcpuctlError } from '@vcpuctl/proto/errors';
import { printable } from './input';

/** A glob is typed by a person; longer than a libvirt name limit is a mistake, not a pattern. */
export const MAX_NAME_GLOB_CHARS = 256;

/** The CLI's state words and virsh's domstate words they stand for. */
export const STATE_WORDS: Record<string, string> = {
  running: 'running',
  paused: 'paused',
  'shut-off': 'shut off',
  crashed: 'crashed',
  'in-shutdown': 'in shutdown',
  idle: 'idle',
  pmsuspended: 'pmsuspended',
  'no-state': 'no state',
};

export interface FleetFilter {
  /** undefined: every name. */
  nameGlob: string | undefined;
  /** virsh domstate words; undefined: every state. */
  states: Set<string> | undefined;
}

/** Whether `name` matches `glob`, in O(name × glob) at worst (no regex, so no backtracking blow-up). */
export function globMatch(glob: string, name: string): boolean {
  let g = 0;
  let n = 0;
  let starG = -1;
  let starN = 0;
  while (n < name.length) {
    if (g < glob.length && (glob[g] === '?' || (glob[g] !== '*' && glob[g] === name[n]))) {
      g++;
      n++;
    } else if (g < glob.length && glob[g] === '*') {
      starG = g++;
      starN = n;
    } else if (starG >= 0) {
      g = starG + 1;
      n = ++starN;
    } else return false;
  }
  while (g < glob.length && glob[g] === '*') g++;
  return g === glob.length;
}

export function parseNameGlob(text: string): string {
  if (text === '' || text.length > MAX_NAME_GLOB_CHARS || /[\x00-\x1f\x7f]/.test(text)) {
    throw new VcpuctlError('USAGE', `--name wants a glob of 1 to ${MAX_NAME_GLOB_CHARS} printable characters (e.g. 'web*'), got "${printable(text)}"`);
  }
  return text;
}

/** `--state running,shut-off` (repeatable): the virsh words, or USAGE naming the accepted ones. */
export function parseStates(texts: string[]): Set<string> {
  const out = new Set<string>();
  for (const word of texts.flatMap((t) => t.split(','))) {
    const w = STATE_WORDS[word.trim()];
    if (!w) throw new VcpuctlError('USAGE', `--state wants one of ${Object.keys(STATE_WORDS).join(', ')}, got "${printable(word)}"`);
    out.add(w);
  }
  return out;
}

export function nameSelected(filter: FleetFilter, name: string): boolean {
  return filter.nameGlob === undefined || globMatch(filter.nameGlob, name);
}

export function stateSelected(filter: FleetFilter, state: string): boolean {
  return filter.states === undefined || filter.states.has(state);
}
