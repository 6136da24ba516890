/**
 * The domain XML facts `vcpuctl doctor` judges (core/doctor/): where a
 * hot-added vCPU will run and how the guest will see it. `<cputune>`'s
 * vcpupin and emulatorpin, `<cpu><numa>` cells, `<cpu><topology>`, and the
 * vCPU ids that are enabled now. Read from the XML string the driver fetches
 * with the strict reader domain-xml.ts uses (the counts come from it too, so
 * both refuse the same malformed document the same way).
 */
import { MAX_CPU_INDEX } from '@vcpuctl/proto';
import { parseDomainXml } from './domain-xml';
import { unexpectedOutput } from './virsh-errors';
import { parseXml, XmlNode, XmlValue } from './xml-tree';

const ARRAYS = new Set(['vcpupin', 'cell']);

export interface VcpuPin {
  vcpu: number;
  /** libvirt's cpuset text, as written ("0-3,^2"). */
  cpuset: string;
}

export interface NumaCell {
  id: number;
  /** The guest vCPU ids of the cell. */
  cpus: number[];
}

/** `<cpu><topology>`: vCPU id i sits in socket floor(i / (dies × cores × threads)). */
export interface CpuTopology {
  sockets: number;
  dies: number;
  cores: number;
  threads: number;
}

export interface DomainRisksXml {
  maximum: number;
  current: number;
  /** The vCPU ids enabled now, ascending (from `<vcpus>`, else 0..current-1). */
  enabled: number[];
  /** The ids libvirt enables next on a hot-add, in the order it does (the lowest disabled id first). */
  disabled: number[];
  /** `<vcpu cpuset>`: where a vCPU without its own vcpupin runs; absent: any host CPU. */
  vcpuCpuset?: string;
  /** `<vcpu placement>`: static, or auto (numad decides). */
  placement?: string;
  pins: VcpuPin[];
  emulatorpin?: string;
  numaCells: NumaCell[];
  /** Absent when the XML has none (libvirt then starts QEMU with one socket per vCPU). */
  topology?: CpuTopology;
}

function node(v: XmlValue | undefined): XmlNode | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : undefined;
}

function list(v: XmlValue | undefined): XmlNode[] {
  return (Array.isArray(v) ? v : v === undefined ? [] : [v]).map((x) => node(x as XmlValue) ?? {});
}

function whole(v: XmlValue | undefined, what: string, min: number): number {
  const n = typeof v === 'string' && /^\s*\d{1,9}\s*$/.test(v) ? Number(v) : NaN;
  if (!(n >= min)) throw unexpectedOutput('dumpxml', `${what} is ${JSON.stringify(v) ?? 'missing'}`);
  return n;
}

/**
 * libvirt's cpuset syntax ("0-3,^2,8"): runs, single ids, and exclusions
 * with "^". Ids above MAX_CPU_INDEX are refused, so a run never expands to
 * more than MAX_CPU_INDEX + 1 numbers.
 */
export function parseLibvirtCpuset(text: string, what: string): number[] {
  const on = new Set<number>();
  const off = new Set<number>();
  for (const raw of text.split(',')) {
    const part = raw.trim();
    const m = /^(\^)?(\d{1,4})(?:-(\d{1,4}))?$/.exec(part);
    if (!m) throw unexpectedOutput('dumpxml', `${what} "${text.slice(0, 80)}" is not a cpuset`);
    const from = Number(m[2]);
    const to = m[3] === undefined ? from : Number(m[3]);
    if (to < from || to > MAX_CPU_INDEX || (m[1] && m[3] !== undefined)) throw unexpectedOutput('dumpxml', `${what} "${text.slice(0, 80)}" is not a cpuset`);
    for (let i = from; i <= to; i++) (m[1] ? off : on).add(i);
  }
  return [...on].filter((i) => !off.has(i)).sort((a, b) => a - b);
}

export function parseDomainRisksXml(xml: string): DomainRisksXml {
  const counts = parseDomainXml(xml);
  const d = node((parseXml(xml, ARRAYS) as XmlNode).domain) ?? {};
  const { maximum, current, vcpus } = counts.vcpu;
  const all = Array.from({ length: maximum }, (_, i) => i);
  const enabled = vcpus.length
    ? vcpus
        .filter((v) => v.enabled)
        .map((v) => v.id)
        .sort((a, b) => a - b)
    : all.slice(0, current);
  const on = new Set(enabled);
  const vcpuEl = node(d.vcpu);
  const tune = node(d.cputune);
  const cpu = node(d.cpu);
  const topo = node(cpu?.topology);
  const numa = node(cpu?.numa);
  return {
    maximum,
    current,
    enabled,
    disabled: all.filter((i) => !on.has(i)),
    ...(typeof vcpuEl?.['@cpuset'] === 'string' ? { vcpuCpuset: vcpuEl['@cpuset'] } : {}),
    ...(typeof vcpuEl?.['@placement'] === 'string' ? { placement: vcpuEl['@placement'] } : {}),
    pins: list(tune?.vcpupin).map((p) => ({ vcpu: whole(p['@vcpu'], '<vcpupin vcpu>', 0), cpuset: String(p['@cpuset'] ?? '') })),
    ...(typeof node(tune?.emulatorpin)?.['@cpuset'] === 'string' ? { emulatorpin: node(tune?.emulatorpin)!['@cpuset'] as string } : {}),
    numaCells: list(numa?.cell).map((c, i) => ({
      id: c['@id'] === undefined ? i : whole(c['@id'], '<numa><cell id>', 0),
      cpus: typeof c['@cpus'] === 'string' && c['@cpus'].trim() ? parseLibvirtCpuset(c['@cpus'], '<numa><cell cpus>') : [],
    })),
    ...(topo
      ? {
          topology: {
            sockets: whole(topo['@sockets'], '<topology sockets>', 1),
            dies: topo['@dies'] === undefined ? 1 : whole(topo['@dies'], '<topology dies>', 1),
            cores: whole(topo['@cores'], '<topology cores>', 1),
            threads: whole(topo['@threads'], '<topology threads>', 1),
          },
        }
      : {}),
  };
}
