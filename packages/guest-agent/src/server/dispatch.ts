/**
 * The command table: which request types the agent answers and with what.
 * A message type missing here (a reply, a push, a Hello sent by the
 * controller) is answered with a PROTOCOL error, never dispatched.
 */
import { Body, Envelope, EnvelopeInit, VcpuctlError, toVcpuctlError } from '@vcpuctl/proto';
import type { Agent } from '../agent';
import type { SnapshotData } from '../snapshot';
import { Connection } from './transport';
import { setOnline } from '../commands/set-online';
import { snapshot } from '../commands/snapshot';
import { subscribe } from '../commands/subscribe';
import { setWantedOffline } from '../commands/set-wanted-offline';

export interface RequestContext {
  agent: Agent;
  conn: Connection;
  /** The guest's view now, shared with concurrent askers and charged to this peer's work bucket. */
  snapshot: () => Promise<SnapshotData>;
}

/** A handler returns the reply's body; a thrown VcpuctlError becomes an Error reply. */
export type Handler = (ctx: RequestContext, env: Envelope) => Promise<Omit<EnvelopeInit, 'id'>>;

export const COMMANDS: Partial<Record<Body, Handler>> = {
  snapshotRequest: snapshot,
  subscribeRequest: subscribe,
  setOnlineRequest: setOnline,
  setWantedOfflineRequest: setWantedOffline,
};

/**
 * Requests that change the guest, or what the agent does to it; a --read-only
 * agent leaves them out of its table (it takes no instructions from controllers).
 */
const CHANGING: Body[] = ['setOnlineRequest', 'setWantedOfflineRequest'];

export type CommandTable = Partial<Record<Body, Handler>>;

/** The table an agent serves: policy is applied here, once, never inside a handler. */
export function commandTable(policy: { readOnly: boolean }): CommandTable {
  const table: CommandTable = { ...COMMANDS };
  if (policy.readOnly) for (const body of CHANGING) delete table[body];
  return table;
}

export async function dispatch(table: CommandTable, ctx: RequestContext, env: Envelope): Promise<void> {
  const body = env.body!;
  const handler = table[body];
  if (!handler) {
    const forbidden = body in COMMANDS;
    ctx.conn.send({
      id: env.id,
      error: forbidden ? { code: 'FORBIDDEN', message: `this agent runs --read-only: ${body} is not allowed` } : { code: 'PROTOCOL', message: `"${body}" is not a request the agent accepts` },
    });
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
