import { Command } from 'commander';
import { VcpuctlError } from '@vcpuctl/proto/errors';
import { fleetError } from '../core/fleet-exit';
import { domainName } from '../core/input';
import { addFleetOptions, checkFleetUse, FleetFlags, fleetFrom } from './fleet-options';
import { contextFrom, print } from './globals';

export function statusCommand(): Command {
  return addFleetOptions(new Command('status'))
    .description(
      'show host (libvirt, QEMU) and guest (agent) views of each domain, and the verdict; changes nothing and exits 0 whatever the verdict (use `verify` for an exit status), non-zero only when an error prevents it; with --all, the worst error that kept a host or domain from being read (see "Exit codes")',
    )
    .argument('[domain...]', 'domain names or UUIDs (or --all)')
    .action(async (domains: string[], o: FleetFlags, cmd: Command) => {
      checkFleetUse(o, domains);
      if (o.all) {
        const { fleetProblems, fleetStatus } = await import('../commands/fleet-status');
        const { fleetText } = await import('./fleet-text');
        const { ctxs, flags, opts } = await fleetFrom(cmd, o);
        const r = await fleetStatus(ctxs, opts);
        const err = fleetError(fleetProblems(r, false), `${r.summary.unreachableHosts} of ${r.summary.hosts} hosts unreachable, ${r.summary.unread} domains unread`);
        print(flags, { ...r, exit: { status: err?.exitCode ?? 0, code: err?.code ?? null } }, fleetText(r));
        if (err) throw err;
        return;
      }
      if (domains.length === 0) throw new VcpuctlError('USAGE', 'status wants one or more domain names, or --all');
      const { status } = await import('../commands/status');
      const { statusText } = await import('./format');
      const { ctx, flags } = await contextFrom(cmd);
      const names = domains.map(domainName);
      const results = [];
      for (const d of names) results.push(await status(ctx, d));
      print(flags, results, results.map(statusText).join('\n\n'));
    });
}
