/**
 * What vcpuctl needs from a hypervisor, as one interface (libvirt's own
 * driver table has the same shape). Every member is there in every driver:
 * libvirt-driver.ts does all of them through either backend (its RPC or
 * virsh), so no command asks what a driver can do.
 */
import { Intent, IntentFlags } from '../core/intent';
import { EventStream, EventStreamHandlers } from './virsh-events';

export interface VcpuEntry {
  id: number;
  enabled: boolean;
  hotpluggable: boolean;
  order: number | undefined;
}

/** One side of libvirt's view: the live (running) or the persistent config. */
export interface VcpuConfig {
  maximum: number;
  current: number;
  /** The per-vCPU <vcpus> list, when libvirt shows one. */
  vcpus: VcpuEntry[];
}

/** A virtio-serial channel of the domain (a guest agent's path to the host). */
export interface ChannelEntry {
  /** The target name the guest sees: org.vcpuctl.agent.0, org.qemu.guest_agent.0, ... */
  name: string;
  /** The host's unix socket, named by libvirt in the live XML only. */
  path: string | undefined;
  /** Whether something in the guest has the port open (QEMU's frontend-open, else libvirt's state); absent when unknown. */
  state: 'connected' | 'disconnected' | undefined;
  /** Whether a host client holds the socket now (QEMU serves one at a time); absent when unknown. */
  hostClient?: boolean;
  /** libvirt's device alias (channel0, ...): QEMU's chardev is "char" + alias. */
  alias?: string;
}

/** The channels of the running domain and of its persistent config. */
export interface ChannelsView {
  live: ChannelEntry[];
  config: ChannelEntry[];
  /** A virtio-serial controller in the running domain (without one, no channel can be added live). */
  liveController: boolean;
}

/** One vCPU as qemu-guest-agent's guest-get-vcpus reports it. */
export interface GuestAgentVcpu {
  logicalId: number;
  online: boolean;
  canOffline: boolean;
}

export interface DomainView {
  name: string;
  uuid: string;
  /** virsh domstate words: running, paused, shut off, crashed, ... */
  state: string;
  /** Why: booted, crashed, shutdown, destroyed, ... */
  reason: string;
  /** undefined when the domain is not running. */
  live: VcpuConfig | undefined;
  config: VcpuConfig;
  /** type attribute of <domain>: qemu, kvm, test, ... */
  type: string;
  /** Absent where the driver does not read devices. */
  channels?: ChannelsView;
  /** vcpuctl's recorded intent: the live domain's when running, else the persistent config's. */
  intent: Intent | undefined;
  /** The persistent config's, which the next start (or another host) will see. */
  configIntent: Intent | undefined;
  /** libvirt's id of the running domain: a new one at every start of QEMU (not at a reboot inside the guest). */
  runId?: number;
}

/** QEMU's own account of its vCPUs (query-hotpluggable-cpus). */
export interface QemuCpuSlot {
  socketId: number | undefined;
  coreId: number | undefined;
  threadId: number | undefined;
  /** A slot with a qom-path holds a plugged vCPU. */
  plugged: boolean;
  qomPath: string | undefined;
}

export interface QemuView {
  slots: QemuCpuSlot[];
  plugged: number;
}

export interface DomainSnapshot {
  domain: DomainView;
  /** undefined when not running or not a QEMU domain. */
  qemu: QemuView | undefined;
}

/** One plugged vCPU in libvirt's domain stats (vcpu.N.state, vcpu.N.time). */
export interface VcpuTime {
  /** virVcpuState: 0 offline, 1 running, 2 blocked (libvirt reports 1 for every plugged QEMU vCPU). */
  state: number;
  /** CPU time its host thread has used, ns (on Linux hosts counted in whole clock ticks: 10 ms steps). */
  timeNs: bigint;
}

/** The hypervisor's own per-vCPU accounting of a running domain (`virsh domstats --state --vcpu`). */
export interface VcpuTimes {
  /**
   * When it was read, on this process's monotonic clock (process.hrtime.bigint(),
   * ns): the middle of the request, so a window between two reads is off by at
   * most half of each round trip.
   */
  atNs: bigint;
  /** vcpu.current and vcpu.maximum. */
  current: number;
  maximum: number;
  /** By libvirt's vCPU id (the N of vcpu.N.*): the plugged vCPUs only. */
  vcpus: Map<number, VcpuTime>;
}

export interface HypervisorDriver {
  readonly uri: string;
  /** Everything `status` needs in one round trip. */
  inspect(domain: string): Promise<DomainSnapshot>;
  setVcpus(domain: string, count: number, flags: { live: boolean; config: boolean }): Promise<void>;
  setMaximum(domain: string, maximum: number): Promise<void>;
  shutdown(domain: string): Promise<void>;
  destroy(domain: string): Promise<void>;
  start(domain: string): Promise<void>;
  /** The domain's UUID (lowercase), whatever name, UUID or id it was given by: what locks are keyed on. */
  uuidOf(domain: string): Promise<string>;
  /** Records vcpuctl's intent in the domain's own metadata (live and/or persistent). */
  recordIntent(domain: string, intent: Intent, flags: IntentFlags): Promise<void>;
  /** Releases a connection the driver keeps (the RPC reader's); the process may exit without it. */
  close(): Promise<void>;
  /** Names of the domains at this URI (for `watch --all`). */
  listDomains(): Promise<string[]>;
  /** Many domains in one round trip (watch's safety-net poll); a domain that cannot be read is left out. */
  inspectMany(domains: string[]): Promise<Map<string, DomainSnapshot>>;
  /** libvirt's domain events as they happen, kept open across libvirtd restarts. */
  events(handlers: EventStreamHandlers): EventStream;
  /** The last lines of the domain's QEMU log, for crash reports, read where the domain runs (qemu-log.ts); none where that cannot be reached. */
  qemuLogTail(domain: string, lines: number): Promise<string[]>;
  /** qemu-guest-agent's guest-ping; rejects (AGENT_UNREACHABLE) when it does not answer. */
  guestAgentPing(domain: string): Promise<void>;
  /** qemu-guest-agent's guest-get-vcpus. */
  guestAgentVcpus(domain: string): Promise<GuestAgentVcpu[]>;
  /** qemu-guest-agent's guest-set-vcpus: applied in order, stops at the first failure; returns how many were done. */
  guestAgentSetVcpus(domain: string, changes: { logicalId: number; online: boolean }[]): Promise<number>;
  /** qemu-guest-agent's guest-info, as qemu-ga answered it: untrusted, bounded and checked by its reader (core/doctor/guest-info.ts). */
  guestAgentInfo(domain: string): Promise<string>;
  /** The domain XML as libvirt writes it: the running domain's (`live`) or the persistent config's (`config`). */
  domainXml(domain: string, which: 'live' | 'config'): Promise<string>;
  /** Adds a virtio-serial channel named `name` to the running domain and/or its persistent config. */
  attachChannel(domain: string, name: string, where: { live: boolean; config: boolean }): Promise<void>;
  /** Removes it; the live side needs the socket path libvirt gave it (from the live XML). */
  detachChannel(domain: string, channel: ChannelEntry, where: { live: boolean; config: boolean }): Promise<void>;
  /** Per-vCPU run time of a running domain (DOMAIN_NOT_RUNNING when it is not): what core/vcpu-claims.ts checks guest claims against. */
  vcpuTimes(domain: string): Promise<VcpuTimes>;
  /**
   * How this driver reaches libvirt: its RPC, or virsh processes. Chosen once,
   * when the first call opens the connection; undefined before that.
   */
  readonly backend?: 'rpc' | 'virsh' | undefined;
  /** Process spawns so far (for the benchmark and the spawn budget tests). */
  readonly spawns: number;
}
