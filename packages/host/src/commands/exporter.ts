/**
 * `vcpuctl exporter --listen ADDR [--web-config-file FILE]`: the watch
 * machinery kept running (one watcher per connection), and its caches served
 * as Prometheus metrics on /metrics; over TLS and behind basic auth when a
 * web configuration file (Prometheus's format, watch/web-config.ts) says so.
 */
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { VcpuctlError } from '@vcpuctl/proto';
import { Context } from '../core/context';
import { Metrics } from '../watch/metrics';
import { ConnectionState } from '../watch/connection';
import { Watcher } from '../watch/watcher';
import { BasicAuth } from '../watch/basic-auth';
import { readWebConfig, secureContextOptions, WebConfig } from '../watch/web-config';
import { startFleetWatch, WatchOptions } from './watch';

export interface Exporter {
  /** One per connection, in the order given. */
  watchers: Watcher[];
  metrics: Metrics;
  server: Server;
  address: { host: string; port: number };
  /** What --web-config-file asked for (undefined without one). */
  web: WebConfig | undefined;
  stop(): Promise<void>;
}

/** No host, 0.0.0.0 or ::: every address of the machine. */
export function servesEveryAddress(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

/** Whether a client must prove who it is: a password, or a certificate the configured CA signed. */
export function asksForCredentials(web: WebConfig | undefined): boolean {
  return !!web && (web.users.size > 0 || web.tls?.clientAuth === 'RequireAndVerifyClientCert');
}

/** host:port, [v6]:port, or :port (all addresses). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535) throw new VcpuctlError('USAGE', `--listen wants HOST:PORT (e.g. 127.0.0.1:9848), got "${text}"`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export async function startExporter(
  ctxs: Context[],
  listen: string,
  opts: WatchOptions,
  onNotice: (line: string, uri: string) => void,
  onConnection: (c: ConnectionState) => void = () => undefined,
  webConfigFile?: string,
): Promise<Exporter> {
  const addr = parseListen(listen);
  // Before any connection is opened: a bad file stops the start at once.
  const web = webConfigFile === undefined ? undefined : readWebConfig(webConfigFile);
  const watchers = await startFleetWatch(ctxs, opts, {
    // The exporter prints no changes, except what --reconcile does to a guest: that is an action, and logged.
    change: (c, w) => {
      for (const line of c.changes) if (line.startsWith('reconcile: ')) onNotice(`${c.domain}: ${line}`, w.connection.uri);
    },
    notice: (line, w) => onNotice(line, w.connection.uri),
    connection: (c) => onConnection(c),
  });
  // Every connection writes its reports to the same directory (--report-dir is global).
  const metrics = new Metrics(watchers, ctxs[0]?.reportDir);
  metrics.loadReports();
  const serveMetrics = (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('see /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${err.message}\n`),
    );
  };
  const server = web ? webServer(web, serveMetrics) : createServer(serveMetrics);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new VcpuctlError('USAGE', `cannot listen on ${listen}: ${err.code ?? err.message}`)));
    server.listen(addr.port, addr.host, () => resolve());
  }).catch(async (err) => {
    await Promise.all(watchers.map((w) => w.stop()));
    throw err;
  });
  const bound = server.address() as { port: number };
  return {
    watchers,
    metrics,
    server,
    address: { host: addr.host, port: bound.port },
    web,
    async stop() {
      await new Promise((r) => server.close(r));
      await Promise.all(watchers.map((w) => w.stop()));
    },
  };
}

/** The server a web configuration asks for: HTTPS or HTTP, its headers on every answer, basic auth before anything is served. */
function webServer(web: WebConfig, serve: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const auth = web.users.size > 0 ? new BasicAuth(web.users, web.maxBcryptCost) : undefined;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    for (const [name, value] of Object.entries(web.headers)) res.setHeader(name, value);
    if (!auth) return serve(req, res);
    auth.check(req.headers.authorization).then(
      (result) => {
        if (result === 'ok') return serve(req, res);
        if (result === 'busy') return void res.writeHead(429, { 'Content-Type': 'text/plain', 'Retry-After': '1' }).end('Too Many Requests\n');
        res.writeHead(401, { 'Content-Type': 'text/plain', 'WWW-Authenticate': 'Basic' }).end('Unauthorized\n');
      },
      () => res.writeHead(500, { 'Content-Type': 'text/plain' }).end('Internal Server Error\n'),
    );
  };
  if (!web.tls) return createServer(handler);
  const tls = web.tls;
  const server = createHttpsServer(secureContextOptions(tls), handler);
  // node:tls itself refuses an unverified certificate only under RequireAndVerifyClientCert; these two policies are checked here.
  if (tls.clientAuth === 'RequireAnyClientCert' || tls.clientAuth === 'VerifyClientCertIfGiven') {
    server.on('secureConnection', (socket: TLSSocket) => {
      const given = Object.keys(socket.getPeerCertificate() ?? {}).length > 0;
      if (tls.clientAuth === 'RequireAnyClientCert' ? !given : given && !socket.authorized) socket.destroy();
    });
  }
  return server;
}
