import { Command } from 'commander';
import { agentDetach } from '../commands/agent-detach';
import { domainName } from '../core/input';
import { contextFrom, print } from './globals';
import { channelText } from './format';

export function agentDetachCommand(): Command {
  return new Command('detach')
    .description('remove the org.vcpuctl.agent.0 channel from a domain, live and from its persistent config (idempotent)')
    .argument('<domain>', 'domain name or UUID')
    .action(async (domain: string, _o, cmd: Command) => {
      const { ctx, flags } = contextFrom(cmd);
      const r = await agentDetach(ctx, domainName(domain));
      print(flags, r, channelText(r));
    });
}
