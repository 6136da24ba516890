/**
 * The agent's core: watches the guest's CPUs, onlines hot-added ones, carries
 * out online/offline requests and pushes every change, with the kernel's own
 * log lines, to subscribed controllers. It knows nothing of sockets beyond
 * the Connection it is handed.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EnvelopeInit, MAX_GUEST_UDEV_RULES, PROTOCOL_VERSION, v1 } from '@vcpuctl/proto';
import { CpuRequest, SetOnlineResult, setCpusOnline } from './cpu-control';
import { ModelReading, SnapshotCache, SnapshotData, readModel, readTree, udevRuleMessage } from './snapshot';
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
import { UdevReader, UdevReading } from './udev/reader';
import { FAILURE_LINES_BEFORE_MS, OnlineFailures, RecentKernelLines } from './online-failures';

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

/**
 * How old the udev rules reading may be when a snapshot is built with the
 * CPUs unchanged (a CPU change rereads them at once): a rule added in the
 * guest shows in `vcpuctl doctor` within this. A reread stats each rules
 * file (about a hundred) and parses only the changed ones: well under a
 * millisecond, so even a controller asking often costs little.
 */
export const UDEV_READING_MAX_AGE_MS = 5000;

/**
 * A CPU that comes back online, not by the agent, within this long of going
 * offline is reported as fought back (with the udev rules that could have
 * done it): udev runs a rule within milliseconds of the offline event, and a
 * service or loop that re-onlines CPUs does so within seconds. A CPU the host
 * wants offline is reported whenever it comes back.
 */
export const COMEBACK_WINDOW_MS = 10_000;

/**
 * After a refused online write, the kernel's lines about it are awaited this
 * long before the failure is recorded: the kernel logs them as the write
 * fails, and the kernel log is read every 2 to 50 ms (KMSG_POLL).
 */
const FAILURE_LINES_WAIT_MS = 100;

/** How long a CPU a request onlined is taken as the request's when its ONLINED is seen late: several polls. */
const REQUEST_ONLINE_SETTLE_MS = 1000;

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
  /** The guest's udev rules that online CPUs: read with the first snapshot, on every CPU change, and when older than UDEV_READING_MAX_AGE_MS. */
  private readonly udev: UdevReader;
  private udevReading: { atMs: number; reading: UdevReading } | undefined;
  /** Online writes the kernel refused, for CPUs still offline; the recent kernel lines they are told with. */
  private readonly failures = new OnlineFailures();
  private readonly recentLines = new RecentKernelLines();
  /** When each CPU last went offline, or was hot-added, for telling a CPU fought back online and by which rules. */
  private readonly offlinedAt = new Map<number, number>();
  private readonly hotAddedAt = new Map<number, number>();
  /** CPUs a request is onlining now: their ONLINED is the request's, not a comeback. */
  private readonly requestOnlining = new Set<number>();

  constructor(private readonly opts: AgentOptions) {
    this.poller = new CpuPoller(opts.paths);
    this.model = readModel(opts.paths);
    this.treeReader = new CpuTreeReader(opts.paths);
    this.cgroups = new CgroupReader(opts.paths.root);
    this.udev = new UdevReader(opts.paths.root);
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
    this.recentLines.add(rec);
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
      { udev: this.readUdev(false), failures: this.failures.list },
    );
  }

  /** The udev rules reading: again when `now` (a CPU change) or when the last is older than UDEV_READING_MAX_AGE_MS. */
  private readUdev(now: boolean): UdevReading {
    const last = this.udevReading;
    if (!now && last && Date.now() - last.atMs < UDEV_READING_MAX_AGE_MS) return last.reading;
    const reading = this.udev.read();
    if (reading !== last?.reading) {
      if (!reading.whole) this.opts.log(`udev rules: read in part: ${reading.why ?? ''}`);
      for (const r of reading.rules)
        if (!last?.reading.rules.some((x) => x.file === r.file && x.line === r.line)) this.opts.log(`udev rules: ${r.file}:${r.line} onlines CPUs on ${r.actions.join('|')}${r.fightsOffline ? ': it fights offlines' : ''}`);
    }
    this.udevReading = { atMs: Date.now(), reading };
    return reading;
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
    const byAutoOnline = who === 'auto-online';
    const onlining = byAutoOnline ? [] : requests.filter((r) => r.online).map((r) => r.cpu);
    for (const cpu of onlining) this.requestOnlining.add(cpu);
    let result: SetOnlineResult | undefined;
    try {
      result = await setCpusOnline(this.opts.paths, requests, (line) => this.opts.log(`${who}: ${line}`));
      this.tick(); // report the change now rather than at the next timer tick
    } finally {
      // A CPU this request onlined stays the request's until its ONLINED is seen (onChanges), or for
      // REQUEST_ONLINE_SETTLE_MS: a kernel (or a test tree) may show it a poll later.
      const changed = new Set(result?.results.filter((r) => r.outcome === 'CHANGED').map((r) => r.cpu));
      for (const cpu of onlining) {
        if (!changed.has(cpu)) this.requestOnlining.delete(cpu);
        else setTimeout(() => this.requestOnlining.delete(cpu), REQUEST_ONLINE_SETTLE_MS).unref();
      }
    }
    const failed = result.results.filter((r) => r.online && r.outcome === 'FAILED');
    for (const r of result.results) if (r.online && r.outcome === 'CHANGED') this.failures.clear(r.cpu);
    if (failed.length) {
      // The kernel's lines about the failure arrive as it fails: wait for them, then keep it until the CPU comes online.
      await new Promise((resolve) => setTimeout(resolve, FAILURE_LINES_WAIT_MS));
      for (const r of failed) {
        const kernelLines = this.recentLines.since(r.startedAtMs - FAILURE_LINES_BEFORE_MS);
        this.failures.record({ cpu: r.cpu, errno: r.errorCode, message: r.message, attempts: r.attempts, atMs: Date.now(), byAutoOnline, kernelLines });
        this.opts.log(
          `${who}: cpu${r.cpu} stays offline: the kernel refused online with ${r.errorCode} after ${r.attempts} write${r.attempts === 1 ? '' : 's'}${kernelLines.length ? `; kernel: ${kernelLines.map((l) => l.message).join(' | ')}` : ''}`,
        );
      }
      this.pushSnapshot();
    }
    return result;
  }

  /** Pushes the snapshot to subscribers when something in it changed that the CPU lists do not show. */
  private pushSnapshot(): void {
    if (this.subscribers.size === 0) return;
    this.push({ id: 0, cpuEvent: { changes: [], detectedAtMs: Date.now(), kernelLines: [], snapshot: this.snapshot() } });
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
      if (c.kind === 'ONLINED' || c.kind === 'REMOVED') this.failures.clear(c.cpu);
    }
    // A CPU change may come from a rules file just written (a package install): read them now.
    const udev = this.readUdev(true);
    let suspectsLeft = MAX_GUEST_UDEV_RULES;
    const out = changes.map((c) => {
      const byAgent = c.kind === 'ONLINED' && this.autoOnlining.delete(c.cpu);
      const change = { cpu: c.cpu, kind: v1.CpuChange.Kind[c.kind], byAgent };
      if (c.kind === 'OFFLINED') this.offlinedAt.set(c.cpu, detectedAtMs);
      if (c.kind === 'HOT_ADDED') this.hotAddedAt.set(c.cpu, detectedAtMs);
      if (c.kind === 'REMOVED') this.hotAddedAt.delete(c.cpu);
      if (c.kind !== 'ONLINED') return change;
      const addedAt = this.hotAddedAt.get(c.cpu);
      this.hotAddedAt.delete(c.cpu);
      const offAt = this.offlinedAt.get(c.cpu);
      this.offlinedAt.delete(c.cpu);
      const wanted = this.wanted.has(c.cpu);
      const recent = offAt !== undefined && detectedAtMs - offAt <= COMEBACK_WINDOW_MS;
      const byRequest = this.requestOnlining.delete(c.cpu);
      if (byAgent || byRequest || (!wanted && !recent)) return change;
      // Fought back: name the rules that online CPUs on the event that could have done it (a hot-add's "add" for a CPU
      // hot-added within the window, else an offline's events), bounded per event like the snapshot's list.
      const afterAdd = addedAt !== undefined && detectedAtMs - addedAt <= COMEBACK_WINDOW_MS && (offAt === undefined || addedAt > offAt);
      const suspects = udev.rules.filter((r) => (afterAdd ? r.actions.includes('add') : r.fightsOffline)).slice(0, suspectsLeft);
      suspectsLeft -= suspects.length;
      const backAfterMs = offAt !== undefined ? detectedAtMs - offAt : 0;
      this.opts.log(
        `cpu${c.cpu} came back online${offAt !== undefined ? ` ${(backAfterMs / 1000).toFixed(1)} s after it went offline` : ''}, not by this agent${wanted ? ', though the host wants it offline' : ''}: ${
          suspects.length
            ? `likely udev rule ${suspects.map((r) => `${r.file}:${r.line}`).join(', ')}`
            : udev.whole
              ? `no udev rule onlines CPUs on such events (${udev.files} rules files read): a process in the guest wrote its online file, which one cannot be known here`
              : `no udev rule found, but the rules were read in part (${udev.why ?? ''})`
        }`,
      );
      return {
        ...change,
        backAfterMs,
        wantedOffline: wanted,
        suspects: suspects.map(udevRuleMessage),
        rulesReadWhole: udev.whole,
      };
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
        // The kernel never gave it an online file (late past the wait, or no hotplug): a failure like a refused write.
        if (noFileYet) {
          this.failures.record({
            cpu,
            errno: 'ENOENT',
            message: `no online file ${AUTO_ONLINE_WAIT_MS} ms after the hot-add`,
            attempts: 0,
            atMs: Date.now(),
            byAutoOnline: true,
            kernelLines: this.recentLines.since(Date.now() - AUTO_ONLINE_WAIT_MS - FAILURE_LINES_BEFORE_MS),
          });
          this.pushSnapshot();
        }
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
