/**
 * The few libvirt RPC procedures vcpuctl reads with (their numbers, and every
 * other number of libvirt's, are in rpc-protocol.ts, checked against libvirt's
 * own protocol files), and the connection handshake libvirt's own client
 * does: list the auth types, pass polkit if asked, open the URI.
 */
import { VcpuctlError } from '@vcpuctl/proto';
import { RpcClient, RpcTransport } from './rpc-client';
import { DOMAIN_STATE_WORDS, QEMU, QEMU_PROC, REMOTE, REMOTE_PROC, VIR_DOMAIN_STATS, VIR_DOMAIN_XML, VIR_TYPED_PARAM, VIR_UUID_BUFLEN } from './rpc-protocol';
import { XdrReader, XdrWriter } from './rpc-xdr';
import { unexpectedOutput } from './virsh-errors';

/** The stats groups by vcpuctl's earlier names (index.ts exports them). */
export const DOMAIN_STATS_STATE = VIR_DOMAIN_STATS.STATE;
export const DOMAIN_STATS_VCPU = VIR_DOMAIN_STATS.VCPU;

/**
 * Parameters in one domain's stats record: libvirt 9.0's bound
 * (REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX, 262144), which the daemon enforces
 * before sending. vcpuctl asks for the state and vCPU groups: 2 + 2 + at most
 * 5 per plugged vCPU (state, time, wait, delay, halted), far below it.
 */
export const DOMAIN_STATS_PARAMS_MAX = REMOTE.CONNECT_GET_ALL_DOMAIN_STATS_MAX;

/** A virTypedParameter as the RPC carries it (remote_typed_param). */
export interface TypedParam {
  field: string;
  /** int and uint as numbers, llong and ullong as bigints, boolean, double, string. */
  value: number | bigint | boolean | string;
}

/** remote_typed_param: a name (shorter than VIR_TYPED_PARAM_FIELD_LENGTH), then a union on virTypedParameterType. */
function readTypedParam(r: XdrReader): TypedParam {
  const field = r.string(VIR_TYPED_PARAM.FIELD_LENGTH);
  const type = r.int();
  switch (type) {
    case VIR_TYPED_PARAM.INT: return { field, value: r.int() };
    case VIR_TYPED_PARAM.UINT: return { field, value: r.uint() };
    case VIR_TYPED_PARAM.LLONG: return { field, value: r.hyper() };
    case VIR_TYPED_PARAM.ULLONG: return { field, value: r.uhyper() };
    case VIR_TYPED_PARAM.DOUBLE: return { field, value: r.double() };
    case VIR_TYPED_PARAM.BOOLEAN: return { field, value: r.int() !== 0 };
    case VIR_TYPED_PARAM.STRING: return { field, value: r.string() };
    default: throw unexpectedOutput('libvirt RPC', `typed parameter ${field} of type ${type}`);
  }
}

/** A domain as libvirt's RPC names it (remote_nonnull_domain). */
export interface RpcDomain {
  name: string;
  uuid: Buffer;
  /** -1 when not running. */
  id: number;
}

/** The state as virsh words it: ["running", "booted"]; numbers virsh does not know are "no state" and "unknown", as in virsh. */
export function stateWords(state: number, reason: number): { state: string; reason: string } {
  const s = DOMAIN_STATE_WORDS[state] ?? DOMAIN_STATE_WORDS[0]!;
  return { state: s.state, reason: s.reasons[reason] ?? 'unknown' };
}

/** The daemon asks for an auth type other than none or polkit (which lets root through): SASL needs a user's credentials. */
export class AuthNotSupported extends Error {}

function writeDomain(w: XdrWriter, d: RpcDomain): XdrWriter {
  return w.string(d.name).fixed(d.uuid).int(d.id);
}

function readDomain(r: XdrReader): RpcDomain {
  return { name: r.string(), uuid: Buffer.from(r.fixed(VIR_UUID_BUFLEN)), id: r.int() };
}

export function uuidText(uuid: Buffer): string {
  const h = uuid.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class LibvirtRpc {
  private constructor(private readonly client: RpcClient) {}

  /** Handshake as libvirt's client does it; `name` is the URI the daemon opens (qemu:///system). */
  static async open(transport: RpcTransport, name: string): Promise<LibvirtRpc> {
    const rpc = new LibvirtRpc(new RpcClient(transport));
    try {
      const auth = await rpc.remote(REMOTE_PROC.AUTH_LIST, Buffer.alloc(0), 'libvirt auth list');
      const types = auth.array(() => auth.int(), REMOTE.AUTH_TYPE_LIST_MAX);
      if (types.length > 0 && !types.includes(REMOTE.AUTH_NONE)) {
        if (!types.includes(REMOTE.AUTH_POLKIT)) throw new AuthNotSupported(`libvirt asks for auth types ${types.join(',')}`);
        const r = await rpc.remote(REMOTE_PROC.AUTH_POLKIT, Buffer.alloc(0), 'libvirt polkit auth');
        if (r.int() !== 1) throw new VcpuctlError('LIBVIRT_UNREACHABLE', 'libvirt polkit authentication did not complete');
      }
      await rpc.remote(REMOTE_PROC.CONNECT_OPEN, new XdrWriter().optionalString(name).uint(0).bytes(), `cannot open ${name}`);
    } catch (err) {
      rpc.client.close();
      throw err;
    }
    return rpc;
  }

  private remote(proc: number, args: Buffer, what: string): Promise<XdrReader> {
    return this.client.call(REMOTE.PROGRAM, REMOTE.PROTOCOL_VERSION, proc, args, what);
  }

  /** Every domain, running or not (virConnectListAllDomains with no filter). */
  async listAllDomains(): Promise<RpcDomain[]> {
    const r = await this.remote(REMOTE_PROC.CONNECT_LIST_ALL_DOMAINS, new XdrWriter().int(1).uint(0).bytes(), 'cannot list domains');
    return r.array(() => readDomain(r));
  }

  async state(d: RpcDomain): Promise<{ state: string; reason: string }> {
    const r = await this.remote(REMOTE_PROC.DOMAIN_GET_STATE, writeDomain(new XdrWriter(), d).uint(0).bytes(), `cannot get the state of domain ${d.name}`);
    return stateWords(r.int(), r.int());
  }

  /** The live XML, or with `inactive` the persistent config's (dumpxml [--inactive]). */
  async xml(d: RpcDomain, inactive: boolean): Promise<string> {
    const r = await this.remote(REMOTE_PROC.DOMAIN_GET_XML_DESC, writeDomain(new XdrWriter(), d).uint(inactive ? VIR_DOMAIN_XML.INACTIVE : 0).bytes(), `cannot read the XML of domain ${d.name}`);
    return r.string();
  }

  /**
   * virDomainListGetStats for these domains (what `virsh domstats --state --vcpu DOM`
   * asks): each domain's typed parameters of the `stats` groups.
   */
  async domainStats(doms: RpcDomain[], stats: number): Promise<{ domain: RpcDomain; params: TypedParam[] }[]> {
    const w = new XdrWriter().uint(doms.length);
    for (const d of doms) writeDomain(w, d);
    const what = `cannot read the statistics of domain ${doms.map((d) => d.name).join(', ')}`;
    const r = await this.remote(REMOTE_PROC.CONNECT_GET_ALL_DOMAIN_STATS, w.uint(stats).uint(0).bytes(), what);
    return r.array(() => ({ domain: readDomain(r), params: r.array(() => readTypedParam(r), DOMAIN_STATS_PARAMS_MAX) }));
  }

  /** A QMP command through libvirt (qemu-monitor-command): its JSON reply. */
  async qemuMonitor(d: RpcDomain, command: string): Promise<string> {
    const args = writeDomain(new XdrWriter(), d).string(command).uint(0).bytes();
    const r = await this.client.call(QEMU.PROGRAM, QEMU.PROTOCOL_VERSION, QEMU_PROC.DOMAIN_MONITOR_COMMAND, args, `qemu-monitor-command on ${d.name}`);
    return r.string();
  }

  /** Says goodbye as libvirt's client does, then closes; never throws. */
  async close(): Promise<void> {
    await this.remote(REMOTE_PROC.CONNECT_CLOSE, Buffer.alloc(0), 'close').catch(() => undefined);
    this.client.close();
  }
}
