import { Command, Option } from 'commander';
import { setVcpus, Strategy } from '../commands/set';
import { domainName } from '../core/input';
import { contextFrom, count, print, seconds } from './globals';
import { reachedText, verdictText } from './format';

export function setCommand(): Command {
  return new Command('set')
    .description('bring a domain to N online vCPUs and wait until the guest confirms it (hot-add up; unplug or guest offline down)')
    .argument('<domain>', 'domain name or UUID')
    .argument('<n>', 'wanted number of online vCPUs')
    .option('--live', 'change the running domain (the default)')
    .option('--config', 'also persist the count in the domain config')
    .addOption(new Option('--strategy <s>', 'how to get there').choices(['auto', 'hotplug', 'unplug', 'guest-offline']).default('auto'))
    .option('--timeout <s>', 'how long to wait for the guest to confirm', '60')
    .action(async (domain: string, n: string, o: { live?: boolean; config?: boolean; strategy: Strategy; timeout: string }, cmd: Command) => {
      const { ctx, flags } = contextFrom(cmd);
      const target = count(n, 'the vCPU count');
      const timeoutMs = seconds(o.timeout, '--timeout');
      const r = await setVcpus(ctx, domainName(domain), target, { live: o.live ?? true, config: !!o.config, strategy: o.strategy, timeoutMs });
      print(flags, { report: r.report, files: r.files }, `${domain}: ${target} vCPU${target === 1 ? "" : "s"}\n${reachedText(r.report.after.guest)}\n${verdictText(r.report.verdict)}\nreport: ${r.files.markdown}`);
    });
}
