/**
 * libvirt through virsh processes, for the URIs its RPC is not spoken for
 * here (qemu+tls://, test:///default, parameters vcpuctl does not interpret:
 * rpc-transport.ts) or when the RPC could not be opened the first time.
 * Reads are batched into one process (virsh.ts); errors are virsh's words,
 * classified by virsh-errors.ts. Events come from a `virsh event` child.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Intent, IntentFlags } from '../core/intent';
import { Affect, LibvirtBackend, Lifecycle } from './backend';
import { channelMatchXml, channelXml } from './channel-xml';
import { ChannelEntry, DomainSnapshot, VcpuTimes } from './driver';
import { INTENT_KEY, INTENT_NAMESPACE, intentElement } from './intent-xml';
import { buildSnapshot, QMP_CHARDEVS, QMP_HOTPLUGGABLE } from './snapshot';
import { parseDomstats, stamped, VCPU_STATS_VIRSH_FLAGS, vcpuTimesOf } from './vcpu-stats';
import { Virsh, virshAffectWords, virshQuote } from './virsh';
import { unexpectedOutput, virshError } from './virsh-errors';
import { EventStream, EventStreamHandlers, virshEventStream } from './virsh-events';

export class VirshBackend implements LibvirtBackend {
  readonly name = 'virsh';

  private readonly virsh: Virsh;

  constructor(
    readonly uri: string,
    private readonly binary = 'virsh',
  ) {
    this.virsh = new Virsh(uri, binary);
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

  private async one(command: string, context: string): Promise<string> {
    const r = await this.virsh.run([command]);
    if (r.code !== 0 || /^error:/m.test(r.stderr)) throw virshError(r.stderr, context);
    return r.stdout;
  }

  async inspect(domain: string): Promise<DomainSnapshot> {
    // One process for everything status needs.
    const { outputs, stderr } = await this.virsh.batch(VirshBackend.inspectCommands(domain));
    const snap = VirshBackend.snapshotOf(outputs);
    if (!snap) throw virshError(stderr, `cannot inspect domain ${domain}`);
    return snap;
  }

  async inspectMany(domains: string[]): Promise<Map<string, DomainSnapshot>> {
    const out = new Map<string, DomainSnapshot>();
    if (domains.length === 0) return out;
    const n = VirshBackend.INSPECT_OUTPUTS;
    const { outputs } = await this.virsh.batch(domains.flatMap((d) => VirshBackend.inspectCommands(d)));
    domains.forEach((d, i) => {
      try {
        const snap = VirshBackend.snapshotOf(outputs.slice(i * n, i * n + n));
        if (snap) out.set(d, snap);
      } catch {
        // one unreadable domain does not hide the others
      }
    });
    return out;
  }

  async listDomains(): Promise<string[]> {
    const out = await this.one('list --all --name', 'virsh list --all --name');
    return out
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  }

  async vcpuTimes(domain: string): Promise<VcpuTimes> {
    const { value: out, atNs } = await stamped(() => this.one(`domstats ${VCPU_STATS_VIRSH_FLAGS} ${virshQuote(domain)}`, `virsh domstats ${VCPU_STATS_VIRSH_FLAGS} ${domain}`));
    return vcpuTimesOf(parseDomstats(out), atNs, domain);
  }

  async uuidOf(domain: string): Promise<string> {
    const uuid = (await this.one(`domuuid --domain ${virshQuote(domain)}`, `cannot find domain ${domain}`)).trim().toLowerCase();
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uuid)) throw unexpectedOutput('domuuid', uuid);
    return uuid;
  }

  domainXml(domain: string, which: 'live' | 'config'): Promise<string> {
    const inactive = which === 'config' ? '--inactive ' : '';
    return this.one(`dumpxml ${inactive}--domain ${virshQuote(domain)}`, `virsh dumpxml ${inactive}${domain}`);
  }

  async setVcpus(domain: string, count: number, where: Affect): Promise<void> {
    await this.one(`setvcpus --domain ${virshQuote(domain)} --count ${count} ${virshAffectWords(where)}`, `virsh setvcpus ${domain} ${count} ${virshAffectWords(where)}`);
  }

  async setMaximum(domain: string, maximum: number): Promise<void> {
    await this.one(`setvcpus --domain ${virshQuote(domain)} --count ${maximum} --maximum --config`, `virsh setvcpus ${domain} ${maximum} --maximum --config`);
  }

  async lifecycle(domain: string, op: Lifecycle): Promise<void> {
    await this.one(`${op} --domain ${virshQuote(domain)}`, `virsh ${op} ${domain}`);
  }

  async recordIntent(domain: string, intent: Intent, flags: IntentFlags): Promise<void> {
    await this.one(
      `metadata --domain ${virshQuote(domain)} --uri ${virshQuote(INTENT_NAMESPACE)} --key ${INTENT_KEY} --set ${virshQuote(intentElement(intent))} ${virshAffectWords(flags)}`,
      `virsh metadata ${domain} --set (recording vcpuctl's intent)`,
    );
  }

  agentCommand(domain: string, json: string, timeoutS: number, what: string): Promise<string> {
    return this.one(`qemu-agent-command --domain ${virshQuote(domain)} --timeout ${timeoutS} --cmd ${virshQuote(json)}`, what);
  }

  async attachChannel(domain: string, name: string, where: Affect): Promise<void> {
    if (where.live || where.config) await this.deviceCommands(domain, [{ verb: 'attach-device', xml: channelXml(name), flags: virshAffectWords(where) }]);
  }

  /** The live side is matched by the socket path libvirt gave it, the persistent one by name. */
  async detachChannel(domain: string, channel: ChannelEntry, where: Affect): Promise<void> {
    const steps: { verb: 'detach-device'; xml: string; flags: string }[] = [];
    if (where.live) steps.push({ verb: 'detach-device', xml: channelMatchXml(channel.name, channel.path), flags: '--live' });
    if (where.config) steps.push({ verb: 'detach-device', xml: channelMatchXml(channel.name), flags: '--config' });
    await this.deviceCommands(domain, steps);
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

  events(handlers: EventStreamHandlers): EventStream {
    return virshEventStream(this.uri, handlers, this.binary);
  }
}
