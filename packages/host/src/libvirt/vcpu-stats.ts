/**
 * The vCPU group of libvirt's domain stats (vcpu.current, vcpu.maximum,
 * vcpu.N.state, vcpu.N.time, ...) as VcpuTimes, from either reader: the
 * RPC's typed parameters (rpc-reader.ts) or the lines of
 * `virsh domstats --vcpu DOM` (virsh-backend.ts), so both give the same value.
 */
import { VcpuctlError } from '@vcpuctl/proto';
import { VcpuTime, VcpuTimes } from './driver';
import { VIR_DOMAIN, VIR_DOMAIN_STATS } from './rpc-protocol';
import { unexpectedOutput } from './virsh-errors';

/** The stats' values by field name, as either reader gives them. */
export type StatFields = Map<string, string | number | bigint | boolean>;

/**
 * virsh domstats' lines: `Domain: 'NAME'`, then `  field=value` per
 * parameter. One domain asked, one record read; the first record's fields.
 */
export function parseDomstats(text: string): StatFields {
  const fields: StatFields = new Map();
  let records = 0;
  for (const line of text.split('\n')) {
    if (/^Domain: /.test(line)) {
      if (++records > 1) break;
      continue;
    }
    const m = /^\s+([\w.-]+)=(.*)$/.exec(line);
    if (m) fields.set(m[1]!, m[2]!);
  }
  return fields;
}

function integer(fields: StatFields, name: string): bigint | undefined {
  const v = fields.get(name);
  if (v === undefined) return undefined;
  const text = String(v);
  if (!/^\d{1,20}$/.test(text)) throw unexpectedOutput('domain stats', `${name}=${text}`);
  return BigInt(text);
}

/** The groups both readers ask for: the state group says whether per-vCPU figures can exist. */
export const VCPU_STATS_GROUPS = VIR_DOMAIN_STATS.STATE | VIR_DOMAIN_STATS.VCPU;
export const VCPU_STATS_VIRSH_FLAGS = '--state --vcpu';

/** virDomainState values with vCPU threads behind them: running, paused (their threads exist and are accounted). */
const STATES_WITH_THREADS = new Set([BigInt(VIR_DOMAIN.RUNNING), BigInt(VIR_DOMAIN.PAUSED)]);

/**
 * VcpuTimes from one domain's stats (groups VCPU_STATS_GROUPS). A domain
 * that is not running still has vcpu.current and vcpu.maximum (from its
 * definition) but no vcpu.N.*: that is DOMAIN_NOT_RUNNING, not a parse error.
 */
export function vcpuTimesOf(fields: StatFields, atNs: bigint, domain: string): VcpuTimes {
  const current = integer(fields, 'vcpu.current');
  const maximum = integer(fields, 'vcpu.maximum');
  const state = integer(fields, 'state.state');
  if (current === undefined || maximum === undefined) throw unexpectedOutput('domain stats', `no vcpu.current or vcpu.maximum for ${domain}`);
  if (state === undefined || !STATES_WITH_THREADS.has(state)) throw new VcpuctlError('DOMAIN_NOT_RUNNING', `domain ${domain} is not running: libvirt has no per-vCPU statistics for it`);
  const vcpus = new Map<number, VcpuTime>();
  for (const name of fields.keys()) {
    const m = /^vcpu\.(\d{1,9})\.time$/.exec(name);
    if (!m) continue;
    const id = Number(m[1]);
    // libvirt names only vCPUs of the domain: an id past the maximum is a broken peer.
    if (id >= Number(maximum)) throw unexpectedOutput('domain stats', `${name} with vcpu.maximum=${maximum}`);
    vcpus.set(id, { state: Number(integer(fields, `vcpu.${id}.state`) ?? 0n), timeNs: integer(fields, name)! });
  }
  return { atNs, current: Number(current), maximum: Number(maximum), vcpus: new Map([...vcpus].sort((a, b) => a[0] - b[0])) };
}

/** Times a read and stamps it with the middle of its round trip. */
export async function stamped<T>(read: () => Promise<T>): Promise<{ value: T; atNs: bigint }> {
  const t0 = process.hrtime.bigint();
  const value = await read();
  const t1 = process.hrtime.bigint();
  return { value, atNs: t0 + (t1 - t0) / 2n };
}
