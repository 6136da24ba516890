/** The HypervisorDriver over virsh. */
import { readFile } from 'node:fs/promises';
import { DomainSnapshot, HypervisorDriver, QemuView } from './driver';
import { parseDomainXml } from './domain-xml';
import { parseHotpluggableCpus } from './qemu-monitor';
import { Virsh, virshQuote } from './virsh';
import { unexpectedOutput, virshError } from './virsh-errors';

const QMP_HOTPLUGGABLE = '{"execute":"query-hotpluggable-cpus"}';

export class VirshDriver implements HypervisorDriver {
  private readonly virsh: Virsh;

  constructor(readonly uri: string, virshBinary?: string) {
    this.virsh = new Virsh(uri, virshBinary);
  }

  get spawns(): number {
    return this.virsh.spawns;
  }

  async inspect(domain: string): Promise<DomainSnapshot> {
    const d = `--domain ${virshQuote(domain)}`;
    // One process: state, live XML, persistent XML and QEMU's view. The QMP
    // command fails harmlessly on a domain that is not running.
    const { outputs, stderr } = await this.virsh.batch([
      `domstate --reason ${d}`,
      `dumpxml ${d}`,
      `dumpxml --inactive ${d}`,
      `qemu-monitor-command ${d} --cmd ${virshQuote(QMP_HOTPLUGGABLE)}`,
    ]);
    const [stateOut = '', liveXml = '', configXml = '', qmpOut = ''] = outputs;
    if (!stateOut.trim() || !configXml.trim()) throw virshError(stderr, `cannot inspect domain ${domain}`);
    const m = /^(.*?)\s*\((.*)\)\s*$/.exec(stateOut.trim());
    const state = (m?.[1] ?? stateOut).trim();
    const reason = (m?.[2] ?? '').trim();
    const live = parseDomainXml(liveXml);
    const config = parseDomainXml(configXml);
    const running = state === 'running' || state === 'paused';
    let qemu: QemuView | undefined;
    if (running && qmpOut.trim().startsWith('{')) {
      try {
        qemu = parseHotpluggableCpus(qmpOut);
      } catch {
        qemu = undefined;
      }
    }
    return {
      domain: { name: config.name, uuid: config.uuid, state, reason, live: running ? live.vcpu : undefined, config: config.vcpu, type: config.type },
      qemu,
    };
  }

  private async one(command: string, context: string, timeoutMs?: number): Promise<string> {
    const r = await this.virsh.run([command], timeoutMs);
    if (r.code !== 0 || /^error:/m.test(r.stderr)) throw virshError(r.stderr, context);
    return r.stdout;
  }

  async setVcpus(domain: string, count: number, flags: { live: boolean; config: boolean }): Promise<void> {
    const opts = [flags.live ? '--live' : '', flags.config ? '--config' : ''].filter(Boolean).join(' ');
    await this.one(`setvcpus --domain ${virshQuote(domain)} --count ${count} ${opts}`, `virsh setvcpus ${domain} ${count} ${opts}`);
  }

  async setMaximum(domain: string, maximum: number): Promise<void> {
    await this.one(`setvcpus --domain ${virshQuote(domain)} --count ${maximum} --maximum --config`, `virsh setvcpus ${domain} ${maximum} --maximum --config`);
  }

  async shutdown(domain: string): Promise<void> {
    await this.one(`shutdown --domain ${virshQuote(domain)}`, `virsh shutdown ${domain}`);
  }

  async destroy(domain: string): Promise<void> {
    await this.one(`destroy --domain ${virshQuote(domain)}`, `virsh destroy ${domain}`);
  }

  async start(domain: string): Promise<void> {
    await this.one(`start --domain ${virshQuote(domain)}`, `virsh start ${domain}`);
  }

  async uuidOf(domain: string): Promise<string> {
    const uuid = (await this.one(`domuuid --domain ${virshQuote(domain)}`, `cannot find domain ${domain}`)).trim().toLowerCase();
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uuid)) throw unexpectedOutput('domuuid', uuid);
    return uuid;
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
