import { Command } from 'commander';
import { domainName } from '../core/input';
import { contextFrom, print } from './globals';

export function agentDetachCommand(): Command {
  return new Command('detach')
    .description('remove the org.vcpuctl.agent.0 channel from a domain, live and from its persistent config (idempotent)')
    .argument('<domain>', 'domain name or UUID')
    .action(async (domain: string, _o, cmd: Command) => {
      const { agentDetach } = await import('../commands/agent-detach');
      const { channelText } = await import('./format');
      const { ctx, flags } = await contextFrom(cmd);
      const r = await agentDetach(ctx, domainName(domain));
      print(flags, r, channelText(r));
    });
}
