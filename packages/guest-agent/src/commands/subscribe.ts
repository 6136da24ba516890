import type { Handler } from '../server/dispatch';

/**
 * Every later change is pushed to this connection as a CpuEvent; the reply
 * carries the starting state. Subscribed only once that state is taken (in
 * the same turn), so no change falls between the snapshot and the events.
 */
export const subscribe: Handler = async (ctx) => {
  const start = await ctx.snapshot();
  ctx.agent.subscribe(ctx.conn);
  ctx.conn.holdOpen();
  return { subscribeReply: { snapshot: start } };
};
