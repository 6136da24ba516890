import { Command } from 'commander';
import { verify } from '../commands/verify';
import { verdictError } from '../core/verdict';
import { domainName } from '../core/input';
import { contextFrom, print } from './globals';
import { reachedText, verdictText } from './format';

export function verifyCommand(): Command {
  return new Command('verify')
    .description('compare host and guest now, write a report, exit 3 (MISMATCH) when they disagree')
    .argument('<domain>', 'domain name or UUID')
    .action(async (domain: string, _o, cmd: Command) => {
      const { ctx, flags } = contextFrom(cmd);
      const r = await verify(ctx, domainName(domain));
      print(flags, { report: r.report, files: r.files }, `${reachedText(r.report.after.guest)}\n${verdictText(r.report.verdict)}\nreport: ${r.files.markdown}`);
      const err = verdictError(r.report.verdict);
      if (err) throw err;
    });
}
