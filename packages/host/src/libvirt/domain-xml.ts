/**
 * Reads the vCPU facts out of `virsh dumpxml` with a strict XML reader (xml-tree.ts). What
 * libvirt should never print (no <domain>, no vCPU count, a current count
 * above the maximum) is reported as libvirt's unexpected output
 * (LIBVIRT_FAILED), not as a vcpuctl bug.
 */
import { Intent } from '../core/intent';
import { ChannelEntry, VcpuConfig, VcpuEntry } from './driver';
import { unexpectedOutput } from './virsh-errors';
import { intentFromMetadata } from './intent-xml';
import { parseXml } from './xml-tree';

const ARRAYS = new Set(['vcpu', 'channel', 'controller']);

interface ParsedDomain {
  name: string;
  uuid: string;
  type: string;
  vcpu: VcpuConfig;
  /** The virtio-serial channels (<channel> with <target type='virtio'>). */
  channels: ChannelEntry[];
  /** Whether a virtio-serial controller exists: libvirt cannot hot-plug one, and a live channel needs it. */
  virtioSerial: boolean;
  /** vcpuctl's recorded intent in <metadata>, if any. */
  intent: Intent | undefined;
  /** libvirt's id of the running domain (`<domain id=...>` in the live XML): a new one at every start of QEMU. */
  runId: number | undefined;
}

type Node = Record<string, unknown>;

/** A count or id libvirt writes as decimal digits. */
function whole(v: unknown, what: string, min: number): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d{1,9}\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw unexpectedOutput('dumpxml', `${what} is ${JSON.stringify(v) ?? 'missing'}`);
  return n;
}

export function parseDomainXml(xml: string): ParsedDomain {
  let doc: { domain?: unknown };
  try {
    doc = parseXml(xml, ARRAYS) as { domain?: unknown };
  } catch (err) {
    throw unexpectedOutput('dumpxml', `not XML: ${(err as Error).message}`);
  }
  const dom = doc.domain;
  if (typeof dom !== 'object' || dom === null) throw unexpectedOutput('dumpxml', `not a libvirt domain XML document: ${xml.slice(0, 80)}`);
  const d = dom as Node;
  const vcpuEl = (d.vcpu as (Node | string | number)[] | undefined)?.[0];
  if (vcpuEl === undefined) throw unexpectedOutput('dumpxml', 'domain XML has no <vcpu> count');
  const maximum = whole(typeof vcpuEl === 'object' ? vcpuEl['#text'] : vcpuEl, '<vcpu>', 1);
  const currentAttr = typeof vcpuEl === 'object' ? vcpuEl['@current'] : undefined;
  const current = currentAttr === undefined ? maximum : whole(currentAttr, '<vcpu current>', 1);
  if (current > maximum) throw unexpectedOutput('dumpxml', `<vcpu current='${current}'> is above the maximum ${maximum}`);
  const rawList = (d.vcpus as Node | undefined)?.vcpu;
  const list = Array.isArray(rawList) ? (rawList as unknown[]) : [];
  const vcpus: VcpuEntry[] = list.map((raw) => {
    const v = (typeof raw === 'object' && raw !== null ? raw : {}) as Node;
    return {
      id: whole(v['@id'], '<vcpus><vcpu id>', 0),
      enabled: v['@enabled'] === 'yes',
      hotpluggable: v['@hotpluggable'] === 'yes',
      order: v['@order'] === undefined ? undefined : whole(v['@order'], '<vcpus><vcpu order>', 0),
    };
  });
  const devices = (typeof d.devices === 'object' && d.devices !== null ? d.devices : {}) as Node;
  const channels: ChannelEntry[] = ((devices.channel as Node[] | undefined) ?? [])
    .map((c) => ({ target: (c.target as Node | undefined) ?? {}, source: (c.source as Node | undefined) ?? {}, alias: (c.alias as Node | undefined)?.['@name'] }))
    .filter(({ target }) => target['@type'] === 'virtio' && typeof target['@name'] === 'string')
    .map(({ target, source, alias }) => ({
      name: String(target['@name']),
      path: typeof source['@path'] === 'string' ? source['@path'] : undefined,
      state: target['@state'] === 'connected' || target['@state'] === 'disconnected' ? target['@state'] : undefined,
      ...(typeof alias === 'string' ? { alias } : {}),
    }));
  const virtioSerial = ((devices.controller as Node[] | undefined) ?? []).some((c) => c['@type'] === 'virtio-serial');
  return {
    name: String(d.name ?? ''),
    uuid: String(d.uuid ?? '').toLowerCase(),
    type: String(d['@type'] ?? ''),
    vcpu: { maximum, current, vcpus },
    channels,
    virtioSerial,
    intent: intentFromMetadata(d.metadata),
    runId: d['@id'] === undefined ? undefined : whole(d['@id'], '<domain id>', 1),
  };
}
