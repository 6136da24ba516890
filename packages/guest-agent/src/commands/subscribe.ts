import type { Handler } from '../server/dispatch';

/** Every later change is pushed to this connection as a CpuEvent; the reply carries the starting state. */
export const subscribe: Handler = async ({ agent, conn }) => {
  agent.subscribe(conn);
  return { subscribeReply: { snapshot: agent.snapshot() } };
};
