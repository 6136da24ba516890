import type { Handler } from '../server/dispatch';

/** The guest's CPU view now. */
export const snapshot: Handler = async (ctx) => ({ snapshotReply: { snapshot: await ctx.snapshot() } });
