import { Command } from 'commander';
import { cpuIndexes, domainName } from '../core/input';
import { contextFrom, print } from './globals';

export function onlineCommand(online: boolean): Command {
  const name = online ? 'online' : 'offline';
  return new Command(name)
    .description(`${name} CPUs inside the guest, through its agent (guest-side only: the host keeps counting them)`)
    .argument('<domain>', 'domain name or UUID')
    .argument('<cpu...>', 'guest CPU numbers')
    .action(async (domain: string, cpus: string[], _o, cmd: Command) => {
      const { setGuestCpus } = await import('../commands/online');
      const { ctx, flags } = await contextFrom(cmd);
      const r = await setGuestCpus(ctx, domainName(domain), cpuIndexes(cpus), online);
      print(
        flags,
        r,
        `${r.results.map((x) => `cpu${x.cpu}: ${x.outcome}`).join('\n')}\nguest online now: ${r.online}\n${r.intent.error ? `intent NOT recorded: ${r.intent.error}` : `intent recorded: ${r.intent.intent.online} online (${r.online})`}`,
      );
    });
}
