/**
 * The exporter's metrics, served from the watcher's cache: a scrape reads
 * what the event streams already keep fresh and runs no virsh and asks no
 * agent. prom-client writes the exposition format.
 */
import { Gauge, Histogram, Registry } from 'prom-client';
import { parseCpuList } from '@vcpuctl/proto';
import { FINDING_KINDS } from '../core/verdict';
import { listReports, readReport } from '../core/report';
import { DomainState, Watcher } from './watcher';
import { confirmLatencySeconds } from './set-latency';

/** Reports read at start for the latency histogram: the newest ones; older sets say little about today. */
export const MAX_REPORTS_AT_START = 1000;

/** Buckets for set confirm latency: a hot-add confirms in 0.3-1 s on TCG, a stuck one hits the 60 s timeout. */
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];

const LABELS = ['domain', 'uuid', 'uri'] as const;

export class Metrics {
  readonly registry = new Registry();
  private readonly seenReports = new Set<string>();
  private readonly latency: Histogram<(typeof LABELS)[number]>;

  constructor(private readonly watcher: Watcher, private readonly uri: string, private readonly reportDir: string | undefined) {
    const reg = [this.registry];
    const states = () => [...watcher.domains.values()].filter((s) => s.host);
    const labels = (s: DomainState) => ({ domain: s.name, uuid: s.host!.domain.uuid, uri });
    const gauge = (name: string, help: string, extra: string[], fill: (g: Gauge<string>, s: DomainState) => void) =>
      new Gauge({
        name, help, labelNames: [...LABELS, ...extra], registers: reg,
        collect() {
          this.reset();
          for (const s of states()) fill(this, s);
        },
      });
    gauge('vcpuctl_libvirt_vcpus_current', "libvirt's current vCPU count (view: live or config)", ['view'], (g, s) => {
      const d = s.host!.domain;
      if (d.live) g.set({ ...labels(s), view: 'live' }, d.live.current);
      g.set({ ...labels(s), view: 'config' }, d.config.current);
    });
    gauge('vcpuctl_libvirt_vcpus_maximum', "libvirt's maximum vCPU count (view: live or config)", ['view'], (g, s) => {
      const d = s.host!.domain;
      if (d.live) g.set({ ...labels(s), view: 'live' }, d.live.maximum);
      g.set({ ...labels(s), view: 'config' }, d.config.maximum);
    });
    gauge('vcpuctl_domain_running', '1 while the domain runs', [], (g, s) => g.set(labels(s), s.host!.domain.state === 'running' ? 1 : 0));
    gauge('vcpuctl_qemu_vcpus_plugged', "vCPUs QEMU has plugged (query-hotpluggable-cpus)", [], (g, s) => {
      if (s.host!.qemu) g.set(labels(s), s.host!.qemu.plugged);
    });
    gauge('vcpuctl_guest_reachable', "1 while the guest's agent answers", [], (g, s) => g.set(labels(s), s.guest.reachable ? 1 : 0));
    const guestCount = (which: 'present' | 'online') => (g: Gauge<string>, s: DomainState) => {
      const list = s.guest.reachable ? s.guest.snapshot?.[which] : undefined;
      if (typeof list === 'string') g.set(labels(s), list ? parseCpuList(list).length : 0);
    };
    gauge('vcpuctl_guest_cpus_present', "CPUs the guest kernel lists as present", [], guestCount('present'));
    gauge('vcpuctl_guest_cpus_online', "CPUs the guest kernel has online", [], guestCount('online'));
    gauge('vcpuctl_intent_cpus_online', "the online count vcpuctl last recorded as intended", [], (g, s) => {
      if (s.host!.domain.intent) g.set(labels(s), s.host!.domain.intent.online);
    });
    gauge('vcpuctl_verdict_ok', '1 while the verdict has no error finding', [], (g, s) => {
      if (s.verdict) g.set(labels(s), s.verdict.ok ? 1 : 0);
    });
    gauge('vcpuctl_verdict_finding', 'one series per finding kind: 1 while the verdict holds it, else 0', ['kind', 'severity'], (g, s) => {
      if (!s.verdict) return;
      for (const kind of FINDING_KINDS) {
        const f = s.verdict.findings.find((x) => x.kind === kind);
        g.set({ ...labels(s), kind, severity: f?.severity ?? 'none' }, f ? 1 : 0);
      }
    });
    gauge('vcpuctl_last_verified_change_age_seconds', "seconds since vcpuctl last verified and recorded a change (the intent's time)", [], (g, s) => {
      const at = s.host!.domain.intent ? Date.parse(s.host!.domain.intent.at) : NaN;
      if (Number.isFinite(at)) g.set(labels(s), Math.max(0, (Date.now() - at) / 1000));
    });
    this.latency = new Histogram({
      name: 'vcpuctl_set_confirm_latency_seconds',
      help: "seconds from set's libvirt call to the guest's confirmation, from the recorded reports",
      labelNames: [...LABELS], buckets: LATENCY_BUCKETS, registers: reg,
    });
    watcher.on('change', (c) => this.onIntent(c.state));
  }

  /** The reports already written (newest first, bounded), read once at start. */
  loadReports(): void {
    if (!this.reportDir) return;
    const ids = listReports(this.reportDir).filter((id) => /-set-[0-9a-f]+$/.test(id)).slice(-MAX_REPORTS_AT_START);
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
      const s = this.watcher.domains.get(r.domain);
      this.latency.observe({ domain: r.domain, uuid: s?.host?.domain.uuid ?? r.after.host?.domain.uuid ?? '', uri: this.uri }, seconds);
    } catch {
      // a report from elsewhere, or unreadable: no observation
    }
  }
}
