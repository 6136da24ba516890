import { Command } from 'commander';
import { cpuIndexes, domainName } from '../core/input';
import { contextFrom, print } from './globals';

export function onlineCommand(online: boolean): Command {
  const name = online ? 'online' : 'offline';
  return new Command(name)
    .description(`${name} CPUs inside the guest, through its agent (guest-side only: the host keeps counting them)`)
    .argument('<domain>', 'domain name or UUID')
    .argument('<cpu...>', 'guest CPU numbers')
    .option('--dry-run', "print each CPU's state in the guest now and what would be asked of it; change nothing (the guest's own guards still decide when it runs)")
    .action(async (domain: string, cpus: string[], o: { dryRun?: boolean }, cmd: Command) => {
      const { setGuestCpus, setGuestCpusPlan } = await import('../commands/online');
      const { ctx, flags } = await contextFrom(cmd);
      if (o.dryRun) {
        const p = await setGuestCpusPlan(ctx, domainName(domain), cpuIndexes(cpus), online);
        const lines = p.cpus.map(
          (c) => `cpu${c.cpu}: ${c.now} now${c.change === 'none' ? (c.now === 'not present' ? ': the guest kernel would refuse it' : ': nothing to do') : `: would be ${c.change === 'online' ? 'onlined' : 'offlined'}`}`,
        );
        const held = p.lockHeldBy !== undefined ? [`another vcpuctl (pid ${p.lockHeldBy}) is changing ${p.domain} now`] : [];
        print(flags, p, ['dry run: nothing is changed', ...lines, `guest now: present ${p.present}, online ${p.online}`, ...held].join('\n'));
        return;
      }
      const r = await setGuestCpus(ctx, domainName(domain), cpuIndexes(cpus), online);
      print(
        flags,
        r,
        `${r.results.map((x) => `cpu${x.cpu}: ${x.outcome}`).join('\n')}\nguest online now: ${r.online}\n${r.intent.error ? `intent NOT recorded: ${r.intent.error}` : `intent recorded: ${r.intent.intent.online} online (${r.online})`}`,
      );
    });
}
