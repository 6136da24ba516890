import { Command } from 'commander';
import { domainName } from '../core/input';
import { contextFrom, print } from './globals';

export function agentAttachCommand(): Command {
  return new Command('attach')
    .description('add the org.vcpuctl.agent.0 virtio-serial channel to a domain, live and in its persistent config (idempotent)')
    .argument('<domain>', 'domain name or UUID')
    .option('--dry-run', 'print what would be added on each side (running domain, persistent config) and change nothing')
    .action(async (domain: string, o: { dryRun?: boolean }, cmd: Command) => {
      const { agentAttach, agentAttachPlan } = await import('../commands/agent-attach');
      const { channelText } = await import('./format');
      const { ctx, flags } = await contextFrom(cmd);
      if (o.dryRun) {
        const p = await agentAttachPlan(ctx, domainName(domain));
        const held = p.lockHeldBy !== undefined ? [`  another vcpuctl (pid ${p.lockHeldBy}) is changing ${p.domain} now`] : [];
        print(flags, p, [`dry run: nothing is changed`, `${p.domain}: channel ${p.channel}`, `  running domain:    ${p.live}`, `  persistent config: ${p.config}`, ...(p.note ? [`  note: ${p.note}`] : []), ...held].join('\n'));
        return;
      }
      const r = await agentAttach(ctx, domainName(domain));
      print(flags, r, channelText(r));
    });
}
