/**
 * libvirt through its own RPC: the reads (rpc-reader.ts) and the changes
 * (rpc-writer.ts) on one connection (rpc-connection.ts), with no process per
 * call and, over qemu+ssh://, one ssh for the whole command. Events go over
 * the same connection (rpc-event-stream.ts).
 */
import { Intent, IntentFlags } from '../core/intent';
import { Affect, LibvirtBackend, Lifecycle } from './backend';
import { ChannelEntry, DomainSnapshot, VcpuTimes } from './driver';
import { RpcConnection } from './rpc-connection';
import { RpcReader } from './rpc-reader';
import { NativeTarget } from './rpc-transport';
import { RpcWriter } from './rpc-writer';

export class RpcBackend implements LibvirtBackend {
  readonly name = 'rpc';

  readonly conn: RpcConnection;

  private readonly read: RpcReader;

  private readonly write: RpcWriter;

  constructor(target: NativeTarget) {
    this.conn = new RpcConnection(target);
    this.read = new RpcReader(this.conn);
    this.write = new RpcWriter(this.conn);
  }

  inspect(domain: string): Promise<DomainSnapshot> {
    return this.read.inspect(domain);
  }

  inspectMany(domains: string[]): Promise<Map<string, DomainSnapshot>> {
    return this.read.inspectMany(domains);
  }

  listDomains(): Promise<string[]> {
    return this.read.listDomains();
  }

  vcpuTimes(domain: string): Promise<VcpuTimes> {
    return this.read.vcpuTimes(domain);
  }

  domainXml(domain: string, which: 'live' | 'config'): Promise<string> {
    return this.read.domainXml(domain, which);
  }

  uuidOf(domain: string): Promise<string> {
    return this.write.uuidOf(domain);
  }

  setVcpus(domain: string, count: number, where: Affect): Promise<void> {
    return this.write.setVcpus(domain, count, where);
  }

  setMaximum(domain: string, maximum: number): Promise<void> {
    return this.write.setMaximum(domain, maximum);
  }

  lifecycle(domain: string, op: Lifecycle): Promise<void> {
    return this.write.lifecycle(domain, op);
  }

  recordIntent(domain: string, intent: Intent, flags: IntentFlags): Promise<void> {
    return this.write.recordIntent(domain, intent, flags);
  }

  agentCommand(domain: string, json: string, timeoutS: number, what: string): Promise<string> {
    return this.write.agentCommand(domain, json, timeoutS, what);
  }

  attachChannel(domain: string, name: string, where: Affect): Promise<void> {
    return this.write.attachChannel(domain, name, where);
  }

  detachChannel(domain: string, channel: ChannelEntry, where: Affect): Promise<void> {
    return this.write.detachChannel(domain, channel, where);
  }
}
