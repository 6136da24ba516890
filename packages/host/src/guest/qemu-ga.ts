/**
 * A guest reached only through qemu-guest-agent (libvirt's
 * org.qemu.guest_agent.0 channel): guest-get-vcpus gives each present CPU's
 * logical id, online state and whether it can be offlined; guest-set-vcpus
 * changes them. vcpuctl applies the same guards as its own agent before
 * asking, since qemu-ga checks less. The view is reduced: no topology, no
 * lscpu, no kernel lines, nothing pushed.
 */
import { EventEmitter } from 'node:events';
import { MAX_CPUS_PER_REQUEST, VcpuctlError, formatKernelCpuList, v1 } from '@vcpuctl/proto';
import { GuestAgentVcpu, HypervisorDriver } from '../libvirt/driver';
import { GuestSession, GuestSessionEvents } from './source';

export const QEMU_GA_REDUCED = ['no CPU topology (sockets, cores, threads, caches, NUMA)', 'no lscpu view', 'no guest kernel lines as evidence', 'changes found by polling qemu-guest-agent, not pushed by the guest'];

/**
 * How often a wait asks qemu-ga again. Each ask is one virsh process (about
 * 100 ms here); 250 ms finds a change quickly without keeping libvirt busy.
 */
export const QEMU_GA_POLL_MS = 250;

type Driver = Pick<HypervisorDriver, 'guestAgentVcpus' | 'guestAgentSetVcpus'>;

export class QemuGaSession extends EventEmitter<GuestSessionEvents> implements GuestSession {
  readonly via = 'qemu-ga' as const;
  readonly reduced = QEMU_GA_REDUCED;
  readonly pollIntervalMs = QEMU_GA_POLL_MS;
  /** qemu-ga does not online hot-added CPUs; vcpuctl asks for it. */
  readonly hello = { autoOnline: false };
  private open = true;
  /** CPUs present when the session began: a CPU seen later was hot-added meanwhile. */
  private known: Set<number> | undefined;
  /** CPUs this session offlined. */
  private readonly offlined = new Set<number>();

  constructor(
    private readonly driver: Driver,
    readonly domain: string,
  ) {
    super();
  }

  get isOpen(): boolean {
    return this.open;
  }

  private toSnapshot(vcpus: GuestAgentVcpu[]): v1.Snapshot {
    this.known ??= new Set(vcpus.map((c) => c.logicalId));
    const cause = (c: GuestAgentVcpu) =>
      c.online ? v1.OfflineCause.OFFLINE_CAUSE_UNKNOWN : this.offlined.has(c.logicalId) ? v1.OfflineCause.OFFLINED : this.known!.has(c.logicalId) ? v1.OfflineCause.OFFLINE_CAUSE_UNKNOWN : v1.OfflineCause.HOT_ADDED_NEVER_ONLINED;
    return v1.Snapshot.create({
      takenAtMs: Date.now(),
      // guest-get-vcpus lists the present CPUs only: possible and the topology are unknown.
      present: formatKernelCpuList(vcpus.map((c) => c.logicalId)),
      online: formatKernelCpuList(vcpus.filter((c) => c.online).map((c) => c.logicalId)),
      offline: formatKernelCpuList(vcpus.filter((c) => !c.online).map((c) => c.logicalId)),
      cpus: vcpus.map((c) => v1.Cpu.create({ index: c.logicalId, present: true, online: c.online, offlinable: c.canOffline, offlineCause: cause(c) })),
    });
  }

  async snapshot(): Promise<v1.Snapshot> {
    if (!this.open) throw new VcpuctlError('AGENT_UNREACHABLE', 'the qemu-guest-agent session is closed');
    return this.toSnapshot(await this.driver.guestAgentVcpus(this.domain));
  }

  subscribe(): Promise<v1.Snapshot> {
    return this.snapshot();
  }

  /** The guards vcpuctl-agent applies (packages/guest-agent/src/cpu-control.ts), checked on qemu-ga's own list. */
  private check(vcpus: GuestAgentVcpu[], cpus: { cpu: number; online: boolean }[]): void {
    if (cpus.length === 0) throw new VcpuctlError('USAGE', 'no CPUs named');
    if (cpus.length > MAX_CPUS_PER_REQUEST) throw new VcpuctlError('TOO_BIG', `${cpus.length} CPUs in one request; the limit is ${MAX_CPUS_PER_REQUEST}`);
    const byId = new Map(vcpus.map((c) => [c.logicalId, c]));
    const online = new Set(vcpus.filter((c) => c.online).map((c) => c.logicalId));
    const seen = new Set<number>();
    for (const r of cpus) {
      if (!Number.isInteger(r.cpu) || r.cpu < 0) throw new VcpuctlError('USAGE', `"${r.cpu}" is not a CPU number`);
      if (seen.has(r.cpu)) throw new VcpuctlError('USAGE', `CPU ${r.cpu} is named twice`);
      seen.add(r.cpu);
      const c = byId.get(r.cpu);
      if (!c) throw new VcpuctlError('CPU_REFUSED', `CPU ${r.cpu} does not exist in this guest (present: ${formatKernelCpuList([...byId.keys()]) || 'none'})`, { cpu: r.cpu });
      if (!c.canOffline && !r.online) throw new VcpuctlError('CPU_REFUSED', `CPU ${r.cpu} cannot be offlined (qemu-guest-agent: can-offline false)`, { cpu: r.cpu });
      if (!c.canOffline && r.online && !c.online) throw new VcpuctlError('CPU_REFUSED', `CPU ${r.cpu} cannot be onlined (qemu-guest-agent: can-offline false)`, { cpu: r.cpu });
      if (r.online) online.add(r.cpu);
      else online.delete(r.cpu);
    }
    if (online.size === 0) throw new VcpuctlError('CPU_REFUSED', 'refusing to offline the last online CPU');
  }

  async setOnline(cpus: { cpu: number; online: boolean }[]): Promise<v1.SetOnlineReply> {
    const vcpus = await this.driver.guestAgentVcpus(this.domain);
    this.check(vcpus, cpus);
    const state = new Map(vcpus.map((c) => [c.logicalId, c.online]));
    const todo = cpus.filter((r) => state.get(r.cpu) !== r.online);
    let done = 0;
    let failure = '';
    if (todo.length) {
      try {
        done = await this.driver.guestAgentSetVcpus(
          this.domain,
          todo.map((r) => ({ logicalId: r.cpu, online: r.online })),
        );
        if (done < todo.length) failure = `qemu-guest-agent carried out ${done} of ${todo.length} changes`;
      } catch (err) {
        // qemu-ga answers an error when the very first change fails.
        if (!(err instanceof VcpuctlError) || err.code === 'AGENT_UNREACHABLE') throw err;
        failure = err.message;
      }
      for (const r of todo.slice(0, done)) {
        if (r.online) this.offlined.delete(r.cpu);
        else this.offlined.add(r.cpu);
      }
    }
    const failedCpu = failure ? todo[done]?.cpu : undefined;
    let processed = 0;
    let stopped = false;
    const results = cpus.map((r) => {
      if (stopped) return v1.CpuResult.create({ cpu: r.cpu, online: r.online, outcome: v1.CpuResult.Outcome.NOT_ATTEMPTED });
      if (r.cpu === failedCpu) {
        stopped = true;
        return v1.CpuResult.create({ cpu: r.cpu, online: r.online, outcome: v1.CpuResult.Outcome.FAILED, errorCode: failure, message: failure });
      }
      processed++;
      const changed = state.get(r.cpu) !== r.online;
      return v1.CpuResult.create({ cpu: r.cpu, online: r.online, outcome: changed ? v1.CpuResult.Outcome.CHANGED : v1.CpuResult.Outcome.ALREADY });
    });
    return v1.SetOnlineReply.create({ results, processed, snapshot: await this.snapshot() });
  }

  async close(): Promise<void> {
    this.open = false;
  }
}
