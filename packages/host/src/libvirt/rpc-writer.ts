/**
 * vcpuctl's changes over libvirt's RPC, on the reads' connection
 * (rpc-connection.ts): the same libvirt calls virsh makes for the same
 * commands (setvcpus, metadata --set, start/shutdown/destroy,
 * attach-device/detach-device), without a process or, over qemu+ssh://, an
 * ssh handshake per change. Each names the domain as virsh does (by id, UUID
 * or name) and then acts on it by UUID, as libvirt's own client does. An
 * error reads as on the virsh path: the command an operator would type, then
 * libvirt's message (classified by number, rpc-errors.ts).
 */
import { Intent, IntentFlags } from '../core/intent';
import { ChannelEntry } from './driver';
import { channelMatchXml, channelXml } from './channel-xml';
import { INTENT_KEY, INTENT_NAMESPACE, intentElement } from './intent-xml';
import { RpcConnection } from './rpc-connection';
import { Affect, LibvirtRpc, RpcDomain, uuidText } from './rpc-procedures';
import { virshAffectWords } from './virsh';

export class RpcWriter {
  constructor(private readonly conn: RpcConnection) {}

  private on<T>(domain: string, act: (rpc: LibvirtRpc, d: RpcDomain) => Promise<T>): Promise<T> {
    return this.conn.with(async (rpc) => act(rpc, await rpc.lookup(domain)));
  }

  async uuidOf(domain: string): Promise<string> {
    return this.on(domain, async (_rpc, d) => uuidText(d.uuid));
  }

  async setVcpus(domain: string, count: number, where: Affect): Promise<void> {
    await this.on(domain, (rpc, d) => rpc.setVcpus(d, count, where, `virsh setvcpus ${domain} ${count} ${virshAffectWords(where)}`));
  }

  /** The persistent maximum (`setvcpus --maximum --config`): it takes effect from the next start. */
  async setMaximum(domain: string, maximum: number): Promise<void> {
    await this.on(domain, (rpc, d) => rpc.setVcpus(d, maximum, { live: false, config: true, maximum: true }, `virsh setvcpus ${domain} ${maximum} --maximum --config`));
  }

  async recordIntent(domain: string, intent: Intent, flags: IntentFlags): Promise<void> {
    await this.on(domain, (rpc, d) => rpc.setMetadataElement(d, intentElement(intent), INTENT_KEY, INTENT_NAMESPACE, flags, `virsh metadata ${domain} --set (recording vcpuctl's intent)`));
  }

  /** A qemu-guest-agent command (`virsh qemu-agent-command --timeout`): guest-set-vcpus changes the guest, the others read it. */
  async agentCommand(domain: string, json: string, timeoutS: number, what: string): Promise<string> {
    return this.on(domain, (rpc, d) => rpc.agentCommand(d, json, timeoutS, what));
  }

  async lifecycle(domain: string, op: 'start' | 'shutdown' | 'destroy'): Promise<void> {
    await this.on(domain, (rpc, d) => rpc.lifecycle(d, op, `virsh ${op} ${domain}`));
  }

  async attachChannel(domain: string, name: string, where: Affect): Promise<void> {
    if (!where.live && !where.config) return;
    await this.on(domain, (rpc, d) => rpc.device(d, 'attach', channelXml(name), where, `virsh attach-device ${domain} ${virshAffectWords(where)}`));
  }

  /** The live side is matched by the socket path libvirt gave it, the persistent one by name: two calls, as virsh's two. */
  async detachChannel(domain: string, channel: ChannelEntry, where: Affect): Promise<void> {
    await this.on(domain, async (rpc, d) => {
      if (where.live) await rpc.device(d, 'detach', channelMatchXml(channel.name, channel.path), { live: true, config: false }, `virsh detach-device ${domain} --live`);
      if (where.config) await rpc.device(d, 'detach', channelMatchXml(channel.name), { live: false, config: true }, `virsh detach-device ${domain} --config`);
    });
  }
}
