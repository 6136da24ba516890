import { Command } from 'commander';
import { domainName } from '../core/input';
import { contextFrom, print } from './globals';

export function agentAttachCommand(): Command {
  return new Command('attach')
    .description('add the org.vcpuctl.agent.0 virtio-serial channel to a domain, live and in its persistent config (idempotent)')
    .argument('<domain>', 'domain name or UUID')
    .action(async (domain: string, _o, cmd: Command) => {
      const { agentAttach } = await import('../commands/agent-attach');
      const { channelText } = await import('./format');
      const { ctx, flags } = await contextFrom(cmd);
      const r = await agentAttach(ctx, domainName(domain));
      print(flags, r, channelText(r));
    });
}
