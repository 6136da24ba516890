/**
 * `vcpuctl exporter --listen ADDR`: the watch machinery kept running (one
 * watcher per connection), and its caches served as Prometheus metrics on
 * /metrics.
 */
import { createServer, Server } from 'node:http';
import { VcpuctlError } from '@vcpuctl/proto';
import { Context } from '../core/context';
import { Metrics } from '../watch/metrics';
import { ConnectionState } from '../watch/connection';
import { Watcher } from '../watch/watcher';
import { startFleetWatch, WatchOptions } from './watch';

export interface Exporter {
  /** One per connection, in the order given. */
  watchers: Watcher[];
  metrics: Metrics;
  server: Server;
  address: { host: string; port: number };
  stop(): Promise<void>;
}

/** host:port, [v6]:port, or :port (all addresses). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535) throw new VcpuctlError('USAGE', `--listen wants HOST:PORT (e.g. 127.0.0.1:9848), got "${text}"`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export async function startExporter(
  ctxs: Context[], listen: string, opts: WatchOptions,
  onNotice: (line: string, uri: string) => void, onConnection: (c: ConnectionState) => void = () => undefined,
): Promise<Exporter> {
  const addr = parseListen(listen);
  const watchers = await startFleetWatch(ctxs, opts, {
    change: () => undefined,
    notice: (line, w) => onNotice(line, w.connection.uri),
    connection: (c) => onConnection(c),
  });
  // Every connection writes its reports to the same directory (--report-dir is global).
  const metrics = new Metrics(watchers, ctxs[0]?.reportDir);
  metrics.loadReports();
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('see /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new VcpuctlError('USAGE', `cannot listen on ${listen}: ${err.code ?? err.message}`)));
    server.listen(addr.port, addr.host, () => resolve());
  }).catch(async (err) => {
    await Promise.all(watchers.map((w) => w.stop()));
    throw err;
  });
  const bound = server.address() as { port: number };
  return {
    watchers, metrics, server, address: { host: addr.host, port: bound.port },
    async stop() {
      await new Promise((r) => server.close(r));
      await Promise.all(watchers.map((w) => w.stop()));
    },
  };
}
