import { Context } from '../core/context';
import { ReportBuilder, Report, checkReportDir, writeReport } from '../core/report';
import { status } from './status';

export interface VerifyResult {
  report: Report;
  files: { json: string; markdown: string };
}

/** Compares both sides now and writes a report; the caller exits MISMATCH when the verdict is not ok. */
export async function verify(ctx: Context, domain: string): Promise<VerifyResult> {
  checkReportDir(ctx.reportDir);
  const rb = new ReportBuilder(domain, ctx.driver.uri, 'verify');
  rb.mark('inspecting host and guest');
  const s = await status(ctx, domain);
  rb.mark('both views taken');
  const tail = s.verdict.findings.some((f) => f.kind === 'DOMAIN_CRASHED') ? await ctx.driver.qemuLogTail?.(domain, 20) : undefined;
  const report = rb.finish({ host: s.host, guest: s.guest }, s.verdict, { ok: s.verdict.ok }, tail);
  return { report, files: writeReport(ctx.reportDir, report) };
}
