/**
 * Wires an Agent to a Transport: the only place that knows both.
 */
import { AddressInfo } from 'node:net';
import { VcpuctlError } from '@vcpuctl/proto';
import { Agent } from './agent';
import { TokenCheck, readTokenFile } from './server/auth';
import { Admission } from './server/admission';
import { commandTable, dispatch } from './server/dispatch';
import { SharedSnapshot } from './server/shared-snapshot';
import { Transport, TransportTimings } from './server/transport';
import { treePaths } from './sysfs/paths';
import { readSystemFacts } from './system-facts';

export interface ServeOptions {
  host: string;
  port: number;
  tokenFile: string | undefined;
  tls: { cert: Buffer; key: Buffer } | undefined;
  sysroot: string;
  kmsgPath: string;
  pollIntervalMs: number;
  autoOnline: boolean;
  /** Serve snapshots and events only; refuse online/offline requests. */
  readOnly?: boolean;
  log: (line: string) => void;
  /** Tests only: shorter idle/ping timings. */
  timings?: Partial<TransportTimings>;
}

export interface RunningAgent {
  agent: Agent;
  address: AddressInfo;
  close(): Promise<void>;
}

export async function startAgent(opts: ServeOptions): Promise<RunningAgent> {
  const token = opts.tokenFile ? new TokenCheck(readTokenFile(opts.tokenFile, { requirePrivate: true })) : undefined;
  if (!token) opts.log('WARNING: --insecure-no-auth: any local or remote peer can change CPUs');
  const paths = treePaths(opts.sysroot);
  const agent = new Agent({
    paths,
    system: await readSystemFacts(paths),
    kmsgPath: opts.kmsgPath,
    pollIntervalMs: opts.pollIntervalMs,
    autoOnline: opts.autoOnline,
    log: opts.log,
  });
  const table = commandTable({ readOnly: !!opts.readOnly });
  const snapshots = new SharedSnapshot(() => agent.snapshot());
  const admission = new Admission((conn, env) =>
    dispatch(table, { agent, conn, snapshot: () => snapshots.get((ms) => conn.origin.work.charge(ms)) }, env));
  const transport = new Transport({
    host: opts.host,
    port: opts.port,
    token,
    tls: opts.tls,
    log: opts.log,
    hello: () => agent.hello(),
    onRequest: (conn, env) => admission.submit(conn, env),
    onClose: (conn) => agent.unsubscribe(conn),
    timings: opts.timings,
  });
  agent.start();
  let address: AddressInfo;
  try {
    address = await transport.listen();
  } catch (err) {
    agent.stop();
    const code = (err as NodeJS.ErrnoException).code;
    throw new VcpuctlError('USAGE', `cannot listen on ${opts.host}:${opts.port}: ${code ?? (err as Error).message}`);
  }
  opts.log(`listening on ${address.address}:${address.port} (auto-online ${opts.autoOnline ? 'on' : 'off'}${opts.readOnly ? ', read-only' : ''})`);
  return {
    agent,
    address,
    close: async () => {
      agent.stop();
      await transport.close();
    },
  };
}
