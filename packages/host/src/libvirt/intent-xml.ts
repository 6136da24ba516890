/**
 * The intent as an element of the domain's <metadata>, in vcpuctl's own XML
 * namespace (libvirt keeps one element per namespace URI, and copies it
 * with the domain on migration).
 */
import { Intent } from '../core/intent';

/** An identifier, never fetched. */
export const INTENT_NAMESPACE = 'https://vcpuctl.dev/xmlns/intent/1';
/** The namespace prefix virsh writes (`--key`). */
export const INTENT_KEY = 'vcpuctl';

/** A cpulist of thousands of CPUs fits easily; anything longer is not ours. */
const MAX_ATTRIBUTE_CHARS = 4096;

const escapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The element virsh metadata --set takes (no namespace on it: virsh adds it from --uri and --key). */
export function intentElement(i: Intent): string {
  const attrs: [string, string | number | undefined][] = [
    ['online', i.online],
    ['cpus', i.cpus],
    ['operation', i.operation],
    ['strategy', i.strategy],
    ['at', i.at],
    ['report', i.report],
    ['run', i.runId],
  ];
  return `<intent ${attrs
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}="${escapeAttr(String(v))}"`)
    .join(' ')}/>`;
}

type Node = Record<string, unknown>;

/** The attributes of an intent element however it is prefixed; undefined when it is not a usable intent. */
function fromAttributes(el: Node): Intent | undefined {
  const get = (k: string) => {
    const v = el[`@${k}`];
    return typeof v === 'string' && v.length <= MAX_ATTRIBUTE_CHARS ? v : undefined;
  };
  const online = Number(get('online'));
  const at = get('at');
  if (!Number.isInteger(online) || online < 1 || !at) return undefined;
  const cpus = get('cpus');
  const report = get('report');
  const runId = Number(get('run'));
  return {
    online,
    ...(cpus ? { cpus } : {}),
    operation: get('operation') ?? 'unknown',
    strategy: get('strategy') ?? 'unknown',
    at,
    ...(report ? { report } : {}),
    ...(Number.isSafeInteger(runId) && runId > 0 ? { runId } : {}),
  };
}

/**
 * Finds vcpuctl's intent among a parsed <metadata>'s children, by namespace
 * URI rather than prefix (another tool may have written it with its own).
 */
export function intentFromMetadata(metadata: unknown): Intent | undefined {
  if (!metadata || typeof metadata !== 'object') return undefined;
  for (const [name, value] of Object.entries(metadata as Node)) {
    const els = Array.isArray(value) ? value : [value];
    for (const el of els) {
      if (!el || typeof el !== 'object') continue;
      const node = el as Node;
      const colon = name.indexOf(':');
      const prefix = colon >= 0 ? name.slice(0, colon) : '';
      const local = colon >= 0 ? name.slice(colon + 1) : name;
      const ns = node[prefix ? `@xmlns:${prefix}` : '@xmlns'];
      if (local === 'intent' && ns === INTENT_NAMESPACE) return fromAttributes(node);
    }
  }
  return undefined;
}
