import type { Handler } from '../server/dispatch';

/**
 * The CPUs the host wants offline (its recorded guest-side offline): the
 * agent's auto-online leaves them offline from now on, also after a restart
 * of the agent in the same boot. Changes no CPU.
 */
export const setWantedOffline: Handler = async (ctx, env) => ({
  setWantedOfflineReply: ctx.agent.setWantedOffline(env.setWantedOfflineRequest?.cpus ?? '', ctx.conn.peer),
});
