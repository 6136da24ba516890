/**
 * The HypervisorDriver: libvirt's RPC where the URI allows it (a local
 * daemon socket, or qemu+ssh://: rpc-transport.ts), virsh where it does not
 * (qemu+tls://, test:///default, a URI with parameters vcpuctl does not
 * interpret) or where the RPC could not be opened the first time. The choice
 * is made once, when the first call opens the connection (rpc-connection.ts);
 * `backend` says which it was. Events follow the same choice (rpc-event-stream.ts).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChannelEntry, DomainSnapshot, GuestAgentVcpu, HypervisorDriver, VcpuTimes } from './driver';
import { Intent, IntentFlags } from '../core/intent';
import { channelMatchXml, channelXml } from './channel-xml';
import { parseGuestVcpus, parseSetVcpus } from './guest-agent';
import { INTENT_KEY, INTENT_NAMESPACE, intentElement } from './intent-xml';
import { NativeUnavailable, RpcConnection } from './rpc-connection';
import { rpcEventStream } from './rpc-event-stream';
import { RpcReader } from './rpc-reader';
import { RpcWriter } from './rpc-writer';
import { nativeTarget } from './rpc-transport';
import { buildSnapshot, QMP_CHARDEVS, QMP_HOTPLUGGABLE } from './snapshot';
import { Virsh, virshQuote } from './virsh';
import { unexpectedOutput, virshError } from './virsh-errors';
import { EventStream, EventStreamHandlers, virshEventStream } from './virsh-events';
import { parseDomstats, stamped, VCPU_STATS_VIRSH_FLAGS, vcpuTimesOf } from './vcpu-stats';

/**
 * How long libvirt waits for qemu-guest-agent (virsh --timeout, seconds).
 * A ping is answered at once by a live qemu-ga; onlining a vCPU takes about
 * 230 ms under TCG, so a whole guest-set-vcpus gets much longer.
 */
export const GUEST_AGENT_PING_TIMEOUT_S = 2;
export const GUEST_AGENT_TIMEOUT_S = 30;

export class VirshDriver implements HypervisorDriver {
  private readonly virsh: Virsh;

  private native: { conn: RpcConnection; read: RpcReader; write: RpcWriter } | undefined;

  /** `native: false` keeps every call on virsh (the tests compare both ways). */
  constructor(
    readonly uri: string,
    private readonly virshBinary = 'virsh',
    opts: { native?: boolean } = {},
  ) {
    this.virsh = new Virsh(uri, virshBinary);
    const target = opts.native === false ? undefined : nativeTarget(uri);
    if (target) {
      const conn = new RpcConnection(target);
      this.native = { conn, read: new RpcReader(conn), write: new RpcWriter(conn) };
    }
  }

  /** Which backend this driver's calls go through: undefined until the first call has chosen (an RPC URI whose connection has not opened yet). */
  get backend(): 'rpc' | 'virsh' | undefined {
    if (!this.native) return 'virsh';
    return this.native.conn.chosen ? 'rpc' : undefined;
  }

  get spawns(): number {
    return this.virsh.spawns;
  }

  /** The virsh commands that read one domain: see snapshotOf. */
  private static inspectCommands(domain: string): string[] {
    const d = `--domain ${virshQuote(domain)}`;
    // State, live XML, persistent XML and QEMU's view of its vCPUs and
    // channels. The QMP commands fail harmlessly on a domain that is not running.
    return [`domstate --reason ${d}`, `dumpxml ${d}`, `dumpxml --inactive ${d}`, `qemu-monitor-command ${d} --cmd ${virshQuote(QMP_HOTPLUGGABLE)}`, `qemu-monitor-command ${d} --cmd ${virshQuote(QMP_CHARDEVS)}`];
  }

  private static readonly INSPECT_OUTPUTS = 5;

  /** Builds a snapshot from the outputs of inspectCommands; undefined when the domain could not be read. */
  private static snapshotOf(outputs: string[]): DomainSnapshot | undefined {
    const [stateOut = '', liveXml = '', configXml = '', qmpOut = '', chardevOut = ''] = outputs;
    if (!stateOut.trim() || !configXml.trim()) return undefined;
    const m = /^(.*?)\s*\((.*)\)\s*$/.exec(stateOut.trim());
    return buildSnapshot({ state: (m?.[1] ?? stateOut).trim(), reason: (m?.[2] ?? '').trim(), liveXml, configXml, hotpluggable: qmpOut, chardevs: chardevOut });
  }

  async inspect(domain: string): Promise<DomainSnapshot> {
    return this.natively(
      (native) => native.read.inspect(domain),
      () => this.inspectViaVirsh(domain),
    );
  }

  private async inspectViaVirsh(domain: string): Promise<DomainSnapshot> {
    // One process for everything status needs.
    const { outputs, stderr } = await this.virsh.batch(VirshDriver.inspectCommands(domain));
    const snap = VirshDriver.snapshotOf(outputs);
    if (!snap) throw virshError(stderr, `cannot inspect domain ${domain}`);
    return snap;
  }

  /**
   * Every call goes over libvirt's RPC when the URI allows (measured in
   * bench/fleet-bench.js and bench/set-floor-bench.js); when the connection
   * cannot be opened the first time, virsh does them from then on, so errors
   * read exactly as virsh words them. NativeUnavailable comes only before
   * anything was sent: a change is never made twice.
   */
  private async natively<T>(call: (native: { read: RpcReader; write: RpcWriter }) => Promise<T>, viaVirsh: () => Promise<T>): Promise<T> {
    if (!this.native) return viaVirsh();
    try {
      return await call(this.native);
    } catch (err) {
      if (!(err instanceof NativeUnavailable)) throw err;
      this.native = undefined;
      return viaVirsh();
    }
  }

  async inspectMany(domains: string[]): Promise<Map<string, DomainSnapshot>> {
    if (domains.length === 0) return new Map();
    return this.natively(
      (native) => native.read.inspectMany(domains),
      () => this.inspectManyViaVirsh(domains),
    );
  }

  private async inspectManyViaVirsh(domains: string[]): Promise<Map<string, DomainSnapshot>> {
    const out = new Map<string, DomainSnapshot>();
    const n = VirshDriver.INSPECT_OUTPUTS;
    const { outputs } = await this.virsh.batch(domains.flatMap((d) => VirshDriver.inspectCommands(d)));
    domains.forEach((d, i) => {
      try {
        const snap = VirshDriver.snapshotOf(outputs.slice(i * n, i * n + n));
        if (snap) out.set(d, snap);
      } catch {
        // one unreadable domain does not hide the others
      }
    });
    return out;
  }

  /**
   * Over the RPC connection (registered events, keepalive, registered again
   * after a reconnection) where the URI allows; a `virsh event` child where it
   * does not, or where the RPC could not be opened the first time (then virsh
   * is this driver's backend for everything, as in natively()).
   */
  events(handlers: EventStreamHandlers): EventStream {
    const viaVirsh = () => virshEventStream(this.uri, handlers, this.virshBinary);
    if (!this.native) return viaVirsh();
    return rpcEventStream(this.native.conn, handlers, () => {
      this.native = undefined;
      return viaVirsh();
    });
  }

  async listDomains(): Promise<string[]> {
    return this.natively(
      (native) => native.read.listDomains(),
      () => this.listDomainsViaVirsh(),
    );
  }

  async close(): Promise<void> {
    await this.native?.conn.close();
  }

  async vcpuTimes(domain: string): Promise<VcpuTimes> {
    return this.natively(
      (native) => native.read.vcpuTimes(domain),
      () => this.vcpuTimesViaVirsh(domain),
    );
  }

  private async vcpuTimesViaVirsh(domain: string): Promise<VcpuTimes> {
    const { value: out, atNs } = await stamped(() => this.one(`domstats ${VCPU_STATS_VIRSH_FLAGS} ${virshQuote(domain)}`, `virsh domstats ${VCPU_STATS_VIRSH_FLAGS} ${domain}`));
    return vcpuTimesOf(parseDomstats(out), atNs, domain);
  }

  private async listDomainsViaVirsh(): Promise<string[]> {
    const out = await this.one('list --all --name', 'virsh list --all --name');
    return out
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  }

  async recordIntent(domain: string, intent: Intent, flags: IntentFlags): Promise<void> {
    return this.natively(
      (native) => native.write.recordIntent(domain, intent, flags),
      () => this.recordIntentViaVirsh(domain, intent, flags),
    );
  }

  private async recordIntentViaVirsh(domain: string, intent: Intent, flags: IntentFlags): Promise<void> {
    const where = [flags.live ? '--live' : '', flags.config ? '--config' : ''].filter(Boolean).join(' ');
    await this.one(
      `metadata --domain ${virshQuote(domain)} --uri ${virshQuote(INTENT_NAMESPACE)} --key ${INTENT_KEY} --set ${virshQuote(intentElement(intent))} ${where}`,
      `virsh metadata ${domain} --set (recording vcpuctl's intent)`,
    );
  }

  private async one(command: string, context: string, timeoutMs?: number): Promise<string> {
    const r = await this.virsh.run([command], timeoutMs);
    if (r.code !== 0 || /^error:/m.test(r.stderr)) throw virshError(r.stderr, context);
    return r.stdout;
  }

  async setVcpus(domain: string, count: number, flags: { live: boolean; config: boolean }): Promise<void> {
    return this.natively(
      (native) => native.write.setVcpus(domain, count, flags),
      () => this.setVcpusViaVirsh(domain, count, flags),
    );
  }

  private async setVcpusViaVirsh(domain: string, count: number, flags: { live: boolean; config: boolean }): Promise<void> {
    const opts = [flags.live ? '--live' : '', flags.config ? '--config' : ''].filter(Boolean).join(' ');
    await this.one(`setvcpus --domain ${virshQuote(domain)} --count ${count} ${opts}`, `virsh setvcpus ${domain} ${count} ${opts}`);
  }

  async setMaximum(domain: string, maximum: number): Promise<void> {
    return this.natively(
      (native) => native.write.setMaximum(domain, maximum),
      () => this.setMaximumViaVirsh(domain, maximum),
    );
  }

  private async setMaximumViaVirsh(domain: string, maximum: number): Promise<void> {
    await this.one(`setvcpus --domain ${virshQuote(domain)} --count ${maximum} --maximum --config`, `virsh setvcpus ${domain} ${maximum} --maximum --config`);
  }

  async shutdown(domain: string): Promise<void> {
    return this.natively(
      (native) => native.write.lifecycle(domain, 'shutdown'),
      () => this.shutdownViaVirsh(domain),
    );
  }

  private async shutdownViaVirsh(domain: string): Promise<void> {
    await this.one(`shutdown --domain ${virshQuote(domain)}`, `virsh shutdown ${domain}`);
  }

  async destroy(domain: string): Promise<void> {
    return this.natively(
      (native) => native.write.lifecycle(domain, 'destroy'),
      () => this.destroyViaVirsh(domain),
    );
  }

  private async destroyViaVirsh(domain: string): Promise<void> {
    await this.one(`destroy --domain ${virshQuote(domain)}`, `virsh destroy ${domain}`);
  }

  async start(domain: string): Promise<void> {
    return this.natively(
      (native) => native.write.lifecycle(domain, 'start'),
      () => this.startViaVirsh(domain),
    );
  }

  private async startViaVirsh(domain: string): Promise<void> {
    await this.one(`start --domain ${virshQuote(domain)}`, `virsh start ${domain}`);
  }

  async uuidOf(domain: string): Promise<string> {
    return this.natively(
      (native) => native.write.uuidOf(domain),
      () => this.uuidOfViaVirsh(domain),
    );
  }

  private async uuidOfViaVirsh(domain: string): Promise<string> {
    const uuid = (await this.one(`domuuid --domain ${virshQuote(domain)}`, `cannot find domain ${domain}`)).trim().toLowerCase();
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uuid)) throw unexpectedOutput('domuuid', uuid);
    return uuid;
  }

  private agentCommand(domain: string, json: string, timeoutS: number): Promise<string> {
    const what = `qemu-guest-agent ${JSON.parse(json).execute} on ${domain}`;
    return this.natively(
      (native) => native.write.agentCommand(domain, json, timeoutS, what),
      () => this.agentCommandViaVirsh(domain, json, timeoutS),
    );
  }

  private agentCommandViaVirsh(domain: string, json: string, timeoutS: number): Promise<string> {
    return this.one(`qemu-agent-command --domain ${virshQuote(domain)} --timeout ${timeoutS} --cmd ${virshQuote(json)}`, `qemu-guest-agent ${JSON.parse(json).execute} on ${domain}`);
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

  async guestAgentInfo(domain: string): Promise<string> {
    return this.agentCommand(domain, '{"execute":"guest-info"}', GUEST_AGENT_PING_TIMEOUT_S);
  }

  async domainXml(domain: string, which: 'live' | 'config'): Promise<string> {
    const inactive = which === 'config';
    return this.natively(
      () => this.native!.conn.with(async (rpc) => rpc.xml(await rpc.lookup(domain), inactive)),
      () => this.one(`dumpxml ${inactive ? '--inactive ' : ''}--domain ${virshQuote(domain)}`, `virsh dumpxml ${inactive ? '--inactive ' : ''}${domain}`),
    );
  }

  /** virsh reads device XML from a file: each one goes through a private temp dir. */
  private async deviceCommands(domain: string, steps: { verb: 'attach-device' | 'detach-device'; xml: string; flags: string }[]): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'vcpuctl-device-'));
    try {
      for (const [i, step] of steps.entries()) {
        const file = join(dir, `channel-${i}.xml`);
        await writeFile(file, step.xml, { mode: 0o600 });
        await this.one(`${step.verb} --domain ${virshQuote(domain)} --file ${virshQuote(file)} ${step.flags}`, `virsh ${step.verb} ${domain} ${step.flags}`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async attachChannel(domain: string, name: string, where: { live: boolean; config: boolean }): Promise<void> {
    return this.natively(
      (native) => native.write.attachChannel(domain, name, where),
      () => this.attachChannelViaVirsh(domain, name, where),
    );
  }

  private async attachChannelViaVirsh(domain: string, name: string, where: { live: boolean; config: boolean }): Promise<void> {
    const flags = [where.live ? '--live' : '', where.config ? '--config' : ''].filter(Boolean).join(' ');
    if (flags) await this.deviceCommands(domain, [{ verb: 'attach-device', xml: channelXml(name), flags }]);
  }

  async detachChannel(domain: string, channel: ChannelEntry, where: { live: boolean; config: boolean }): Promise<void> {
    return this.natively(
      (native) => native.write.detachChannel(domain, channel, where),
      () => this.detachChannelViaVirsh(domain, channel, where),
    );
  }

  private async detachChannelViaVirsh(domain: string, channel: ChannelEntry, where: { live: boolean; config: boolean }): Promise<void> {
    const steps: { verb: 'detach-device'; xml: string; flags: string }[] = [];
    if (where.live) steps.push({ verb: 'detach-device', xml: channelMatchXml(channel.name, channel.path), flags: '--live' });
    if (where.config) steps.push({ verb: 'detach-device', xml: channelMatchXml(channel.name), flags: '--config' });
    await this.deviceCommands(domain, steps);
  }

  /** Local qemu:///system only: libvirt writes /var/log/libvirt/qemu/NAME.log. */
  async qemuLogTail(domain: string, lines: number): Promise<string[]> {
    if (domain.includes('/')) return []; // not a libvirt name: never a path outside the log directory
    try {
      const text = await readFile(`/var/log/libvirt/qemu/${domain}.log`, 'utf8');
      return text.trimEnd().split('\n').slice(-lines);
    } catch {
      return [];
    }
  }
}
