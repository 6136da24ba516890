import { Command } from 'commander';
import { VcpuctlError } from '@vcpuctl/proto/errors';
import { fleetError } from '../core/fleet-exit';
import { domainName } from '../core/input';
import { addFleetOptions, checkFleetUse, FleetFlags, fleetFrom } from './fleet-options';
import { contextFrom, print } from './globals';

export function verifyCommand(): Command {
  return addFleetOptions(new Command('verify'))
    .description('compare host and guest now, write a report, exit 3 (MISMATCH) when they disagree; with --all, one report per checked domain and the exit status of the worst problem (see "Exit codes")')
    .argument('[domain]', 'domain name or UUID (or --all)')
    .action(async (domain: string | undefined, o: FleetFlags, cmd: Command) => {
      checkFleetUse(o, domain === undefined ? [] : [domain]);
      if (o.all) {
        const { fleetProblems } = await import('../commands/fleet-status');
        const { fleetVerify } = await import('../commands/fleet-verify');
        const { fleetText } = await import('./fleet-text');
        const { ctxs, flags, opts } = await fleetFrom(cmd, o);
        const r = await fleetVerify(ctxs, opts);
        const s = r.summary;
        const err = fleetError(fleetProblems(r, true), `${s.failed} of ${s.checked} checked domains failing, ${s.unreachableHosts} of ${s.hosts} hosts unreachable, ${s.unread} domains unread`);
        print(flags, { ...r, exit: { status: err?.exitCode ?? 0, code: err?.code ?? null } }, `${fleetText(r)}\n${r.reports.length} reports in ${ctxs[0]?.reportDir}`);
        if (err) throw err;
        return;
      }
      if (domain === undefined) throw new VcpuctlError('USAGE', 'verify wants a domain name, or --all');
      const { verify } = await import('../commands/verify');
      const { verdictError } = await import('../core/verdict');
      const { reachedText, verdictText } = await import('./format');
      const { ctx, flags } = await contextFrom(cmd);
      const r = await verify(ctx, domainName(domain));
      print(flags, { report: r.report, files: r.files }, `${reachedText(r.report.after.guest)}\n${verdictText(r.report.verdict)}\nreport: ${r.files.markdown}`);
      const err = verdictError(r.report.verdict);
      if (err) throw err;
    });
}
