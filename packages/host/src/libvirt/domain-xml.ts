/** Reads the vCPU facts out of `virsh dumpxml` with a real XML parser. */
import { XMLParser } from 'fast-xml-parser';
import { Intent } from '../core/intent';
import { VcpuConfig, VcpuEntry } from './driver';
import { intentFromMetadata } from './intent-xml';

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (name) => name === 'vcpu' });

interface ParsedDomain {
  name: string;
  uuid: string;
  type: string;
  vcpu: VcpuConfig;
  /** vcpuctl's recorded intent in <metadata>, if any. */
  intent: Intent | undefined;
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
  return {
    name: String(dom.name ?? ''),
    uuid: String(dom.uuid ?? '').toLowerCase(),
    type: String(dom['@type'] ?? ''),
    vcpu: { maximum, current: currentAttr === undefined ? maximum : Number(currentAttr), vcpus },
    intent: intentFromMetadata(dom.metadata),
  };
}
