import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { contextFrom, print } from './globals';

export function reportCommand(): Command {
  const report = new Command('report').description('the saved verification reports');
  report
    .command('list')
    .description('list saved reports, oldest first')
    .action(async (_o, cmd: Command) => {
      const { listReports } = await import('../core/report');
      const { ctx, flags } = await contextFrom(cmd);
      const ids = listReports(ctx.reportDir);
      print(flags, ids, ids.length ? ids.join('\n') : `no reports in ${ctx.reportDir}`);
    });
  report
    .command('show')
    .description('print one report (Markdown, or JSON with --json)')
    .argument('<id>', 'report id from `vcpuctl report list`')
    .action(async (id: string, _o, cmd: Command) => {
      const { readReport } = await import('../core/report');
      const { ctx, flags } = await contextFrom(cmd);
      const r = readReport(ctx.reportDir, id);
      print(flags, r, readFileSync(join(ctx.reportDir, `${r.id}.md`), 'utf8'));
    });
  return report;
}
