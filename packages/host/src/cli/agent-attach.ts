import { Command } from 'commander';
import { agentAttach } from '../commands/agent-attach';
import { domainName } from '../core/input';
import { contextFrom, print } from './globals';
import { channelText } from './format';

export function agentAttachCommand(): Command {
  return new Command('attach')
    .description('add the org.vcpuctl.agent.0 virtio-serial channel to a domain, live and in its persistent config (idempotent)')
    .argument('<domain>', 'domain name or UUID')
    .action(async (domain: string, _o, cmd: Command) => {
      const { ctx, flags } = contextFrom(cmd);
      const r = await agentAttach(ctx, domainName(domain));
      print(flags, r, channelText(r));
    });
}
