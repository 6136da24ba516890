/** The HypervisorDriver over virsh. */
import { readFile } from 'node:fs/promises';
import { DomainSnapshot, HypervisorDriver, QemuView } from './driver';
import { Intent, IntentFlags } from '../core/intent';
import { parseDomainXml } from './domain-xml';
import { INTENT_KEY, INTENT_NAMESPACE, intentElement } from './intent-xml';
import { parseHotpluggableCpus } from './qemu-monitor';
import { Virsh, virshQuote } from './virsh';
import { virshError } from './virsh-errors';
import { EventStream, EventStreamHandlers, virshEventStream } from './virsh-events';

const QMP_HOTPLUGGABLE = '{"execute":"query-hotpluggable-cpus"}';

export class VirshDriver implements HypervisorDriver {
  private readonly virsh: Virsh;

  constructor(readonly uri: string, private readonly virshBinary = 'virsh') {
    this.virsh = new Virsh(uri, virshBinary);
  }

  get spawns(): number {
    return this.virsh.spawns;
  }

  private static inspectCommands(domain: string): string[] {
    const d = virshQuote(domain);
    // State, live XML, persistent XML and QEMU's view. The QMP command fails
    // harmlessly on a domain that is not running.
    return [`domstate --reason ${d}`, `dumpxml ${d}`, `dumpxml --inactive ${d}`, `qemu-monitor-command ${d} ${virshQuote(QMP_HOTPLUGGABLE)}`];
  }

  /** Builds a snapshot from the four outputs of inspectCommands; undefined when the domain could not be read. */
  private static snapshotOf(outputs: string[]): DomainSnapshot | undefined {
    const [stateOut = '', liveXml = '', configXml = '', qmpOut = ''] = outputs;
    if (!stateOut.trim() || !configXml.trim()) return undefined;
    const m = /^(.*?)\s*\((.*)\)\s*$/.exec(stateOut.trim());
    const state = (m?.[1] ?? stateOut).trim();
    const reason = (m?.[2] ?? '').trim();
    const config = parseDomainXml(configXml);
    const running = state === 'running' || state === 'paused';
    const live = running && liveXml.trim() ? parseDomainXml(liveXml) : undefined;
    let qemu: QemuView | undefined;
    if (running && qmpOut.trim().startsWith('{')) {
      try {
        qemu = parseHotpluggableCpus(qmpOut);
      } catch {
        qemu = undefined;
      }
    }
    return {
      domain: {
        name: config.name, uuid: config.uuid, state, reason, live: live?.vcpu, config: config.vcpu, type: config.type,
        intent: live ? live.intent : config.intent, configIntent: config.intent,
      },
      qemu,
    };
  }

  async inspect(domain: string): Promise<DomainSnapshot> {
    // One process for everything status needs.
    const { outputs, stderr } = await this.virsh.batch(VirshDriver.inspectCommands(domain));
    const snap = VirshDriver.snapshotOf(outputs);
    if (!snap) throw virshError(stderr, `cannot inspect domain ${domain}`);
    return snap;
  }

  async inspectMany(domains: string[]): Promise<Map<string, DomainSnapshot>> {
    const out = new Map<string, DomainSnapshot>();
    if (domains.length === 0) return out;
    const { outputs } = await this.virsh.batch(domains.flatMap((d) => VirshDriver.inspectCommands(d)));
    domains.forEach((d, i) => {
      try {
        const snap = VirshDriver.snapshotOf(outputs.slice(i * 4, i * 4 + 4));
        if (snap) out.set(d, snap);
      } catch {
        // one unreadable domain does not hide the others
      }
    });
    return out;
  }

  events(handlers: EventStreamHandlers): EventStream {
    return virshEventStream(this.uri, handlers, this.virshBinary);
  }

  async listDomains(): Promise<string[]> {
    const out = await this.one('list --all --name', 'virsh list --all --name');
    return out.split('\n').map((l) => l.trim()).filter(Boolean);
  }

  async recordIntent(domain: string, intent: Intent, flags: IntentFlags): Promise<void> {
    const where = [flags.live ? '--live' : '', flags.config ? '--config' : ''].filter(Boolean).join(' ');
    await this.one(
      `metadata ${virshQuote(domain)} --uri ${virshQuote(INTENT_NAMESPACE)} --key ${INTENT_KEY} --set ${virshQuote(intentElement(intent))} ${where}`,
      `virsh metadata ${domain} --set (recording vcpuctl's intent)`,
    );
  }

  private async one(command: string, context: string, timeoutMs?: number): Promise<string> {
    const r = await this.virsh.run([command], timeoutMs);
    if (r.code !== 0 || /^error:/m.test(r.stderr)) throw virshError(r.stderr, context);
    return r.stdout;
  }

  async setVcpus(domain: string, count: number, flags: { live: boolean; config: boolean }): Promise<void> {
    const opts = [flags.live ? '--live' : '', flags.config ? '--config' : ''].filter(Boolean).join(' ');
    await this.one(`setvcpus ${virshQuote(domain)} ${count} ${opts}`, `virsh setvcpus ${domain} ${count} ${opts}`);
  }

  async setMaximum(domain: string, maximum: number): Promise<void> {
    await this.one(`setvcpus ${virshQuote(domain)} ${maximum} --maximum --config`, `virsh setvcpus ${domain} ${maximum} --maximum --config`);
  }

  async shutdown(domain: string): Promise<void> {
    await this.one(`shutdown ${virshQuote(domain)}`, `virsh shutdown ${domain}`);
  }

  async destroy(domain: string): Promise<void> {
    await this.one(`destroy ${virshQuote(domain)}`, `virsh destroy ${domain}`);
  }

  async start(domain: string): Promise<void> {
    await this.one(`start ${virshQuote(domain)}`, `virsh start ${domain}`);
  }

  /** Local qemu:///system only: libvirt writes /var/log/libvirt/qemu/NAME.log. */
  async qemuLogTail(domain: string, lines: number): Promise<string[]> {
    try {
      const text = await readFile(`/var/log/libvirt/qemu/${domain}.log`, 'utf8');
      return text.trimEnd().split('\n').slice(-lines);
    } catch {
      return [];
    }
  }
}
