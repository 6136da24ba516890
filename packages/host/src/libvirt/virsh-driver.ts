/** The HypervisorDriver over virsh. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChannelEntry, DomainSnapshot, GuestAgentVcpu, HypervisorDriver, QemuView } from './driver';
import { channelMatchXml, channelXml } from './channel-xml';
import { parseDomainXml } from './domain-xml';
import { parseGuestVcpus, parseSetVcpus } from './guest-agent';
import { parseChardevs, parseHotpluggableCpus, withChardevState } from './qemu-monitor';
import { Virsh, virshQuote } from './virsh';
import { unexpectedOutput, virshError } from './virsh-errors';

const QMP_HOTPLUGGABLE = '{"execute":"query-hotpluggable-cpus"}';
const QMP_CHARDEVS = '{"execute":"query-chardev"}';

/**
 * How long libvirt waits for qemu-guest-agent (virsh --timeout, seconds).
 * A ping is answered at once by a live qemu-ga; onlining a vCPU takes about
 * 230 ms under TCG, so a whole guest-set-vcpus gets much longer.
 */
export const GUEST_AGENT_PING_TIMEOUT_S = 2;
export const GUEST_AGENT_TIMEOUT_S = 30;

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
    // One process: state, live XML, persistent XML and QEMU's view of its
    // vCPUs and channels. The QMP commands fail harmlessly on a domain that
    // is not running.
    const { outputs, stderr } = await this.virsh.batch([
      `domstate --reason ${d}`,
      `dumpxml ${d}`,
      `dumpxml --inactive ${d}`,
      `qemu-monitor-command ${d} --cmd ${virshQuote(QMP_HOTPLUGGABLE)}`,
      `qemu-monitor-command ${d} --cmd ${virshQuote(QMP_CHARDEVS)}`,
    ]);
    const [stateOut = '', liveXml = '', configXml = '', qmpOut = '', chardevOut = ''] = outputs;
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
    let liveChannels = running ? live.channels : [];
    if (running && liveChannels.length && chardevOut.trim().startsWith('{')) {
      try {
        liveChannels = withChardevState(liveChannels, parseChardevs(chardevOut));
      } catch {
        // libvirt's own state attribute stays
      }
    }
    return {
      domain: {
        name: config.name, uuid: config.uuid, state, reason, live: running ? live.vcpu : undefined, config: config.vcpu, type: config.type,
        channels: { live: liveChannels, config: config.channels, liveController: running && live.virtioSerial },
      },
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

  private agentCommand(domain: string, json: string, timeoutS: number): Promise<string> {
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
    const flags = [where.live ? '--live' : '', where.config ? '--config' : ''].filter(Boolean).join(' ');
    if (flags) await this.deviceCommands(domain, [{ verb: 'attach-device', xml: channelXml(name), flags }]);
  }

  async detachChannel(domain: string, channel: ChannelEntry, where: { live: boolean; config: boolean }): Promise<void> {
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
