/**
 * The few libvirt RPC procedures vcpuctl reads with, by their numbers in
 * libvirt's src/remote/remote_protocol.x and qemu_protocol.x (stable: libvirt
 * never renumbers a procedure), and the connection handshake libvirt's own
 * client does: list the auth types, pass polkit if asked, open the URI.
 */
import { VcpuctlError } from '@vcpuctl/proto';
import { RpcClient, RpcTransport } from './rpc-client';
import { XdrReader, XdrWriter } from './rpc-xdr';

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
} as const;
const QEMU_PROC_MONITOR_COMMAND = 1;

const AUTH_NONE = 0;
const AUTH_POLKIT = 2;
/** virDomainXMLFlags: VIR_DOMAIN_XML_INACTIVE, what `virsh dumpxml --inactive` asks for. */
const XML_INACTIVE = 2;
const UUID_BYTES = 16;
/** libvirt's REMOTE_AUTH_TYPE_LIST_MAX. */
const AUTH_TYPES_MAX = 20;

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
