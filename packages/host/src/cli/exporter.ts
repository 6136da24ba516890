import { Command } from 'commander';
import { startExporter } from '../commands/exporter';
import { contextFrom } from './globals';
import { WatchFlags, addWatchOptions, watchOptions } from './watch-options';

export function exporterCommand(): Command {
  return addWatchOptions(new Command('exporter')
    .description("serve Prometheus metrics (vcpuctl_*) for the watched domains on /metrics, from watch's live cache"))
    .requiredOption('--listen <addr>', 'HOST:PORT to serve /metrics on (e.g. 127.0.0.1:9848)')
    .action(async (domains: string[], o: WatchFlags & { listen: string }, cmd: Command) => {
      const { ctx } = contextFrom(cmd);
      const e = await startExporter(ctx, o.listen, watchOptions(domains, o),
        (notice) => process.stderr.write(`vcpuctl exporter: ${notice}\n`));
      process.stderr.write(`vcpuctl exporter: serving http://${e.address.host.includes(':') ? `[${e.address.host}]` : e.address.host}:${e.address.port}/metrics\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await e.stop();
    });
}
