/**
 * A unix socket that forwards every connection to another one (libvirtd's):
 * a libvirt "host" the test can drop (every connection cut, the socket
 * gone) and bring back, while the real libvirtd keeps running for the
 * other helpers and tests on the machine.
 */
import { createConnection, createServer, Server, Socket } from 'node:net';
import { rmSync } from 'node:fs';

export class UnixProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly path: string,
    private readonly target: string,
  ) {}

  async start(): Promise<void> {
    rmSync(this.path, { force: true });
    const server = createServer((client) => {
      const upstream = createConnection(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.once('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(this.path, () => resolve()));
    this.server = server;
  }

  /** Cuts every connection and removes the socket: to libvirt clients, the host is gone. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.path, { force: true });
  }
}
