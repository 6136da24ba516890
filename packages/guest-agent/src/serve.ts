/**
 * Wires an Agent to a Transport: the only place that knows both.
 */
import { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { VcpuctlError } from '@vcpuctl/proto';
import { Agent, CgroupTimings } from './agent';
import { TokenCheck, readTokenFile } from './server/auth';
import { Admission } from './server/admission';
import { commandTable, dispatch } from './server/dispatch';
import { Channel } from './server/channel';
import { SharedSnapshot } from './server/shared-snapshot';
import { Transport, TransportTimings } from './server/transport';
import { treePaths } from './sysfs/paths';
import { readSystemFacts } from './system-facts';

export interface ServeOptions {
  /** Where to listen on the network; without a port, no network socket is opened at all. */
  host?: string;
  port?: number;
  /** Serve on the virtio-serial port with this name (its /sys under `sysroot`, its node under `devRoot`). */
  channel?: { name: string; devRoot: string };
  tokenFile: string | undefined;
  tls: { cert: Buffer; key: Buffer } | undefined;
  sysroot: string;
  kmsgPath: string;
  pollIntervalMs: number;
  autoOnline: boolean;
  /** Where the wanted offline set is kept across restarts (wanted-offline.ts); undefined: memory only. */
  stateFile?: string;
  /** Serve snapshots and events only; refuse online/offline requests. */
  readOnly?: boolean;
  log: (line: string) => void;
  /** Tests only: shorter idle/ping timings. */
  timings?: Partial<TransportTimings>;
  /** Tests only: shorter waits before cgroups are read again. */
  cgroupTimings?: Partial<CgroupTimings>;
}

export interface RunningAgent {
  agent: Agent;
  /** The network address, when listening. */
  address: AddressInfo | undefined;
  channel: Channel | undefined;
  /** Serves one trusted byte stream (a channel session) the way TCP connections are served. */
  serveStream(stream: Duplex, peer: string): void;
  close(): Promise<void>;
}

export async function startAgent(opts: ServeOptions): Promise<RunningAgent> {
  const listening = opts.port !== undefined;
  if (!listening && !opts.channel) throw new VcpuctlError('USAGE', 'nothing to serve: give a port to listen on, a channel, or both');
  const token = opts.tokenFile ? new TokenCheck(readTokenFile(opts.tokenFile, { requirePrivate: true })) : undefined;
  if (listening && !token) opts.log('WARNING: --insecure-no-auth: any local or remote peer can change CPUs');
  const paths = treePaths(opts.sysroot);
  const agent = new Agent({
    paths,
    system: await readSystemFacts(paths),
    kmsgPath: opts.kmsgPath,
    pollIntervalMs: opts.pollIntervalMs,
    autoOnline: opts.autoOnline,
    stateFile: opts.stateFile,
    log: opts.log,
    cgroupTimings: opts.cgroupTimings,
  });
  const table = commandTable({ readOnly: !!opts.readOnly });
  const snapshots = new SharedSnapshot(() => agent.snapshot());
  const admission = new Admission((conn, env) => dispatch(table, { agent, conn, snapshot: () => snapshots.get((ms) => conn.origin.work.charge(ms)) }, env));
  const transport = new Transport({
    host: opts.host ?? '0.0.0.0',
    port: opts.port ?? 0,
    token,
    tls: opts.tls,
    log: opts.log,
    hello: () => agent.hello(),
    onRequest: (conn, env) => admission.submit(conn, env),
    onClose: (conn) => agent.unsubscribe(conn),
    timings: opts.timings,
  });
  agent.start();
  let address: AddressInfo | undefined;
  if (listening) {
    const host = opts.host ?? '0.0.0.0';
    try {
      address = await transport.listen();
    } catch (err) {
      agent.stop();
      const code = (err as NodeJS.ErrnoException).code;
      throw new VcpuctlError('USAGE', `cannot listen on ${host}:${opts.port}: ${code ?? (err as Error).message}`);
    }
    opts.log(`listening on ${address.address}:${address.port} (auto-online ${opts.autoOnline ? 'on' : 'off'}${opts.readOnly ? ', read-only' : ''})`);
  }
  // The channel's sessions take the same server path as TCP connections, without a token (see server/channel.ts).
  const channel = opts.channel
    ? new Channel({
        name: opts.channel.name,
        roots: { sysroot: opts.sysroot, devRoot: opts.channel.devRoot },
        adopt: (stream, peer) => transport.adopt(stream, peer),
        log: opts.log,
      })
    : undefined;
  channel?.start();
  return {
    agent,
    address,
    channel,
    serveStream: (stream, peer) => transport.adopt(stream, peer),
    close: async () => {
      channel?.stop();
      agent.stop();
      await transport.close();
    },
  };
}
