import { Command } from 'commander';
import { forTerminal } from '../guest/visible-text';
import { connectionsFrom } from './fleet-options';
import { WatchFlags, addWatchOptions, watchOptions } from './watch-options';

export function exporterCommand(): Command {
  return addWatchOptions(
    new Command('exporter').description(
      "serve Prometheus metrics (vcpuctl_*) for the watched domains on /metrics, from watch's live cache; with several connections (-c repeated, --hosts) every domain series carries its uri, vcpuctl_host_up{uri,host} is 1 or 0 per connection, and a host that does not answer is retried while the others are served",
    ),
  )
    .requiredOption('--listen <addr>', 'HOST:PORT to serve /metrics on (e.g. 127.0.0.1:9848); :PORT is every address, and without --web-config-file anyone who reaches it reads the metrics')
    .option(
      '--web-config-file <file>',
      "TLS and basic auth from Prometheus's web configuration file (exporter-toolkit's format, as node_exporter's --web.config.file): tls_server_config (cert_file, key_file, client_ca_file, client_auth_type, min_version, ...; relative paths from the file's directory), basic_auth_users (user: bcrypt hash, e.g. from htpasswd -nBC 10 \"\" | tr -d ':\\n'), http_server_config.headers; read once at start, unknown keys refused",
    )
    .action(async (domains: string[], o: WatchFlags & { listen: string; webConfigFile?: string }, cmd: Command) => {
      // Loaded here, not at start-up: prom-client is for this command only.
      const { startExporter, asksForCredentials, servesEveryAddress } = await import('../commands/exporter');
      const { ctxs } = await connectionsFrom(cmd, o.hosts);
      const multi = ctxs.length > 1;
      const e = await startExporter(
        ctxs,
        o.listen,
        watchOptions(domains, o),
        (notice, uri) => process.stderr.write(`vcpuctl exporter: ${forTerminal(`${multi ? `${uri}: ` : ''}${notice}`)}\n`),
        (c) => process.stderr.write(`vcpuctl exporter: ${forTerminal(`${c.uri}: ${c.up ? 'up' : `DOWN: ${c.error ?? '?'}; retrying`}`)}\n`),
        o.webConfigFile,
      );
      if (servesEveryAddress(e.address.host) && !asksForCredentials(e.web)) {
        process.stderr.write(`vcpuctl exporter: warning: metrics (domain names, vCPU counts) are served to every address without credentials; listen on 127.0.0.1:${e.address.port} or give --web-config-file\n`);
      }
      if (e.web && !e.web.tls && e.web.users.size > 0) {
        process.stderr.write('vcpuctl exporter: warning: basic_auth_users without tls_server_config: passwords cross the network in clear\n');
      }
      const scheme = e.web?.tls ? 'https' : 'http';
      process.stderr.write(`vcpuctl exporter: serving ${scheme}://${e.address.host.includes(':') ? `[${e.address.host}]` : e.address.host}:${e.address.port}/metrics\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await e.stop();
    });
}
