import { Context } from '../core/context';
import { ReportBuilder, Report, checkReportDir, writeReport } from '../core/report';
import { parseCpuList } from '@vcpuctl/proto';
import { checkClaims, claimFindings, claimLine, claimsOffline } from '../core/claim-check';
import { computeVerdict } from '../core/verdict';
import { status } from './status';

export interface VerifyResult {
  report: Report;
  files: { json: string; markdown: string };
}

/** Compares both sides now and writes a report; the caller exits MISMATCH when the verdict is not ok. */
export async function verify(ctx: Context, domain: string): Promise<VerifyResult> {
  checkReportDir(ctx.reportDir);
  const rb = new ReportBuilder(domain, ctx.driver, 'verify');
  rb.mark('inspecting host and guest');
  let s = await status(ctx, domain);
  rb.mark('both views taken');
  if (s.host.domain.state === 'running' && s.guest.reachable && claimsOffline(s.guest.snapshot)) {
    // The guest says some CPUs are offline: believe it only if the hypervisor saw them stop running.
    let latest = s;
    const check = await checkClaims(ctx, domain, async () => (latest = await status(ctx, domain)).guest.snapshot, {
      // Any CPU it calls online must have run at some time; the check looks only at vCPUs it can map.
      hotAdded: parseCpuList(s.guest.snapshot?.online ?? ''),
    });
    rb.mark(claimLine(check));
    s = { ...latest, verdict: computeVerdict(latest.host, latest.guest, { claims: claimFindings(domain, check) }) };
  }
  const tail = s.verdict.findings.some((f) => f.kind === 'DOMAIN_CRASHED') ? await ctx.driver.qemuLogTail(domain, 20) : undefined;
  const report = rb.finish({ host: s.host, guest: s.guest }, s.verdict, { ok: s.verdict.ok }, tail);
  return { report, files: writeReport(ctx.reportDir, report) };
}
