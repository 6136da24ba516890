/**
 * The command table: which request types the agent answers and with what.
 * A message type missing here (a reply, a push, a Hello sent by the
 * controller) is answered with a PROTOCOL error, never dispatched.
 */
import { Body, Envelope, EnvelopeInit, VcpuctlError, toVcpuctlError } from '@vcpuctl/proto';
import type { Agent } from '../agent';
import { Connection } from './transport';
import { setOnline } from '../commands/set-online';
import { snapshot } from '../commands/snapshot';
import { subscribe } from '../commands/subscribe';

export interface RequestContext {
  agent: Agent;
  conn: Connection;
}

/** A handler returns the reply's body; a thrown VcpuctlError becomes an Error reply. */
export type Handler = (ctx: RequestContext, env: Envelope) => Promise<Omit<EnvelopeInit, 'id'>>;

export const COMMANDS: Partial<Record<Body, Handler>> = {
  snapshotRequest: snapshot,
  subscribeRequest: subscribe,
  setOnlineRequest: setOnline,
};

export async function dispatch(ctx: RequestContext, env: Envelope): Promise<void> {
  const body = env.body!;
  const handler = COMMANDS[body];
  if (!handler) {
    ctx.conn.send({ id: env.id, error: { code: 'PROTOCOL', message: `"${body}" is not a request the agent accepts` } });
    return;
  }
  if (!env.id) {
    ctx.conn.send({ id: 0, error: { code: 'PROTOCOL', message: `${body} without a request id` } });
    return;
  }
  try {
    ctx.conn.send({ id: env.id, ...(await handler(ctx, env)) });
  } catch (err) {
    const e = err instanceof VcpuctlError ? err : toVcpuctlError(err);
    ctx.conn.send({ id: env.id, error: { code: e.code, message: e.message } });
  }
}
