/**
 * The agent's core: watches the guest's CPUs, onlines hot-added ones, carries
 * out online/offline requests and pushes every change, with the kernel's own
 * log lines, to subscribed controllers. It knows nothing of sockets beyond
 * the Connection it is handed.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EnvelopeInit, PROTOCOL_VERSION, v1 } from '@vcpuctl/proto';
import { CpuRequest, SetOnlineResult, setCpusOnline } from './cpu-control';
import { ModelReading, SnapshotCache, SnapshotData, readModel, readTree } from './snapshot';
import { CgroupReading } from './cgroup/walk';
import { CpuTreeReader } from './sysfs/cpu-tree';
import { TreePaths, cpuPath } from './sysfs/paths';
import { SystemFacts } from './system-facts';
import { AGENT_VERSION } from './version';
import { CpuChangeInfo, CpuPoller } from './watch/cpu-poller';
import { KernelRecord, KmsgFollower, isCpuEvidence } from './watch/kmsg';
import { CgroupReader } from './cgroup/reader';
import { WantedOffline, parseWantedOffline } from './wanted-offline';
import { readTrimmed } from './sysfs/read';

/** When this process started: with the boot id, the host tells an agent restart from a guest reboot. */
const AGENT_STARTED_AT_MS = Date.now() - process.uptime() * 1000;

export interface AgentOptions {
  paths: TreePaths;
  system: SystemFacts;
  kmsgPath: string;
  /** How often `present`/`online` and the kernel log are read. */
  pollIntervalMs: number;
  autoOnline: boolean;
  /**
   * Where the CPUs wanted offline by the host are kept across the agent's
   * restarts (wanted-offline.ts); undefined keeps them in memory only.
   */
  stateFile?: string;
  log: (line: string) => void;
  /** Tests only: shorter waits before cgroups are read again (CGROUP_TIMINGS). */
  cgroupTimings?: Partial<CgroupTimings>;
}

export interface CgroupTimings {
  /**
   * After a CPU change, cgroups are read again this much later, and the
   * snapshot pushed if they moved: before Linux 6.10 the kernel updates
   * effective cpusets in a work item after the hotplug, and whatever reacts
   * to it (a udev rule, a container engine) takes a moment more.
   */
  settleMs: number;
  /**
   * While some cgroup lacks an online CPU and a controller is subscribed,
   * cgroups are read again this often, so a fix in the guest (`systemctl
   * set-property`, `docker update`) reaches `watch` and the exporter without
   * waiting for the next CPU change. A guest with nothing restricted is never
   * read on a timer.
   */
  recheckMs: number;
}

export const CGROUP_TIMINGS: CgroupTimings = { settleMs: 1000, recheckMs: 10_000 };

/** Anything that can receive pushed frames (a transport Connection). */
export interface Subscriber {
  readonly isOpen: boolean;
  send(env: EnvelopeInit): void;
}

/**
 * How long a kernel line waits for the sysfs change it explains, so it can
 * travel in the same CpuEvent; after that it is pushed on its own. The
 * kernel logs "CPU1 has been hot-added" within a few ms of updating sysfs.
 */
const KERNEL_LINE_HOLD_MS = 50;

/** Kernel lines held at once; a log flood drops the oldest. */
const MAX_PENDING_LINES = 256;

/**
 * The kernel lists a hot-added CPU in `present` a little before it creates
 * the CPU's sysfs directory (and its `online` file), so auto-online may find
 * no file yet. It looks again every AUTO_ONLINE_RETRY_MS, for at most
 * AUTO_ONLINE_WAIT_MS: the directory appears within milliseconds even under
 * TCG, and a CPU that never gets the file (CPU0 on x86) is not waited on long.
 */
const AUTO_ONLINE_RETRY_MS = 20;
const AUTO_ONLINE_WAIT_MS = 1000;

export class Agent {
  private readonly poller: CpuPoller;
  private readonly kmsg: KmsgFollower;
  private readonly subscribers = new Set<Subscriber>();
  private readonly autoOnlining = new Set<number>();
  private readonly offlineCauses = new Map<number, v1.OfflineCause>();
  /** Read once: the model part of /proc/cpuinfo and SMBIOS do not change while the guest runs. */
  private readonly model: ModelReading;
  /** Keeps each CPU's topology and caches; a tick re-reads only present/online. */
  private readonly treeReader: CpuTreeReader;
  private readonly snapshots = new SnapshotCache();
  /** The cgroups that keep workloads off online CPUs; read with the snapshots, bounded (cgroup/). */
  private readonly cgroups: CgroupReader;
  private readonly cgroupTimings: CgroupTimings;
  /** When cgroups are next read on the timer: after a CPU change, or while some are restricted. */
  private cgroupRecheckAt: number | undefined;
  private cgroupState = '';
  /** The cgroup reading subscribers were last sent: a request may read newer ones in between, which were not pushed. */
  private cgroupsPushed: CgroupReading | undefined;
  /** CPUs offline by the host's intent: auto-online leaves them offline. */
  private readonly wanted: WantedOffline;
  private pending: KernelRecord[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: AgentOptions) {
    this.poller = new CpuPoller(opts.paths);
    this.model = readModel(opts.paths);
    this.treeReader = new CpuTreeReader(opts.paths);
    this.cgroups = new CgroupReader(opts.paths.root);
    this.cgroupTimings = { ...CGROUP_TIMINGS, ...opts.cgroupTimings };
    this.kmsg = new KmsgFollower(opts.kmsgPath, (rec) => this.onKernelRecord(rec), opts.log);
    this.wanted = new WantedOffline(opts.stateFile, opts.system.bootId, opts.log);
    this.wanted.load();
  }

  start(): void {
    if (!this.kmsg.start()) this.opts.log(`cannot read ${this.opts.kmsgPath}: events will carry no kernel lines`);
    this.timer = setInterval(() => this.tick(), this.opts.pollIntervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.kmsg.stop();
    this.poller.close();
  }

  /** A CPU line from the kernel means sysfs has just changed, or is about to: look now. */
  private onKernelRecord(rec: KernelRecord): void {
    if (!isCpuEvidence(rec.message)) return;
    this.pending.push(rec);
    if (this.pending.length > MAX_PENDING_LINES) this.pending.shift();
    this.tick();
  }

  hello(): EnvelopeInit {
    const s = this.opts.system;
    return {
      id: 0,
      hello: {
        protocolVersion: PROTOCOL_VERSION,
        agentVersion: AGENT_VERSION,
        productUuid: s.productUuid,
        hostname: s.hostname,
        kernel: s.kernel,
        autoOnline: this.opts.autoOnline,
        bootId: s.bootId,
        agentStartedAtMs: AGENT_STARTED_AT_MS,
        wantedOffline: this.wanted.list,
        uptimeMs: this.uptimeMs(),
      },
    };
  }

  /** The guest kernel's uptime (/proc/uptime), 0 where it cannot be read. */
  private uptimeMs(): number {
    const seconds = Number((readTrimmed(join(this.opts.paths.root, 'proc/uptime')) ?? '').split(' ')[0]);
    return Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : 0;
  }

  /** The CPUs kept offline by the host's intent, as a kernel cpulist. */
  get wantedOffline(): string {
    return this.wanted.list;
  }

  /**
   * The host's wanted offline set: replaces the last one, changes no CPU.
   * Bounded like every request (the cpulist parser refuses more than
   * MAX_CPULIST_CHARS or a CPU past MAX_CPU_INDEX before expanding).
   */
  setWantedOffline(cpus: string, who: string): { cpus: string; persisted: boolean } {
    const list = parseWantedOffline(cpus);
    this.opts.log(`${who}: wanted offline: ${list.length ? cpus : 'none'}`);
    const persisted = this.wanted.set(list);
    return { cpus: this.wanted.list, persisted };
  }

  snapshot(): SnapshotData {
    const reading = readTree(this.opts.paths, this.model, this.treeReader);
    return this.snapshots.take(
      reading,
      this.opts.system,
      this.offlineCauses,
      this.readCgroups(() => this.cgroups.read(reading.tree.onlineSet)),
    );
  }

  /** A cgroup reading, with its state logged when it changes and the next timed read planned. */
  private readCgroups(read: () => CgroupReading): CgroupReading {
    const c = read();
    const state = `${c.state} ${c.why ?? ''}`;
    if (state !== this.cgroupState && (c.state === 'over-limit' || c.state === 'unreadable')) this.opts.log(`cgroups: ${c.state}: ${c.why ?? ''}`);
    this.cgroupState = state;
    if (c.restricted.length && this.cgroupRecheckAt === undefined) this.cgroupRecheckAt = Date.now() + this.cgroups.keepFor(this.cgroupTimings.recheckMs);
    return c;
  }

  /** Reads cgroups again now and pushes the snapshot if they moved while the CPUs did not. */
  private recheckCgroups(): void {
    this.cgroupRecheckAt = undefined;
    // Compared with what subscribers were last sent, not with the last reading:
    // a request between two rechecks reads (and stores) the new state, which
    // must still be pushed.
    const before = this.cgroupsPushed;
    const tree = this.treeReader.read();
    const after = this.readCgroups(() => this.cgroups.reread(tree.onlineSet));
    if (after === before || this.subscribers.size === 0) return;
    this.opts.log(`cgroups: ${after.restricted.length} restricted (was ${before?.restricted.length ?? 0})`);
    this.push({ id: 0, cpuEvent: { changes: [], detectedAtMs: Date.now(), kernelLines: [], snapshot: this.snapshot() } });
  }

  subscribe(sub: Subscriber): void {
    this.subscribers.add(sub);
    // The subscription starts from a snapshot just taken: that is what this subscriber was sent.
    this.cgroupsPushed ??= this.cgroups.current;
  }

  unsubscribe(sub: Subscriber): void {
    this.subscribers.delete(sub);
  }

  async setOnline(requests: CpuRequest[], who: string): Promise<SetOnlineResult> {
    const result = await setCpusOnline(this.opts.paths, requests, (line) => this.opts.log(`${who}: ${line}`));
    this.tick(); // report the change now rather than at the next timer tick
    return result;
  }

  /** One poll of the CPU lists; also flushes kernel lines no change claimed. Cheap when nothing changed. */
  tick(): void {
    const changes = this.poller.check();
    if (changes.length > 0) {
      this.onChanges(changes);
      return;
    }
    const now = Date.now();
    if (this.pending.length > 0 && now - this.pending[0]!.receivedAtMs >= KERNEL_LINE_HOLD_MS) {
      const lines = this.pending;
      this.pending = [];
      this.push({ id: 0, kernelLog: { lines } });
    }
    if (this.cgroupRecheckAt !== undefined && now >= this.cgroupRecheckAt) {
      // Nobody to push to: a request reads them when its snapshot is built, and a subscription plans the next look.
      if (this.subscribers.size === 0) this.cgroupRecheckAt = undefined;
      else this.recheckCgroups();
    }
  }

  private onChanges(changes: CpuChangeInfo[]): void {
    const detectedAtMs = Date.now();
    const onlined = new Set(changes.filter((c) => c.kind === 'ONLINED').map((c) => c.cpu));
    for (const c of changes) {
      if (c.kind === 'HOT_ADDED' && !onlined.has(c.cpu)) this.offlineCauses.set(c.cpu, v1.OfflineCause.HOT_ADDED_NEVER_ONLINED);
      else if (c.kind === 'OFFLINED') this.offlineCauses.set(c.cpu, v1.OfflineCause.OFFLINED);
      else if (c.kind === 'ONLINED' || c.kind === 'REMOVED') this.offlineCauses.delete(c.cpu);
    }
    const out = changes.map((c) => {
      const byAgent = c.kind === 'ONLINED' && this.autoOnlining.delete(c.cpu);
      return { cpu: c.cpu, kind: v1.CpuChange.Kind[c.kind], byAgent };
    });
    const lines = this.pending;
    this.pending = [];
    this.opts.log(`cpu change: ${changes.map((c) => `cpu${c.cpu} ${c.kind}`).join(', ')}`);
    this.push({ id: 0, cpuEvent: { changes: out, detectedAtMs, kernelLines: lines, snapshot: this.snapshot() } });
    this.cgroupRecheckAt = Date.now() + this.cgroupTimings.settleMs;
    if (this.opts.autoOnline) this.autoOnline(changes.filter((c) => c.kind === 'HOT_ADDED' && !onlined.has(c.cpu)).map((c) => c.cpu));
  }

  /**
   * What the common udev rule (SUBSYSTEM=="cpu", ACTION=="add", ATTR{online}="1")
   * does: a CPU that has just been hot-added and sits offline is brought
   * online. Only on the hot-add itself, so a CPU an operator offlined stays so.
   */
  private autoOnline(added: number[]): void {
    // One request per CPU, so a CPU the kernel refuses does not hold back the others.
    for (const cpu of added) {
      if (this.wanted.has(cpu)) {
        this.opts.log(`auto-online: cpu${cpu} left offline: the host wants it offline (wanted offline ${this.wanted.list})`);
        continue;
      }
      this.autoOnlining.add(cpu);
      this.autoOnlineOne(cpu, Date.now() + AUTO_ONLINE_WAIT_MS);
    }
  }

  private autoOnlineOne(cpu: number, deadline: number): void {
    this.setOnline([{ cpu, online: true }], 'auto-online').then(
      (r) => {
        if (r.results[0]?.outcome !== 'CHANGED') this.autoOnlining.delete(cpu);
      },
      (err: Error) => {
        const noFileYet = !existsSync(cpuPath(this.opts.paths, cpu, 'online'));
        if (noFileYet && Date.now() < deadline && this.timer !== undefined) {
          setTimeout(() => this.autoOnlineOne(cpu, deadline), AUTO_ONLINE_RETRY_MS).unref();
          return;
        }
        this.autoOnlining.delete(cpu);
        this.opts.log(`auto-online of cpu${cpu} failed: ${err.message}`);
      },
    );
  }

  private push(env: EnvelopeInit): void {
    if (env.cpuEvent?.snapshot) this.cgroupsPushed = this.cgroups.current;
    for (const sub of this.subscribers) {
      if (sub.isOpen) sub.send(env);
      else this.subscribers.delete(sub);
    }
  }
}
