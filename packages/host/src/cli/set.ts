import { Command, Option } from 'commander';
import { VcpuctlError } from '@vcpuctl/proto/errors';
import type { Strategy } from '../commands/set';
import type { SetSelection } from '../commands/set-targets';
import { fleetError } from '../core/fleet-exit';
import { parseNameGlob, parseStates } from '../core/fleet-filter';
import { DEFAULT_HOSTS_FILE, fleetUris } from '../core/hosts-file';
import { domainName } from '../core/input';
import { DEFAULT_SET_PARALLEL } from '../core/parallel';
import { addFleetOptions, FleetFlags, parallelOf } from './fleet-options';
import { contextFrom, contextsFrom, count, defaultUri, GlobalFlags, print, seconds } from './globals';

interface SetFlags extends FleetFlags {
  live?: boolean;
  config?: boolean;
  strategy: Strategy;
  timeout: string;
  dryRun?: boolean;
}

const EXIT_HELP = `
Several domains (DOMAIN... N, or --all N): each is changed exactly as \`set DOMAIN N\` changes it (its own lock,
plan and report), at most --parallel at a time; one failure does not stop the others. The end is a table (or, with
--json, one document: per-domain results and a summary). Exit status: 0 when every domain is done; else the worst
per-domain problem, ranked as for status/verify --all (see \`vcpuctl --help\`), each domain counting the code
\`set DOMAIN N\` would have exited with (e.g. 6 for a hot-add no guest agent confirmed, 8 for a count over the maximum).
--dry-run prints the plan (per domain: the strategy auto resolves to, from what to what, or the refusal and why) and
changes nothing: no lock, no libvirt write, no metadata, no report. It exits 0 when nothing would be refused, else with
the worst refusal, ranked the same way.`;

export function setCommand(): Command {
  return addFleetOptions(new Command('set'), {
    all: 'every domain of every connection (-c repeated, --hosts); narrow with --state and --name (e.g. --state running)',
    parallel: 'how many domains are changed at once (a few: each mostly waits on its guest, and more would spread a mistaken count further before the first failure shows)',
    hosts: `a file of libvirt URIs, one a line, # comments (with --all and no -c: ${DEFAULT_HOSTS_FILE} when it exists; named domains read it only when given)`,
    parallelDefault: DEFAULT_SET_PARALLEL,
    withNames: true,
  })
    .description('bring one or several domains to N online vCPUs and wait until each guest confirms it (hot-add up; unplug or guest offline down)')
    .argument('<domain-and-n...>', 'DOMAIN N, DOMAIN... N, or --all N: domain names or UUIDs, then the wanted number of online vCPUs')
    .option('--live', 'change the running domain (the default)')
    .option('--config', 'also persist the count in the domain config')
    .addOption(new Option('--strategy <s>', 'how to get there').choices(['auto', 'hotplug', 'unplug', 'guest-offline']).default('auto'))
    .option('--timeout <s>', 'how long to wait for the guest to confirm', '60')
    .option('--dry-run', 'print the plan (strategy, from what to what, what would be refused and why) and change nothing')
    .addHelpText('after', EXIT_HELP)
    .action(async (args: string[], o: SetFlags, cmd: Command) => {
      const n = args[args.length - 1]!;
      const domains = args.slice(0, -1);
      if (o.all && domains.length) throw new VcpuctlError('USAGE', '--all takes no domain names (use --name GLOB to choose)');
      if (!o.all && domains.length === 0) throw new VcpuctlError('USAGE', 'set wants DOMAIN N, DOMAIN... N, or --all N');
      if (!o.all && (o.state || o.name !== undefined)) throw new VcpuctlError('USAGE', `${[o.state && '--state', o.name !== undefined && '--name'].filter(Boolean).join(', ')} only with --all`);
      const g = cmd.optsWithGlobals() as GlobalFlags;
      const several = o.all || domains.length > 1 || (g.connect?.length ?? 0) > 1 || o.hosts !== undefined || cmd.getOptionValueSource('parallel') === 'cli';
      if (!several && !o.dryRun) {
        // Exactly the single-domain command it always was.
        const domain = domains[0]!;
        const { setVcpus } = await import('../commands/set');
        const { reachedText, verdictText } = await import('./format');
        const { ctx, flags } = await contextFrom(cmd);
        const target = count(n, 'the vCPU count');
        const timeoutMs = seconds(o.timeout, '--timeout');
        const r = await setVcpus(ctx, domainName(domain), target, { live: o.live ?? true, config: !!o.config, strategy: o.strategy, timeoutMs });
        print(
          flags,
          { report: r.report, files: r.files },
          `${domain}: ${target} vCPU${target === 1 ? '' : 's'}\n${reachedText(r.report.after.guest)}\n${verdictText(r.report.verdict)}${r.report.intent?.error ? `\nintent NOT recorded: ${r.report.intent.error}` : ''}\nreport: ${r.files.markdown}`,
        );
        return;
      }
      const target = count(n, 'the vCPU count');
      const opts = { live: o.live ?? true, config: !!o.config, strategy: o.strategy, timeoutMs: seconds(o.timeout, '--timeout') };
      const sel: SetSelection = o.all ? { filter: { nameGlob: o.name === undefined ? undefined : parseNameGlob(o.name), states: o.state ? parseStates(o.state) : undefined } } : { names: [...new Set(domains.map(domainName))] };
      const parallel = parallelOf(o.parallel);
      // Named domains read the hosts file only when it is asked for: `set A B N` stays `set A N` twice.
      const uris = fleetUris(g.connect, o.hosts, defaultUri(), o.all ? DEFAULT_HOSTS_FILE : '');
      const { ctxs, flags } = await contextsFrom(cmd, uris);
      const { setMany, setProblems } = await import('../commands/set-many');
      const { planText, setManyText } = await import('./set-text');
      if (o.dryRun) {
        const { setDryRun } = await import('../commands/set-dry-run');
        const r = await setDryRun(ctxs, sel, target, opts, parallel);
        const err = fleetError(setProblems(r), `dry run: ${r.summary.refused} of ${r.summary.domains} domains would be refused, ${r.summary.unreachableHosts} of ${r.summary.hosts} hosts unreachable; nothing was changed`);
        print(flags, { ...r, exit: { status: err?.exitCode ?? 0, code: err?.code ?? null } }, planText(r));
        if (err) throw err;
        return;
      }
      const r = await setMany(ctxs, sel, target, opts, parallel);
      const s = r.summary;
      const err = fleetError(setProblems(r), `${s.done} of ${s.domains} domains done, ${s.failed} failed, ${s.refused} refused, ${s.unreachableHosts} of ${s.hosts} hosts unreachable`);
      print(flags, { ...r, exit: { status: err?.exitCode ?? 0, code: err?.code ?? null } }, setManyText(r, ctxs[0]?.reportDir ?? ''));
      if (err) throw err;
    });
}
