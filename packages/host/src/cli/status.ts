import { Command } from 'commander';
import { status } from '../commands/status';
import { domainName } from '../core/input';
import { contextFrom, print } from './globals';
import { statusText } from './format';

export function statusCommand(): Command {
  return new Command('status')
    .description('show host (libvirt, QEMU) and guest (agent) views of each domain, and the verdict; changes nothing and exits 0 whatever the verdict (use `verify` for an exit status), non-zero only when an error prevents it')
    .argument('<domain...>', 'domain names or UUIDs')
    .action(async (domains: string[], _o, cmd: Command) => {
      const { ctx, flags } = contextFrom(cmd);
      const names = domains.map(domainName);
      const results = [];
      for (const d of names) results.push(await status(ctx, d));
      print(flags, results, results.map(statusText).join('\n\n'));
    });
}
