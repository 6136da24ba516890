/** `verify --all`: fleet status, then one report per domain that has a verdict (checked or crashed). */
import { Context } from '../core/context';
import { checkReportDir, ReportBuilder, writeReport } from '../core/report';
import { fleetStatus, FleetOptions, FleetResult } from './fleet-status';

export interface FleetVerifyResult extends FleetResult {
  /** Report files by URI then domain. */
  reports: { uri: string; domain: string; json: string; markdown: string }[];
}

export async function fleetVerify(contexts: Context[], opts: FleetOptions): Promise<FleetVerifyResult> {
  for (const ctx of contexts) checkReportDir(ctx.reportDir);
  const started = Date.now();
  const result = await fleetStatus(contexts, opts);
  const reports: FleetVerifyResult['reports'] = [];
  for (const h of result.hosts) {
    const ctx = contexts.find((c) => c.driver.uri === h.uri)!;
    for (const d of h.domains) {
      if (!d.verdict || !d.host) continue;
      const rb = new ReportBuilder(d.domain, ctx.driver, 'verify');
      rb.timeline.push({ atMs: started, what: 'fleet verify: inspecting every host and guest' });
      rb.mark('both views taken');
      const tail = d.verdict.findings.some((f) => f.kind === 'DOMAIN_CRASHED') ? await ctx.driver.qemuLogTail(d.domain, 20) : undefined;
      const report = rb.finish({ host: d.host, guest: d.guest ?? { reachable: false, error: 'domain not running' } }, d.verdict, { ok: d.verdict.ok }, tail);
      reports.push({ uri: h.uri, domain: d.domain, ...writeReport(ctx.reportDir, report) });
    }
  }
  return { ...result, reports };
}
