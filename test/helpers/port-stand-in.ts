/**
 * Stands in for a virtio-serial port and QEMU's chardev in front of it, for
 * tests of the channel's byte-stream logic: a real unix socket that the host
 * side (the real AgentClient, or raw bytes) connects to (tests connect one at
 * a time, as QEMU's chardev serves one client), and whose bytes reach the agent's
 * ChannelSessions as the port's reads would: data while a host is
 * connected, a read() of 0 (`hostGone`) when it leaves. Writes while no host
 * is connected would block, as on the port (EAGAIN).
 */
import { Server, Socket, createServer } from 'node:net';
import { join } from 'node:path';
import { ChannelSessions, RunningAgent } from '@vcpuctl/guest-agent';

export class PortStandIn {
  readonly socketPath: string;
  readonly sessions: ChannelSessions;
  private server: Server | undefined;
  private host: Socket | undefined;
  /** When set, the next host departure is not seen by the agent (it reconnects between two polls). */
  missNextDeparture = false;

  constructor(dir: string, agent: RunningAgent, log: (line: string) => void) {
    this.socketPath = join(dir, 'channel.sock');
    this.sessions = new ChannelSessions({
      name: 'org.vcpuctl.agent.0',
      port: {
        write: (data) => {
          if (!this.host || this.host.destroyed) return 0;
          this.host.write(Buffer.from(data));
          return data.length;
        },
        wantFlush: () => setTimeout(() => this.sessions.flush(), 5).unref(),
      },
      adopt: (stream, peer) => agent.serveStream(stream, peer),
      log,
    });
  }

  get url(): string {
    return `ws+unix:${this.socketPath}:/`;
  }

  async start(): Promise<void> {
    this.server = createServer({ pauseOnConnect: true }, (sock) => this.accept(sock));
    await new Promise<void>((resolve) => this.server!.listen(this.socketPath, resolve));
  }

  private accept(sock: Socket): void {
    this.host = sock;
    sock.on('data', (d: Buffer) => this.sessions.data(d));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      if (this.host === sock) this.host = undefined;
      if (this.missNextDeparture) this.missNextDeparture = false;
      else this.sessions.hostGone();
    });
    sock.resume();
  }

  async stop(): Promise<void> {
    this.sessions.close('test over');
    this.host?.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
