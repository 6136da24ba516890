/**
 * The few libvirt RPC procedures vcpuctl calls, reads and changes, with their
 * arguments laid out as remote_protocol.x and qemu_protocol.x declare them
 * (their numbers, and every other number of libvirt's, are in
 * rpc-protocol.ts, checked against libvirt's own protocol files), and the
 * connection handshake libvirt's own client does: list the auth types, pass
 * polkit if asked, open the URI.
 */
import { VcpuctlError } from '@vcpuctl/proto';
import { RpcClient, RpcTransport } from './rpc-client';
import { DomainEvent } from './event-line';
import { decodeDomainEvent } from './rpc-events';
import {
  DOMAIN_STATE_WORDS,
  QEMU,
  QEMU_PROC,
  REMOTE,
  REMOTE_PROC,
  VIR_DRV_FEATURE,
  VIR_DOMAIN_AFFECT,
  VIR_DOMAIN_METADATA,
  VIR_DOMAIN_STATS,
  VIR_DOMAIN_VCPU,
  VIR_DOMAIN_XML,
  VIR_TYPED_PARAM,
  VIR_UUID_BUFLEN,
} from './rpc-protocol';
import { forCall } from './rpc-errors';
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
    case VIR_TYPED_PARAM.INT:
      return { field, value: r.int() };
    case VIR_TYPED_PARAM.UINT:
      return { field, value: r.uint() };
    case VIR_TYPED_PARAM.LLONG:
      return { field, value: r.hyper() };
    case VIR_TYPED_PARAM.ULLONG:
      return { field, value: r.uhyper() };
    case VIR_TYPED_PARAM.DOUBLE:
      return { field, value: r.double() };
    case VIR_TYPED_PARAM.BOOLEAN:
      return { field, value: r.int() !== 0 };
    case VIR_TYPED_PARAM.STRING:
      return { field, value: r.string() };
    default:
      throw unexpectedOutput('libvirt RPC', `typed parameter ${field} of type ${type}`);
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

/** Where a change applies: virDomainModificationImpact (`--live`, `--config`; neither is the domain's current side). */
export interface Affect {
  live: boolean;
  config: boolean;
}

export function affectFlags(where: Affect): number {
  return (where.live ? VIR_DOMAIN_AFFECT.LIVE : 0) | (where.config ? VIR_DOMAIN_AFFECT.CONFIG : 0);
}

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function uuidText(uuid: Buffer): string {
  const h = uuid.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A registration of domain events on one connection; close() deregisters them. */
export interface EventSubscription {
  close(): Promise<void>;
}

export class LibvirtRpc {
  /** Where each registration's events go, by the callbackID the daemon gave it. */
  private readonly eventSinks = new Map<number, (e: DomainEvent) => void>();
  /** Events that came while a registration's reply was still being read (same chunk): delivered once it is known. */
  private early: { callbackId: number; event: DomainEvent }[] | undefined;

  private constructor(private readonly client: RpcClient) {
    client.onRemoteMessage = (procedure, payload) => {
      const d = decodeDomainEvent(procedure, payload);
      if (!d) return;
      const sink = this.eventSinks.get(d.callbackId);
      if (sink) sink(d.event);
      else this.early?.push(d);
    };
  }

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
    const r = await this.remote(
      REMOTE_PROC.DOMAIN_GET_XML_DESC,
      writeDomain(new XdrWriter(), d)
        .uint(inactive ? VIR_DOMAIN_XML.INACTIVE : 0)
        .bytes(),
      `cannot read the XML of domain ${d.name}`,
    );
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

  /**
   * The domain a user named, as virsh finds it (virshLookupDomainInternal):
   * by id when it is a number, then by UUID when it looks like one, then by
   * name. Not found is DOMAIN_NOT_FOUND in virsh's words, libvirt's after them.
   */
  async lookup(name: string): Promise<RpcDomain> {
    const byDomain = async (proc: number, args: Buffer): Promise<RpcDomain> => readDomain(await this.remote(proc, args, `failed to get domain '${name}'`));
    if (/^\d+$/.test(name) && Number(name) <= 0x7fffffff) {
      const d = await byDomain(REMOTE_PROC.DOMAIN_LOOKUP_BY_ID, new XdrWriter().int(Number(name)).bytes()).catch(() => undefined);
      if (d) return d;
    }
    if (UUID_TEXT.test(name)) {
      const d = await byDomain(REMOTE_PROC.DOMAIN_LOOKUP_BY_UUID, new XdrWriter().fixed(Buffer.from(name.replace(/-/g, ''), 'hex')).bytes()).catch(() => undefined);
      if (d) return d;
    }
    return byDomain(REMOTE_PROC.DOMAIN_LOOKUP_BY_NAME, new XdrWriter().string(name).bytes());
  }

  /** virDomainSetVcpusFlags: the live and/or persistent count, or with `maximum` the persistent maximum. */
  async setVcpus(d: RpcDomain, count: number, where: Affect & { maximum?: boolean }, what = `cannot set ${where.maximum ? 'the maximum' : 'the number'} of vCPUs of domain ${d.name} to ${count}`): Promise<void> {
    const flags = affectFlags(where) | (where.maximum ? VIR_DOMAIN_VCPU.MAXIMUM : 0);
    await this.remote(REMOTE_PROC.DOMAIN_SET_VCPUS_FLAGS, writeDomain(new XdrWriter(), d).uint(count).uint(flags).bytes(), what).catch((err) => {
      throw forCall(err, 'set vcpus');
    });
  }

  /** virDomainSetMetadata with one namespaced element (`virsh metadata --uri URI --key KEY --set XML`). */
  async setMetadataElement(d: RpcDomain, xml: string, key: string, uri: string, where: Affect, what = `cannot set the metadata of domain ${d.name}`): Promise<void> {
    const args = writeDomain(new XdrWriter(), d).int(VIR_DOMAIN_METADATA.ELEMENT).optionalString(xml).optionalString(key).optionalString(uri).uint(affectFlags(where)).bytes();
    await this.remote(REMOTE_PROC.DOMAIN_SET_METADATA, args, what);
  }

  /** virDomainCreate (`virsh start`), virDomainShutdown, virDomainDestroy: a domain and nothing else. */
  async lifecycle(d: RpcDomain, op: 'start' | 'shutdown' | 'destroy', what = `cannot ${op} domain ${d.name}`): Promise<void> {
    const proc = { start: REMOTE_PROC.DOMAIN_CREATE, shutdown: REMOTE_PROC.DOMAIN_SHUTDOWN, destroy: REMOTE_PROC.DOMAIN_DESTROY }[op];
    await this.remote(proc, writeDomain(new XdrWriter(), d).bytes(), what);
  }

  /** virDomainAttachDeviceFlags / DetachDeviceFlags (`virsh attach-device`/`detach-device --file F`). */
  async device(d: RpcDomain, op: 'attach' | 'detach', xml: string, where: Affect, what = `cannot ${op} a device ${op === 'attach' ? 'to' : 'from'} domain ${d.name}`): Promise<void> {
    const proc = op === 'attach' ? REMOTE_PROC.DOMAIN_ATTACH_DEVICE_FLAGS : REMOTE_PROC.DOMAIN_DETACH_DEVICE_FLAGS;
    await this.remote(proc, writeDomain(new XdrWriter(), d).string(xml).uint(affectFlags(where)).bytes(), what);
  }

  /**
   * A qemu-guest-agent command through libvirt (qemu-agent-command): the
   * agent's JSON reply, which comes from inside the guest (guest-agent.ts
   * bounds and checks it). `timeoutS` as virsh's --timeout.
   */
  async agentCommand(d: RpcDomain, command: string, timeoutS: number, what: string): Promise<string> {
    const args = writeDomain(new XdrWriter(), d).string(command).int(timeoutS).uint(0).bytes();
    const r = await this.client.call(QEMU.PROGRAM, QEMU.PROTOCOL_VERSION, QEMU_PROC.DOMAIN_AGENT_COMMAND, args, what).catch((err) => {
      throw forCall(err, 'agent command');
    });
    return r.optional(() => r.string()) ?? '';
  }

  /** A QMP command through libvirt (qemu-monitor-command): its JSON reply. */
  async qemuMonitor(d: RpcDomain, command: string): Promise<string> {
    const args = writeDomain(new XdrWriter(), d).string(command).uint(0).bytes();
    const r = await this.client.call(QEMU.PROGRAM, QEMU.PROTOCOL_VERSION, QEMU_PROC.DOMAIN_MONITOR_COMMAND, args, `qemu-monitor-command on ${d.name}`);
    return r.string();
  }

  /** Whether this side runs keepalive, and how many of the daemon's pings it answered. */
  get keepalive(): { started: boolean; pingsAnswered: number } {
    return { started: this.client.keepalive.started, pingsAnswered: this.client.keepalive.pingsAnswered };
  }

  /** Called once, with the reason, when this connection fails or closes. */
  onFailure(cb: (err: Error) => void): void {
    this.client.onFailure(cb);
  }

  /**
   * Asks the daemon whether it speaks keepalive, as libvirt's client does
   * after opening: that question is what makes the daemon ping this client
   * (and drop it when it stops answering). When it does, this side answers
   * its pings and pings it back when it falls silent (rpc-keepalive.ts).
   */
  async startKeepalive(): Promise<boolean> {
    const r = await this.remote(REMOTE_PROC.CONNECT_SUPPORTS_FEATURE, new XdrWriter().int(VIR_DRV_FEATURE.PROGRAM_KEEPALIVE).bytes(), 'libvirt keepalive');
    const supported = r.int() === 1;
    if (supported) this.client.keepalive.start();
    return supported;
  }

  /**
   * virConnectDomainEventRegisterAny for every domain, once per event id,
   * each event delivered to `deliver` (decoded by rpc-events.ts). The
   * registration keeps the process alive until it is closed.
   */
  async subscribeDomainEvents(eventIds: readonly number[], deliver: (e: DomainEvent) => void): Promise<EventSubscription> {
    const ids: number[] = [];
    const deregister = async () => {
      const mine = ids.splice(0);
      for (const id of mine) this.eventSinks.delete(id);
      await Promise.all(mine.map((id) => this.remote(REMOTE_PROC.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, new XdrWriter().int(id).bytes(), 'deregister libvirt events').catch(() => undefined)));
    };
    this.client.hold();
    this.early = this.early ?? [];
    try {
      for (const eventId of eventIds) {
        // remote_connect_domain_event_callback_register_any_args: the event id, and no domain (all of them).
        const r = await this.remote(REMOTE_PROC.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, new XdrWriter().int(eventId).uint(0).bytes(), `cannot register for libvirt events (id ${eventId})`);
        const id = r.int();
        ids.push(id);
        this.eventSinks.set(id, deliver);
      }
    } catch (err) {
      await deregister();
      this.client.release();
      throw err;
    } finally {
      const early = this.early ?? [];
      this.early = undefined;
      for (const d of early) this.eventSinks.get(d.callbackId)?.(d.event);
    }
    let open = true;
    return {
      close: async () => {
        if (!open) return;
        open = false;
        await deregister();
        this.client.release();
      },
    };
  }

  /** Says goodbye as libvirt's client does, then closes; never throws. */
  async close(): Promise<void> {
    await this.remote(REMOTE_PROC.CONNECT_CLOSE, Buffer.alloc(0), 'close').catch(() => undefined);
    this.client.close();
  }
}
