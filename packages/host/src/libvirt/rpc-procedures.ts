/**
 * The few libvirt RPC procedures vcpuctl reads with, by their numbers in
 * libvirt's src/remote/remote_protocol.x and qemu_protocol.x (stable: libvirt
 * never renumbers a procedure), and the connection handshake libvirt's own
 * client does: list the auth types, pass polkit if asked, open the URI.
 */
import { VcpuctlError } from '@vcpuctl/proto';
import { RpcClient, RpcTransport } from './rpc-client';
import { XdrReader, XdrWriter } from './rpc-xdr';
import { unexpectedOutput } from './virsh-errors';

const REMOTE_PROGRAM = 0x20008086;
const QEMU_PROGRAM = 0x20008087;
const PROTOCOL_VERSION = 1;

const PROC = {
  connectOpen: 1,
  connectClose: 2,
  domainGetXmlDesc: 14,
  authList: 66,
  authPolkit: 70,
  domainGetState: 212,
  connectListAllDomains: 273,
  connectGetAllDomainStats: 344,
} as const;
const QEMU_PROC_MONITOR_COMMAND = 1;

const AUTH_NONE = 0;
const AUTH_POLKIT = 2;
/** virDomainXMLFlags: VIR_DOMAIN_XML_INACTIVE, what `virsh dumpxml --inactive` asks for. */
const XML_INACTIVE = 2;
const UUID_BYTES = 16;
/** libvirt's REMOTE_AUTH_TYPE_LIST_MAX. */
const AUTH_TYPES_MAX = 20;

/** virDomainStatsTypes: VIR_DOMAIN_STATS_STATE and VIR_DOMAIN_STATS_VCPU (`virsh domstats --state --vcpu`). */
export const DOMAIN_STATS_STATE = 1;
export const DOMAIN_STATS_VCPU = 8;

/** libvirt's VIR_TYPED_PARAM_FIELD_LENGTH: a parameter's name is shorter than 80 bytes. */
const TYPED_PARAM_FIELD_MAX = 80;
/**
 * Parameters in one domain's stats record. libvirt 9.0's remote_protocol.x
 * bounds it at 4096 (REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX), which the
 * daemon enforces before sending; the vCPU group is 2 + at most 5 per
 * plugged vCPU (state, time, wait, delay, halted), so 4096 covers 818 vCPUs.
 */
export const DOMAIN_STATS_PARAMS_MAX = 4096;

/** A virTypedParameter as the RPC carries it (remote_typed_param). */
export interface TypedParam {
  field: string;
  /** int and uint as numbers, llong and ullong as bigints, boolean, double, string. */
  value: number | bigint | boolean | string;
}

/** virTypedParameterType: the union's discriminant. */
const enum TypedParamType {
  Int = 1,
  Uint = 2,
  Llong = 3,
  Ullong = 4,
  Double = 5,
  Boolean = 6,
  String = 7,
}

function readTypedParam(r: XdrReader): TypedParam {
  const field = r.string(TYPED_PARAM_FIELD_MAX);
  const type = r.int();
  switch (type) {
    case TypedParamType.Int: return { field, value: r.int() };
    case TypedParamType.Uint: return { field, value: r.uint() };
    case TypedParamType.Llong: return { field, value: r.hyper() };
    case TypedParamType.Ullong: return { field, value: r.uhyper() };
    case TypedParamType.Double: return { field, value: r.double() };
    case TypedParamType.Boolean: return { field, value: r.int() !== 0 };
    case TypedParamType.String: return { field, value: r.string() };
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

/** virsh's words for virDomainState, and for each state its reasons (virsh domstate --reason). */
const STATES = ['no state', 'running', 'idle', 'paused', 'in shutdown', 'shut off', 'crashed', 'pmsuspended'];
const REASONS: Record<string, string[]> = {
  'no state': ['unknown'],
  running: ['unknown', 'booted', 'migrated', 'restored', 'from snapshot', 'unpaused', 'migration canceled', 'save canceled', 'event wakeup', 'crashed', 'post-copy', 'post-copy failed'],
  idle: ['unknown'],
  paused: ['unknown', 'user', 'migrating', 'saving', 'dumping', 'I/O error', 'watchdog', 'from snapshot', 'shutting down', 'creating snapshot', 'crashed', 'starting up', 'post-copy', 'post-copy failed', 'api error'],
  'in shutdown': ['unknown', 'user'],
  'shut off': ['unknown', 'shutdown', 'destroyed', 'crashed', 'migrated', 'saved', 'failed', 'from snapshot', 'daemon'],
  crashed: ['unknown', 'panicked'],
  pmsuspended: ['unknown'],
};

/** The state as virsh words it: ["running", "booted"]. */
export function stateWords(state: number, reason: number): { state: string; reason: string } {
  const s = STATES[state] ?? 'no state';
  return { state: s, reason: REASONS[s]?.[reason] ?? 'unknown' };
}

/** The daemon asks for an auth type other than none or polkit (which lets root through): SASL needs a user's credentials. */
export class AuthNotSupported extends Error {}

function writeDomain(w: XdrWriter, d: RpcDomain): XdrWriter {
  return w.string(d.name).fixed(d.uuid).int(d.id);
}

function readDomain(r: XdrReader): RpcDomain {
  return { name: r.string(), uuid: Buffer.from(r.fixed(UUID_BYTES)), id: r.int() };
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
      const auth = await rpc.remote(PROC.authList, Buffer.alloc(0), 'libvirt auth list');
      const types = auth.array(() => auth.int(), AUTH_TYPES_MAX);
      if (types.length > 0 && !types.includes(AUTH_NONE)) {
        if (!types.includes(AUTH_POLKIT)) throw new AuthNotSupported(`libvirt asks for auth types ${types.join(',')}`);
        const r = await rpc.remote(PROC.authPolkit, Buffer.alloc(0), 'libvirt polkit auth');
        if (r.int() !== 1) throw new VcpuctlError('LIBVIRT_UNREACHABLE', 'libvirt polkit authentication did not complete');
      }
      await rpc.remote(PROC.connectOpen, new XdrWriter().optionalString(name).uint(0).bytes(), `cannot open ${name}`);
    } catch (err) {
      rpc.client.close();
      throw err;
    }
    return rpc;
  }

  private remote(proc: number, args: Buffer, what: string): Promise<XdrReader> {
    return this.client.call(REMOTE_PROGRAM, PROTOCOL_VERSION, proc, args, what);
  }

  /** Every domain, running or not (virConnectListAllDomains with no filter). */
  async listAllDomains(): Promise<RpcDomain[]> {
    const r = await this.remote(PROC.connectListAllDomains, new XdrWriter().int(1).uint(0).bytes(), 'cannot list domains');
    return r.array(() => readDomain(r));
  }

  async state(d: RpcDomain): Promise<{ state: string; reason: string }> {
    const r = await this.remote(PROC.domainGetState, writeDomain(new XdrWriter(), d).uint(0).bytes(), `cannot get the state of domain ${d.name}`);
    return stateWords(r.int(), r.int());
  }

  /** The live XML, or with `inactive` the persistent config's (dumpxml [--inactive]). */
  async xml(d: RpcDomain, inactive: boolean): Promise<string> {
    const r = await this.remote(PROC.domainGetXmlDesc, writeDomain(new XdrWriter(), d).uint(inactive ? XML_INACTIVE : 0).bytes(), `cannot read the XML of domain ${d.name}`);
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
    const r = await this.remote(PROC.connectGetAllDomainStats, w.uint(stats).uint(0).bytes(), what);
    return r.array(() => ({ domain: readDomain(r), params: r.array(() => readTypedParam(r), DOMAIN_STATS_PARAMS_MAX) }));
  }

  /** A QMP command through libvirt (qemu-monitor-command): its JSON reply. */
  async qemuMonitor(d: RpcDomain, command: string): Promise<string> {
    const args = writeDomain(new XdrWriter(), d).string(command).uint(0).bytes();
    const r = await this.client.call(QEMU_PROGRAM, PROTOCOL_VERSION, QEMU_PROC_MONITOR_COMMAND, args, `qemu-monitor-command on ${d.name}`);
    return r.string();
  }

  /** Says goodbye as libvirt's client does, then closes; never throws. */
  async close(): Promise<void> {
    await this.remote(PROC.connectClose, Buffer.alloc(0), 'close').catch(() => undefined);
    this.client.close();
  }
}
