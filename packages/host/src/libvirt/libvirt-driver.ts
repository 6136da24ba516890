/**
 * The HypervisorDriver for libvirt: its RPC where the URI allows it (a local
 * daemon socket, or qemu+ssh://: rpc-transport.ts), virsh where it does not
 * (qemu+tls://, test:///default, a URI with parameters vcpuctl does not
 * interpret) or where the RPC could not be opened the first time. The choice
 * is made once, when the first call opens the connection (rpc-connection.ts),
 * and `backend` says which it was. Both backends do every operation
 * (backend.ts); this class only chooses, and adds what is the same both ways.
 */
import { Intent, IntentFlags } from '../core/intent';
import { Affect, LibvirtBackend } from './backend';
import { ChannelEntry, DomainSnapshot, GuestAgentVcpu, HypervisorDriver, VcpuTimes } from './driver';
import { parseGuestVcpus, parseSetVcpus } from './guest-agent';
import { qemuLogTail } from './qemu-log';
import { RpcBackend } from './rpc-backend';
import { NativeUnavailable } from './rpc-connection';
import { rpcEventStream } from './rpc-event-stream';
import { nativeTarget } from './rpc-transport';
import { VirshBackend } from './virsh-backend';
import { EventStream, EventStreamHandlers } from './virsh-events';

/**
 * How long libvirt waits for qemu-guest-agent (virsh --timeout, seconds).
 * A ping is answered at once by a live qemu-ga; onlining a vCPU takes about
 * 230 ms under TCG, so a whole guest-set-vcpus gets much longer.
 */
export const GUEST_AGENT_PING_TIMEOUT_S = 2;
export const GUEST_AGENT_TIMEOUT_S = 30;

export class LibvirtDriver implements HypervisorDriver {
  private rpc: RpcBackend | undefined;

  private readonly virsh: VirshBackend;

  /** `rpc: false` keeps every call on virsh (the tests compare both ways). */
  constructor(
    readonly uri: string,
    virshBinary = 'virsh',
    opts: { rpc?: boolean } = {},
  ) {
    this.virsh = new VirshBackend(uri, virshBinary);
    const target = opts.rpc === false ? undefined : nativeTarget(uri);
    if (target) this.rpc = new RpcBackend(target);
  }

  /** Which backend this driver's calls go through: undefined until the first call has chosen (an RPC URI whose connection has not opened yet). */
  get backend(): 'rpc' | 'virsh' | undefined {
    if (!this.rpc) return 'virsh';
    return this.rpc.conn.chosen ? 'rpc' : undefined;
  }

  get spawns(): number {
    return this.virsh.spawns;
  }

  /**
   * A call through the RPC when the URI allows (measured in bench/fleet-bench.js
   * and bench/set-floor-bench.js); when its connection cannot be opened the
   * first time, through virsh from then on, so errors read exactly as virsh
   * words them. NativeUnavailable comes only before anything was sent: a
   * change is never made twice.
   */
  private async via<T>(call: (b: LibvirtBackend) => Promise<T>): Promise<T> {
    const rpc = this.rpc;
    if (!rpc) return call(this.virsh);
    try {
      return await call(rpc);
    } catch (err) {
      if (!(err instanceof NativeUnavailable)) throw err;
      this.rpc = undefined;
      return call(this.virsh);
    }
  }

  inspect(domain: string): Promise<DomainSnapshot> {
    return this.via((b) => b.inspect(domain));
  }

  async inspectMany(domains: string[]): Promise<Map<string, DomainSnapshot>> {
    if (domains.length === 0) return new Map();
    return this.via((b) => b.inspectMany(domains));
  }

  listDomains(): Promise<string[]> {
    return this.via((b) => b.listDomains());
  }

  vcpuTimes(domain: string): Promise<VcpuTimes> {
    return this.via((b) => b.vcpuTimes(domain));
  }

  uuidOf(domain: string): Promise<string> {
    return this.via((b) => b.uuidOf(domain));
  }

  domainXml(domain: string, which: 'live' | 'config'): Promise<string> {
    return this.via((b) => b.domainXml(domain, which));
  }

  setVcpus(domain: string, count: number, flags: Affect): Promise<void> {
    return this.via((b) => b.setVcpus(domain, count, flags));
  }

  setMaximum(domain: string, maximum: number): Promise<void> {
    return this.via((b) => b.setMaximum(domain, maximum));
  }

  shutdown(domain: string): Promise<void> {
    return this.via((b) => b.lifecycle(domain, 'shutdown'));
  }

  destroy(domain: string): Promise<void> {
    return this.via((b) => b.lifecycle(domain, 'destroy'));
  }

  start(domain: string): Promise<void> {
    return this.via((b) => b.lifecycle(domain, 'start'));
  }

  recordIntent(domain: string, intent: Intent, flags: IntentFlags): Promise<void> {
    return this.via((b) => b.recordIntent(domain, intent, flags));
  }

  attachChannel(domain: string, name: string, where: Affect): Promise<void> {
    return this.via((b) => b.attachChannel(domain, name, where));
  }

  detachChannel(domain: string, channel: ChannelEntry, where: Affect): Promise<void> {
    return this.via((b) => b.detachChannel(domain, channel, where));
  }

  private agentCommand(domain: string, json: string, timeoutS: number): Promise<string> {
    const what = `qemu-guest-agent ${(JSON.parse(json) as { execute: string }).execute} on ${domain}`;
    return this.via((b) => b.agentCommand(domain, json, timeoutS, what));
  }

  async guestAgentPing(domain: string): Promise<void> {
    await this.agentCommand(domain, '{"execute":"guest-ping"}', GUEST_AGENT_PING_TIMEOUT_S);
  }

  async guestAgentVcpus(domain: string): Promise<GuestAgentVcpu[]> {
    return parseGuestVcpus(await this.agentCommand(domain, '{"execute":"guest-get-vcpus"}', GUEST_AGENT_TIMEOUT_S));
  }

  async guestAgentSetVcpus(domain: string, changes: { logicalId: number; online: boolean }[]): Promise<number> {
    const json = JSON.stringify({ execute: 'guest-set-vcpus', arguments: { vcpus: changes.map((c) => ({ 'logical-id': c.logicalId, online: c.online })) } });
    return parseSetVcpus(await this.agentCommand(domain, json, GUEST_AGENT_TIMEOUT_S), changes.length);
  }

  guestAgentInfo(domain: string): Promise<string> {
    return this.agentCommand(domain, '{"execute":"guest-info"}', GUEST_AGENT_PING_TIMEOUT_S);
  }

  /**
   * Over the RPC connection (registered events, keepalive, registered again
   * after a reconnection) where the URI allows; a `virsh event` child where it
   * does not, or where the RPC could not be opened the first time (then virsh
   * is this driver's backend for everything, as in via()).
   */
  events(handlers: EventStreamHandlers): EventStream {
    const rpc = this.rpc;
    if (!rpc) return this.virsh.events(handlers);
    return rpcEventStream(rpc.conn, handlers, () => {
      this.rpc = undefined;
      return this.virsh.events(handlers);
    });
  }

  qemuLogTail(domain: string, lines: number): Promise<string[]> {
    return qemuLogTail(this.uri, domain, lines);
  }

  async close(): Promise<void> {
    await this.rpc?.conn.close();
  }
}
