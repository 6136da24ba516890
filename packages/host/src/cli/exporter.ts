import { Command } from 'commander';
import { forTerminal } from '../guest/guest-input';
import { connectionsFrom } from './fleet-options';
import { WatchFlags, addWatchOptions, watchOptions } from './watch-options';

export function exporterCommand(): Command {
  return addWatchOptions(new Command('exporter')
    .description("serve Prometheus metrics (vcpuctl_*) for the watched domains on /metrics, from watch's live cache; with several connections (-c repeated, --hosts) every domain series carries its uri, vcpuctl_host_up{uri,host} is 1 or 0 per connection, and a host that does not answer is retried while the others are served"))
    .requiredOption('--listen <addr>', 'HOST:PORT to serve /metrics on (e.g. 127.0.0.1:9848)')
    .action(async (domains: string[], o: WatchFlags & { listen: string }, cmd: Command) => {
      // Loaded here, not at start-up: prom-client is for this command only.
      const { startExporter } = await import('../commands/exporter');
      const { ctxs } = connectionsFrom(cmd, o.hosts);
      const multi = ctxs.length > 1;
      const e = await startExporter(ctxs, o.listen, watchOptions(domains, o),
        (notice, uri) => process.stderr.write(`vcpuctl exporter: ${forTerminal(`${multi ? `${uri}: ` : ''}${notice}`)}\n`),
        (c) => process.stderr.write(`vcpuctl exporter: ${forTerminal(`${c.uri}: ${c.up ? 'up' : `DOWN: ${c.error ?? '?'}; retrying`}`)}\n`));
      process.stderr.write(`vcpuctl exporter: serving http://${e.address.host.includes(':') ? `[${e.address.host}]` : e.address.host}:${e.address.port}/metrics\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await e.stop();
    });
}
