/** The per-domain lock as commands take it: keyed on the domain's UUID, so a name, its UUID and its id share one lock. */
import { Context } from './context';
import { DomainLock, lockDomain } from './lock';

export async function lockForChange(ctx: Context, domain: string): Promise<DomainLock> {
  const key = await ctx.driver.uuidOf(domain);
  return lockDomain(ctx.lockDir, key, ctx.lockWaitMs, domain);
}
