import { Command } from 'commander';
import { domainName } from '../core/input';
import { contextFrom, count, print, seconds } from './globals';

export function setMaxCommand(): Command {
  return new Command('set-max')
    .description('change the maximum vCPUs: graceful shutdown, new maximum in the config, start, wait for the agent, verify')
    .argument('<domain>', 'domain name or UUID')
    .argument('<m>', 'new maximum')
    .option('--restart', 'shut a running domain down and start it again (required when it runs)')
    .option('--force', 'destroy the domain if it does not shut down in time')
    .option('--shutdown-timeout <s>', 'how long to wait for the graceful shutdown', '120')
    .option('--agent-wait <s>', 'how long to wait for the agent after the start', '120')
    .action(async (domain: string, m: string, o: { restart?: boolean; force?: boolean; shutdownTimeout: string; agentWait: string }, cmd: Command) => {
      const { setMax } = await import('../commands/set-max');
      const { verdictText } = await import('./format');
      const { ctx, flags } = await contextFrom(cmd);
      const maximum = count(m, 'the maximum');
      const opts = { restart: !!o.restart, force: !!o.force, shutdownTimeoutMs: seconds(o.shutdownTimeout, '--shutdown-timeout'), agentWaitMs: seconds(o.agentWait, '--agent-wait') };
      const r = await setMax(ctx, domainName(domain), maximum, opts);
      print(flags, { report: r.report, files: r.files }, `${domain}: maximum ${m}\n${verdictText(r.report.verdict)}\nreport: ${r.files.markdown}`);
    });
}
