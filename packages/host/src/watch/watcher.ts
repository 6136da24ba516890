/**
 * The machinery behind `watch` and `exporter`: one entry per domain holding
 * the latest host snapshot, guest view and verdict, kept fresh by libvirt's
 * event stream and each guest's pushed events; a slow safety-net poll of
 * all domains in one virsh process catches what raises no event (a plain
 * `virsh setvcpus` on a domain without an agent). Never stops on one
 * domain's error.
 */
import { EventEmitter } from 'node:events';
import { TokenBucket, cpuListCount, formatKernelCpuList, parseCpuList, v1 } from '@vcpuctl/proto';
import { Intent, intentOffline } from '../core/intent';
import { globMatch } from '../core/fleet-filter';
import { Context } from '../core/context';
import { lockHolder } from '../core/lock';
import { GuestView, Verdict, cgroupUsability, computeVerdict } from '../core/verdict';
import { DomainSnapshot } from '../libvirt/driver';
import { DomainEvent } from '../libvirt/event-line';
import { EventStream } from '../libvirt/virsh-events';
import { GuestFeed, GuestUpdate, openGuestFeed } from './guest-feed';
import { hostChanges } from './host-changes';
import { hostOfUri } from '../libvirt/ssh-uri';
import { ConnectionState } from './connection';

export interface DomainState {
  name: string;
  host: DomainSnapshot | undefined;
  /** Why the host side could not be read, when it could not. */
  hostError?: string;
  guest: GuestView;
  verdict: Verdict | undefined;
  /** A vcpuctl changing this domain right now (its pid): drift is not judged until it is done. */
  operationBy?: number;
  /** When watch last saw this domain's vCPUs change (ms since the epoch). */
  lastChangeAtMs: number | undefined;
}

export interface Change {
  atMs: number;
  domain: string;
  changes: string[];
  state: DomainState;
}

export interface WatcherOptions {
  /** Domain names; empty with `all` means every domain at the URI, as they come and go. */
  domains: string[];
  all: boolean;
  /** With `all`: only names matching this glob (`--name`), now and as domains are defined. */
  nameGlob?: string;
  /**
   * With `all`: only domains now in one of these states (virsh words) are
   * shown. Every selected domain is still followed, so one that enters a
   * state appears and one that leaves it is reported once, then hidden.
   */
  states?: ReadonlySet<string>;
  /** The safety-net poll of every domain's host side. */
  hostPollMs: number;
  /**
   * One of several connections: a host that does not answer (at start or
   * later) is a state of its own, retried with backoff, never an error of
   * the run. Without it a first listing that fails fails start().
   */
  keepTrying?: boolean;
  /**
   * Re-apply a recorded guest-side offline when the guest comes back without
   * it (INTENT_LOST_ON_REBOOT; or more CPUs online than intended right after
   * the agent restarted): the operation `set` runs, with its report and a
   * new intent, once per boot and intent.
   */
  reconcile?: boolean;
  /** How long a re-apply waits for the guest (set's --timeout). */
  reconcileTimeoutMs?: number;
}

export interface WatcherEvents {
  change: [Change];
  /** Something about the watcher itself (libvirt stream lost, a domain unreadable): never fatal. */
  notice: [string];
  /** With keepTrying: the connection went up or down (or is down for another reason). */
  connection: [ConnectionState];
}

const NOT_RUNNING: GuestView = { reachable: false, error: 'domain not running' };

/** How often a domain whose lock is held is looked at again, to judge it once the operation is over. */
const LOCK_RECHECK_MS = 500;

/**
 * Findings that compare the guest with the recorded intent: while a vcpuctl
 * operation runs, the guest moves before its new intent is written, so
 * they would name the operation itself as drift.
 */
const INTENT_KINDS = new Set(['GUEST_DRIFT', 'GUEST_OFFLINE_NO_INTENT', 'INTENT_LOST_ON_REBOOT']);

/** What watch --reconcile re-applies, when it does: the intent and the guest CPUs it keeps offline. */
export interface ReconcileNeed {
  intent: Intent;
  offline: number[];
  why: string;
}

/**
 * Whether a domain's state calls for re-applying its recorded guest-side
 * offline: the verdict names the intent lost on a reboot, or the agent has
 * just restarted and the guest has more CPUs online than the intent (what an
 * older agent's auto-online did). Pure, for the unit tests.
 */
export function reconcileNeed(s: Pick<DomainState, 'host' | 'guest' | 'verdict'>, changes: string[]): ReconcileNeed | undefined {
  const intent = s.host?.domain.intent;
  const snap = s.guest.snapshot;
  if (!intent || !snap || !s.verdict || s.host?.domain.state !== 'running') return undefined;
  const offline = intentOffline(intent, snap.present);
  if (!offline) return undefined;
  const cpus = parseCpuList(offline);
  if (!cpus.length) return undefined;
  const online = cpuListCount(snap.online ?? '');
  if (s.verdict.findings.some((f) => f.kind === 'INTENT_LOST_ON_REBOOT')) return { intent, offline: cpus, why: 'the guest rebooted and lost the guest-side offline' };
  if (changes.includes('agent restarted') && online > intent.online && s.verdict.findings.some((f) => f.kind === 'GUEST_DRIFT')) {
    return { intent, offline: cpus, why: 'the agent restarted and the guest has more CPUs online than intended' };
  }
  return undefined;
}

/**
 * First pause before asking a host that did not answer again; it doubles up
 * to the safety-net poll's period (at most 30 s): a host that is away is
 * asked no more often than one that is up, and is seen back within 30 s.
 */
const HOST_RETRY_MIN_MS = 1000;
const HOST_RETRY_MAX_MS = 30_000;

/**
 * Host re-reads one domain may cause per second, with a burst. Libvirt events
 * and a guest's hot-add or unplug ask for one; a guest can raise both at will
 * (reboot loops, a fake agent's alternating `present`), so it must not set the
 * pace of libvirt reads. A real change needs one or two; 2 a second and a
 * burst of 5 show every real step within a second.
 */
const HOST_REREADS_PER_SECOND = 2;
const HOST_REREAD_BURST = 5;
/** Change lines kept for the line judged after a coalesced re-read; more are counted, not kept. */
const MAX_PENDING_CHANGES = 20;

/** The line the guest-feed writes for a pushed snapshot that names no CPU change. */
const UNNAMED_GUEST_CHANGE = 'guest CPUs changed';

/**
 * A change in which online CPUs the guest's workloads can use (its cgroups,
 * see CPUS_NOT_USABLE), as a change line; undefined when it did not change or
 * either side did not read them. A hot-add that a pinned cgroup does not
 * follow, and the fix in the guest that widens it, are both news.
 */
export function usabilityChange(before: v1.Snapshot.$Properties | undefined, after: v1.Snapshot.$Properties | undefined): string | undefined {
  const was = cgroupUsability(before);
  const now = cgroupUsability(after);
  if (!was || !now) return undefined;
  const a = formatKernelCpuList(was.usable);
  const b = formatKernelCpuList(now.usable);
  if (a === b) return undefined;
  return `usable by every workload: ${a || 'none'} -> ${b || 'none'} (${now.usable.length} of ${now.online} online CPUs)`;
}

export class Watcher extends EventEmitter<WatcherEvents> {
  readonly domains = new Map<string, DomainState>();
  private readonly feeds = new Map<string, GuestFeed>();
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly rereadBudgets = new Map<string, TokenBucket>();
  /** Guest changes waiting for the host re-read they asked for (one read in flight, one pending). */
  private readonly pendingChanges = new Map<string, string[]>();
  private stream: EventStream | undefined;
  private poll: NodeJS.Timeout | undefined;
  private stopped = false;
  /** With keepTrying: a listing-and-read cycle is running. */
  private cycling = false;
  private retryMs = HOST_RETRY_MIN_MS;
  readonly connection: ConnectionState;
  /** With reconcile: domains being re-applied now, and what each was last re-applied for (boot and intent), so it is tried once. */
  private readonly reconciling = new Set<string>();
  private readonly reconciled = new Map<string, string>();

  constructor(
    private readonly ctx: Context,
    private readonly opts: WatcherOptions,
  ) {
    super();
    this.connection = { uri: ctx.driver.uri, host: hostOfUri(ctx.driver.uri), up: undefined, sinceMs: Date.now() };
  }

  async start(): Promise<void> {
    const { driver } = this.ctx;
    const keepTrying = !!this.opts.keepTrying;
    this.stream = driver.events({
      event: (e) => this.onLibvirtEvent(e),
      reconnected: () => {
        if (keepTrying) return void this.kick(); // while the host is down, its own retries decide when it is back
        this.emit('notice', 'libvirt event stream back: re-reading every domain');
        void this.refreshAll();
      },
      lost: (why, ms) => {
        // A host that is down (or not yet reached) loses every retry of its stream: that is no news.
        if (keepTrying && this.connection.up !== true) return;
        this.emit('notice', `libvirt event stream lost (${why}); retrying in ${ms} ms`);
        if (keepTrying) this.kick();
      },
    });
    if (keepTrying) {
      for (const n of this.opts.domains) this.track(n);
      await this.runCycle();
      return;
    }
    let names = this.opts.domains;
    if (this.opts.all) {
      names = [...new Set([...names, ...(await driver.listDomains()).filter((n) => this.selected(n))])];
      this.setUp();
    }
    for (const n of names) this.track(n);
    await this.refreshAll();
    const tick = () => {
      this.poll = setTimeout(() => void this.refreshAll().finally(() => !this.stopped && tick()), this.opts.hostPollMs);
      this.poll.unref?.();
    };
    tick();
  }

  /**
   * With keepTrying: list the connection's domains (which also tells whether
   * libvirt answers), then read them all; schedule the next cycle after the
   * poll period while up, after the backoff while down.
   */
  private async runCycle(): Promise<void> {
    if (this.stopped || this.cycling) return;
    this.cycling = true;
    if (this.poll) clearTimeout(this.poll);
    try {
      await this.cycle();
    } finally {
      this.cycling = false;
    }
    if (this.stopped) return;
    const ms = this.connection.up ? this.opts.hostPollMs : this.retryMs;
    if (!this.connection.up) {
      this.retryMs = Math.min(this.retryMs * 2, Math.max(HOST_RETRY_MIN_MS, Math.min(HOST_RETRY_MAX_MS, this.opts.hostPollMs)));
      this.connection.retryAtMs = Date.now() + ms;
    }
    this.poll = setTimeout(() => void this.runCycle(), ms);
    this.poll.unref?.();
  }

  /** A sign the host may have changed state (its event stream ended or came back): look now rather than at the next tick. */
  private kick(): void {
    if (!this.stopped && !this.cycling) void this.runCycle();
  }

  private async cycle(): Promise<void> {
    const { driver } = this.ctx;
    let names: string[];
    try {
      names = await driver.listDomains();
    } catch (err) {
      this.setDown((err as Error).message);
      return;
    }
    if (this.opts.all) for (const n of names) if (this.selected(n)) this.track(n);
    this.setUp();
    await this.refreshAll();
  }

  private setUp(): void {
    this.retryMs = HOST_RETRY_MIN_MS;
    this.connection.retryAtMs = undefined;
    if (this.connection.up === true) return;
    Object.assign(this.connection, { up: true, error: undefined, sinceMs: Date.now() });
    this.emit('connection', this.connection);
  }

  private setDown(error: string): void {
    if (this.connection.up === false && this.connection.error === error) return;
    const since = this.connection.up === false ? this.connection.sinceMs : Date.now();
    Object.assign(this.connection, { up: false, error, sinceMs: since, retryAtMs: Date.now() + this.retryMs });
    this.emit('connection', this.connection);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.poll) clearTimeout(this.poll);
    this.stream?.close();
    await Promise.all([...this.feeds.values()].map((f) => f.close()));
    this.feeds.clear();
  }

  /** Under --state: the domains whose last emitted change was shown (so their leaving the states is shown once). */
  private readonly lastShown = new Set<string>();

  private shown(s: DomainState): boolean {
    return this.opts.states === undefined || (s.host !== undefined && this.opts.states.has(s.host.domain.state));
  }

  /** The domains to show now: every one followed, or those in the --state states. */
  visible(): DomainState[] {
    return [...this.domains.values()].filter((s) => this.shown(s));
  }

  /** Whether a change is shown: the domain is in the chosen states now, or was at its last shown change (its leaving is news). */
  private worthShowing(s: DomainState): boolean {
    const shown = this.shown(s);
    const was = this.lastShown.has(s.name);
    if (shown) this.lastShown.add(s.name);
    else this.lastShown.delete(s.name);
    return shown || was;
  }

  private selected(name: string): boolean {
    return this.opts.nameGlob === undefined || globMatch(this.opts.nameGlob, name);
  }

  private track(name: string): DomainState {
    let s = this.domains.get(name);
    if (!s) {
      s = { name, host: undefined, guest: NOT_RUNNING, verdict: undefined, lastChangeAtMs: undefined };
      this.domains.set(name, s);
    }
    return s;
  }

  /**
   * An unexpected error while handling one domain's news is logged with its
   * name and that domain is followed again from scratch; the other domains,
   * and the process, go on.
   */
  private fault(name: string, err: unknown): void {
    this.emit('notice', `${name}: unexpected error, following the domain again: ${(err as Error)?.message ?? String(err)}`);
    void this.feeds.get(name)?.close();
    this.feeds.delete(name);
    this.pendingChanges.delete(name);
    if (!this.stopped && this.domains.has(name)) void this.refreshHost(name, []);
  }

  private onLibvirtEvent(e: DomainEvent): void {
    try {
      this.handleLibvirtEvent(e);
    } catch (err) {
      this.fault(e.domain, err);
    }
  }

  private handleLibvirtEvent(e: DomainEvent): void {
    if (this.stopped) return;
    const known = this.domains.get(e.domain);
    if (!known) {
      if (!this.opts.all || !this.selected(e.domain) || e.kind !== 'lifecycle' || /^Undefined/.test(e.detail)) return;
      this.track(e.domain);
    }
    if (e.kind === 'lifecycle' && /^Undefined/.test(e.detail)) {
      const s = this.domains.get(e.domain)!;
      this.domains.delete(e.domain);
      void this.feeds.get(e.domain)?.close();
      this.feeds.delete(e.domain);
      if (this.lastShown.delete(e.domain) || this.opts.states === undefined) this.emit('change', { atMs: Date.now(), domain: e.domain, changes: ['domain undefined'], state: s });
      return;
    }
    // A channel added (vcpuctl agent attach) or an agent's channel coming up: the feed looks at once
    // rather than at its next retry (up to 10 s later).
    if (e.kind === 'device-added' || e.kind === 'agent-lifecycle') this.feeds.get(e.domain)?.poke();
    void this.refreshHost(e.domain, [`libvirt: ${e.kind}${e.detail ? ` ${e.detail}` : ''}`]);
  }

  /** Every tracked domain's host side in one virsh process. */
  private async refreshAll(): Promise<void> {
    const names = [...this.domains.keys()];
    const { driver } = this.ctx;
    let snaps: Map<string, DomainSnapshot>;
    try {
      snaps = await driver.inspectMany(names);
    } catch (err) {
      this.setDown((err as Error).message);
      if (!this.opts.keepTrying) this.emit('notice', `cannot read libvirt: ${(err as Error).message}`);
      return;
    }
    if (names.length) this.setUp(); // no names: no virsh was run, nothing learnt
    for (const n of names) {
      const snap = snaps.get(n);
      if (snap) this.applyHost(n, snap, []);
      else await this.refreshHost(n, []); // one domain's own error message
    }
  }

  /** Re-reads one domain's host side; concurrent requests coalesce into one more read. */
  private refreshHost(name: string, why: string[]): Promise<void> {
    const running = this.inflight.get(name);
    if (running) {
      this.again.add(name);
      return running;
    }
    let budget = this.rereadBudgets.get(name);
    if (!budget) this.rereadBudgets.set(name, (budget = new TokenBucket(HOST_REREADS_PER_SECOND, HOST_REREAD_BURST)));
    const p = (async () => {
      do {
        this.again.delete(name);
        const wait = budget.msUntil(1);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (this.stopped) return;
        budget.take();
        try {
          this.applyHost(name, await this.ctx.driver.inspect(name), why);
        } catch (err) {
          const s = this.domains.get(name);
          const msg = (err as Error).message;
          if (s && s.hostError !== msg) {
            s.hostError = msg;
            this.emit('notice', `${name}: ${msg}`);
          }
        }
      } while (this.again.has(name) && !this.stopped);
    })().finally(() => this.inflight.delete(name));
    this.inflight.set(name, p);
    return p;
  }

  private applyHost(name: string, snap: DomainSnapshot, why: string[]): void {
    const s = this.domains.get(name);
    if (!s || this.stopped) return;
    const before = s.host;
    s.host = snap;
    s.hostError = undefined;
    const running = snap.domain.state === 'running';
    if (running && !this.feeds.has(name)) {
      s.guest = { reachable: false, error: 'agent not contacted yet' };
      this.feeds.set(
        name,
        openGuestFeed(
          this.ctx,
          name,
          (u) => this.onGuest(name, u),
          (present) => {
            const intent = this.domains.get(name)?.host?.domain.intent;
            return intent && intentOffline(intent, present);
          },
        ),
      );
    } else if (!running && this.feeds.has(name)) {
      void this.feeds.get(name)!.close();
      this.feeds.delete(name);
      s.guest = NOT_RUNNING;
    }
    const changes = hostChanges(before, snap);
    // An event that changed nothing vCPU-related is not worth a line.
    this.judge(s, before === undefined ? ['watching'] : changes.length ? [...changes, ...why.filter((w) => !/lifecycle/.test(w))] : []);
  }

  private onGuest(name: string, u: GuestUpdate): void {
    try {
      this.handleGuest(name, u);
    } catch (err) {
      this.fault(name, err);
    }
  }

  private handleGuest(name: string, update: GuestUpdate): void {
    const s = this.domains.get(name);
    if (!s || this.stopped) return;
    const usable = usabilityChange(s.guest.snapshot, update.view.snapshot);
    // A push for cgroups alone names no CPU: say what moved instead of the feed's generic line.
    const moved = s.guest.snapshot?.present !== update.view.snapshot?.present || s.guest.snapshot?.online !== update.view.snapshot?.online;
    const u = usable ? { ...update, changes: [...update.changes.filter((c) => moved || c !== UNNAMED_GUEST_CHANGE), usable] } : update;
    s.guest = u.view;
    if (!u.presentChanged) {
      // A fresh view with nothing new (the feed back after lending the channel) is a line only if the verdict moved.
      this.judge(s, u.changes, u.changes.length > 0);
      return;
    }
    // A hot-add or unplug changed the host too: read it before judging, so
    // the verdict is not a stale host against a fresh guest. Updates that
    // come while that read is pending join it (their lines, bounded) rather
    // than each waiting on a read of its own.
    const pending = this.pendingChanges.get(name);
    if (pending) {
      if (pending.length < MAX_PENDING_CHANGES) pending.push(...u.changes.slice(0, MAX_PENDING_CHANGES - pending.length));
      void this.refreshHost(name, []);
      return;
    }
    this.pendingChanges.set(name, u.changes.slice(0, MAX_PENDING_CHANGES));
    void this.refreshHost(name, [])
      .then(() => {
        const changes = this.pendingChanges.get(name);
        this.pendingChanges.delete(name);
        if (changes && this.domains.get(name) === s) this.judge(s, changes, true);
      })
      .catch((err) => this.fault(name, err));
  }

  /**
   * With reconcile: re-applies the recorded guest-side offline through the
   * operation `set` (lock, report, new intent, the agent told), once per boot
   * and intent, and says so in a change line before and after.
   */
  private maybeReconcile(s: DomainState, changes: string[]): void {
    if (!this.opts.reconcile || this.reconciling.has(s.name) || this.stopped) return;
    const need = reconcileNeed(s, changes);
    if (!need) return;
    const key = `${s.guest.bootId ?? s.guest.bootedAtMs ?? '?'}|${need.intent.at}|${need.intent.cpus ?? ''}`;
    if (this.reconciled.get(s.name) === key) return;
    this.reconciled.set(s.name, key);
    this.reconciling.add(s.name);
    const what = `${need.intent.online} online (${need.intent.cpus}): offline cpu${need.offline.join(', cpu')}`;
    const say = (line: string) => {
      if (!this.stopped && this.domains.get(s.name) === s) this.emit('change', { atMs: Date.now(), domain: s.name, changes: [line], state: s });
    };
    say(`reconcile: re-applying the recorded intent of ${what} (${need.why})`);
    // Loaded here: only a watch with --reconcile needs set's machinery.
    void import('../commands/set')
      .then(({ setVcpus }) =>
        setVcpus(this.ctx, s.name, need.intent.online, {
          live: true,
          config: false,
          strategy: 'guest-offline',
          timeoutMs: this.opts.reconcileTimeoutMs ?? 60_000,
          operation: 'reconcile',
          offline: need.offline,
          reason: need.why,
        }),
      )
      .then(
        (r) => say(`reconcile: re-applied ${what}; report ${r.files.json}`),
        (err: Error) => say(`reconcile: FAILED: ${err.message}`),
      )
      .finally(() => {
        this.reconciling.delete(s.name);
        if (!this.stopped && this.domains.get(s.name) === s) void this.refreshHost(s.name, []);
      });
  }

  private judge(s: DomainState, changes: string[], force = false): void {
    if (!s.host) return;
    const before = s.verdict;
    const verdict = computeVerdict(s.host, s.guest);
    const holder = lockHolder(this.ctx.lockDir, s.host?.domain.uuid ?? s.name);
    if (holder !== undefined && verdict.findings.some((f) => INTENT_KINDS.has(f.kind))) {
      const findings = verdict.findings.filter((f) => !INTENT_KINDS.has(f.kind));
      s.verdict = { ok: !findings.some((f) => f.severity === 'error'), findings };
      if (s.operationBy === undefined) {
        // Once the operation has released the domain, read it again (its new
        // intent, written before the release) and judge that.
        const recheck = setInterval(() => {
          if (this.stopped || lockHolder(this.ctx.lockDir, s.host?.domain.uuid ?? s.name) === undefined) {
            clearInterval(recheck);
            s.operationBy = undefined;
            if (!this.stopped && this.domains.get(s.name) === s) void this.refreshHost(s.name, []);
          }
        }, LOCK_RECHECK_MS);
        recheck.unref?.();
      }
      s.operationBy = holder;
    } else {
      s.verdict = verdict;
    }
    if (holder === undefined) this.maybeReconcile(s, changes);
    const verdictChanged = JSON.stringify(before) !== JSON.stringify(s.verdict);
    if (!changes.length && !verdictChanged && !force) return;
    if (!changes.length && !force && before === undefined) return;
    const now = Date.now();
    if (changes.length) s.lastChangeAtMs = now;
    if (!this.worthShowing(s)) return;
    this.emit('change', { atMs: now, domain: s.name, changes: changes.length ? changes : ['verdict changed'], state: s });
  }
}
