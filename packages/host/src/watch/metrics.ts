/**
 * The exporter's metrics, served from the watchers' caches (one per
 * connection): a scrape reads what the event streams already keep fresh and
 * runs no virsh and asks no agent. prom-client writes the exposition format.
 *
 * Labels: every domain series carries `domain`, `uuid` and `uri` (the
 * connection: two hosts may both have a `web1`). The host a URI names is a
 * label of the per-connection series only (`vcpuctl_host_up{uri,host}`),
 * joined where wanted (`* on(uri) group_left(host) vcpuctl_host_up`): one
 * more label on every domain series would add no series but make every one
 * longer. No label takes a value from a guest, so a guest cannot multiply
 * series. The `uri` label drops the URI's user and every query parameter but
 * `socket` (an ssh user and key path, `no_verify`): a metrics page is read by
 * more people than the host.
 */
import { Gauge, Histogram, Registry } from 'prom-client';
import { cpuListCount } from '@vcpuctl/proto';
import { FINDING_KINDS, cgroupUsability } from '../core/verdict';
import { listReports, readReport } from '../core/report';
import { DomainState, Watcher } from './watcher';
import { confirmLatencySeconds } from './set-latency';

/** Reports read at start for the latency histogram: the newest ones; older sets say little about today. */
export const MAX_REPORTS_AT_START = 1000;

/** Buckets for set confirm latency: a hot-add confirms in 0.3-1 s on TCG, a stuck one hits the 60 s timeout. */
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];

const LABELS = ['domain', 'uuid', 'uri'] as const;

/**
 * Query parameters kept in the `uri` label: those that tell two connections
 * apart (`socket`: two daemons on one machine), never credentials or how they
 * are checked (keyfile, pkipath, known_hosts, no_verify, sshauth, ...).
 */
const LABEL_QUERY_PARAMS = new Set(['socket']);

/** A connection URI as a label: scheme, host, path and the parameters that identify it; no user, no credentials. */
export function uriLabel(uri: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(?:[^@/?#]*@)?([^/?#]*)([^?#]*)(?:\?([^#]*))?/i.exec(uri);
  if (!m) return uri.replace(/[?#].*$/, '');
  const kept = (m[4] ?? '').split('&').filter((p) => LABEL_QUERY_PARAMS.has(p.split('=')[0]!));
  return `${m[1]}${m[2]}${m[3]}${kept.length ? `?${kept.join('&')}` : ''}`;
}

const HOST_LABELS = ['uri', 'host'] as const;

export class Metrics {
  readonly registry = new Registry();
  private readonly seenReports = new Set<string>();
  private readonly latency: Histogram<(typeof LABELS)[number]>;

  constructor(
    private readonly watchers: Watcher[],
    private readonly reportDir: string | undefined,
  ) {
    const reg = [this.registry];
    // A host that does not answer has no current values: its domains' series
    // go (their last values would be served as if fresh) and vcpuctl_host_up says why.
    const states = () =>
      watchers
        .filter((w) => w.connection.up !== false)
        .flatMap((w) =>
          w
            .visible()
            .filter((s) => s.host)
            .map((s) => ({ s, uri: uriLabel(w.connection.uri) })),
        );
    type Labels = Record<(typeof LABELS)[number], string>;
    const gauge = (name: string, help: string, extra: string[], fill: (g: Gauge<string>, s: DomainState, labels: Labels) => void) =>
      new Gauge({
        name,
        help,
        labelNames: [...LABELS, ...extra],
        registers: reg,
        collect() {
          this.reset();
          for (const { s, uri } of states()) fill(this, s, { domain: s.name, uuid: s.host!.domain.uuid, uri });
        },
      });
    new Gauge({
      name: 'vcpuctl_host_up',
      help: '1 while libvirt answers at the connection (uri), 0 while it does not and is retried with backoff',
      labelNames: [...HOST_LABELS],
      registers: reg,
      collect() {
        this.reset();
        for (const w of watchers) if (w.connection.up !== undefined) this.set({ uri: uriLabel(w.connection.uri), host: w.connection.host }, w.connection.up ? 1 : 0);
      },
    });
    new Gauge({
      name: 'vcpuctl_host_domains',
      help: 'domains watched at the connection (uri), whatever their state',
      labelNames: [...HOST_LABELS],
      registers: reg,
      collect() {
        this.reset();
        for (const w of watchers) if (w.connection.up) this.set({ uri: uriLabel(w.connection.uri), host: w.connection.host }, w.visible().length);
      },
    });
    gauge('vcpuctl_libvirt_vcpus_current', "libvirt's current vCPU count (view: live or config)", ['view'], (g, s, labels) => {
      const d = s.host!.domain;
      if (d.live) g.set({ ...labels, view: 'live' }, d.live.current);
      g.set({ ...labels, view: 'config' }, d.config.current);
    });
    gauge('vcpuctl_libvirt_vcpus_maximum', "libvirt's maximum vCPU count (view: live or config)", ['view'], (g, s, labels) => {
      const d = s.host!.domain;
      if (d.live) g.set({ ...labels, view: 'live' }, d.live.maximum);
      g.set({ ...labels, view: 'config' }, d.config.maximum);
    });
    gauge('vcpuctl_domain_running', '1 while the domain runs', [], (g, s, labels) => g.set(labels, s.host!.domain.state === 'running' ? 1 : 0));
    gauge('vcpuctl_qemu_vcpus_plugged', 'vCPUs QEMU has plugged (query-hotpluggable-cpus)', [], (g, s, labels) => {
      if (s.host!.qemu) g.set(labels, s.host!.qemu.plugged);
    });
    gauge('vcpuctl_guest_reachable', "1 while the guest's agent answers", [], (g, s, labels) => g.set(labels, s.guest.reachable ? 1 : 0));
    const guestCount = (which: 'present' | 'online') => (g: Gauge<string>, s: DomainState, labels: Labels) => {
      const list = s.guest.reachable ? s.guest.snapshot?.[which] : undefined;
      if (typeof list === 'string') g.set(labels, list ? cpuListCount(list) : 0);
    };
    gauge('vcpuctl_guest_cpus_present', 'CPUs the guest kernel lists as present', [], guestCount('present'));
    gauge('vcpuctl_guest_cpus_online', 'CPUs the guest kernel has online', [], guestCount('online'));
    // One number per domain, not one series per cgroup: cgroup names are the guest's words, and no label takes a value from a guest.
    gauge(
      'vcpuctl_guest_cpus_usable',
      "online CPUs every guest cgroup that set its own CPUs can run on (the online count when none lacks any; at most this when the agent stopped at its bound); served while the agent reads the guest's cgroups",
      [],
      (g, s, labels) => {
        const u = s.guest.reachable ? cgroupUsability(s.guest.snapshot) : undefined;
        if (u) g.set(labels, u.usable.length);
      },
    );
    gauge('vcpuctl_guest_channel_shared', "1 while another long-running vcpuctl follows this guest's channel and this exporter reads the guest every 30 s instead", [], (g, s, labels) => {
      if (s.guest.via === 'channel' || s.guest.shared) g.set(labels, s.guest.shared ? 1 : 0);
    });
    gauge('vcpuctl_guest_frames_dropped', 'frames the guest pushed over its budget in the current agent session (dropped; a real agent never does)', [], (g, s, labels) => {
      if (s.guest.droppedFrames !== undefined || s.guest.reachable) g.set(labels, s.guest.droppedFrames ?? 0);
    });
    gauge('vcpuctl_intent_cpus_online', 'the online count vcpuctl last recorded as intended', [], (g, s, labels) => {
      if (s.host!.domain.intent) g.set(labels, s.host!.domain.intent.online);
    });
    gauge('vcpuctl_verdict_ok', '1 while the verdict has no error finding', [], (g, s, labels) => {
      if (s.verdict) g.set(labels, s.verdict.ok ? 1 : 0);
    });
    gauge('vcpuctl_verdict_finding', 'one series per finding kind: 1 while the verdict holds it, else 0', ['kind', 'severity'], (g, s, labels) => {
      if (!s.verdict) return;
      for (const kind of FINDING_KINDS) {
        const f = s.verdict.findings.find((x) => x.kind === kind);
        g.set({ ...labels, kind, severity: f?.severity ?? 'none' }, f ? 1 : 0);
      }
    });
    gauge('vcpuctl_last_verified_change_age_seconds', "seconds since vcpuctl last verified and recorded a change (the intent's time)", [], (g, s, labels) => {
      const at = s.host!.domain.intent ? Date.parse(s.host!.domain.intent.at) : NaN;
      if (Number.isFinite(at)) g.set(labels, Math.max(0, (Date.now() - at) / 1000));
    });
    this.latency = new Histogram({
      name: 'vcpuctl_set_confirm_latency_seconds',
      help: "seconds from set's libvirt call to the guest's confirmation, from the recorded reports",
      labelNames: [...LABELS],
      buckets: LATENCY_BUCKETS,
      registers: reg,
    });
    for (const w of watchers) w.on('change', (c) => this.onIntent(c.state));
  }

  /** The reports already written (newest first, bounded), read once at start. */
  loadReports(): void {
    if (!this.reportDir) return;
    const ids = listReports(this.reportDir)
      .filter((id) => /-set-[0-9a-f]+$/.test(id))
      .slice(-MAX_REPORTS_AT_START);
    for (const id of ids) this.observe(id);
  }

  /** A new intent names the report that verified it: observe that set once. */
  private onIntent(s: DomainState): void {
    const id = s.host?.domain.intent?.report;
    if (id) this.observe(id);
  }

  private observe(id: string): void {
    if (!this.reportDir || this.seenReports.has(id)) return;
    this.seenReports.add(id);
    try {
      const r = readReport(this.reportDir, id);
      const seconds = confirmLatencySeconds(r);
      if (seconds === undefined) return;
      // A report of a connection not watched here is not this exporter's to count.
      const w = this.watchers.find((x) => x.connection.uri === r.uri);
      if (!w) return;
      const s = w.domains.get(r.domain);
      this.latency.observe({ domain: r.domain, uuid: s?.host?.domain.uuid ?? r.after.host?.domain.uuid ?? '', uri: uriLabel(r.uri) }, seconds);
    } catch {
      // a report from elsewhere, or unreadable: no observation
    }
  }
}
