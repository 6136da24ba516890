import { domainName } from '../core/input';
import { Command } from 'commander';
import { startExporter } from '../commands/exporter';
import { contextFrom, seconds } from './globals';

export function exporterCommand(): Command {
  return new Command('exporter')
    .description("serve Prometheus metrics (vcpuctl_*) for the watched domains on /metrics, from watch's live cache")
    .argument('[domain...]', 'domain names (or --all)')
    .requiredOption('--listen <addr>', 'HOST:PORT to serve /metrics on (e.g. 127.0.0.1:9848)')
    .option('--all', 'every domain at the connection, as they are defined and removed')
    .option('--host-poll <s>', 'safety-net re-read of every domain in one virsh process', '30')
    .action(async (domains: string[], o: { listen: string; all?: boolean; hostPoll: string }, cmd: Command) => {
      const { ctx } = contextFrom(cmd);
      const e = await startExporter(ctx, o.listen, { domains: domains.map(domainName), all: !!o.all, hostPollMs: Math.max(1000, seconds(o.hostPoll, '--host-poll')) },
        (notice) => process.stderr.write(`vcpuctl exporter: ${notice}\n`));
      process.stderr.write(`vcpuctl exporter: serving http://${e.address.host.includes(':') ? `[${e.address.host}]` : e.address.host}:${e.address.port}/metrics\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await e.stop();
    });
}
