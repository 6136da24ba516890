/** Reads the vCPU facts out of `virsh dumpxml` with a real XML parser. */
import { XMLParser } from 'fast-xml-parser';
import { ChannelEntry, VcpuConfig, VcpuEntry } from './driver';

const ARRAYS = new Set(['vcpu', 'channel', 'controller']);
const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (name) => ARRAYS.has(name) });

interface ParsedDomain {
  name: string;
  uuid: string;
  type: string;
  vcpu: VcpuConfig;
  /** The virtio-serial channels (<channel> with <target type='virtio'>). */
  channels: ChannelEntry[];
  /** Whether a virtio-serial controller exists: libvirt cannot hot-plug one, and a live channel needs it. */
  virtioSerial: boolean;
}

type Node = Record<string, unknown>;

export function parseDomainXml(xml: string): ParsedDomain {
  const doc = parser.parse(xml) as { domain?: Node };
  const dom = doc.domain;
  if (!dom) throw new Error('not a libvirt domain XML document');
  const vcpuEl = (dom.vcpu as (Node | string | number)[] | undefined)?.[0];
  const maximum = Number(typeof vcpuEl === 'object' ? vcpuEl['#text'] : vcpuEl);
  const currentAttr = typeof vcpuEl === 'object' ? vcpuEl['@current'] : undefined;
  const list = ((dom.vcpus as Node | undefined)?.vcpu as Node[] | undefined) ?? [];
  const vcpus: VcpuEntry[] = list.map((v) => ({
    id: Number(v['@id']),
    enabled: v['@enabled'] === 'yes',
    hotpluggable: v['@hotpluggable'] === 'yes',
    order: v['@order'] === undefined ? undefined : Number(v['@order']),
  }));
  if (!Number.isInteger(maximum) || maximum < 1) throw new Error('domain XML has no <vcpu> count');
  const devices = (dom.devices as Node | undefined) ?? {};
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
    name: String(dom.name ?? ''),
    uuid: String(dom.uuid ?? '').toLowerCase(),
    type: String(dom['@type'] ?? ''),
    vcpu: { maximum, current: currentAttr === undefined ? maximum : Number(currentAttr), vcpus },
    channels,
    virtioSerial,
  };
}
