/** The per-domain lock as commands take it: keyed on the domain's UUID, so a name, its UUID and its id share one lock. */
import { Context } from './context';
import { DomainLock, lockDomain, lockHolder } from './lock';

export async function lockForChange(ctx: Context, domain: string): Promise<DomainLock> {
  const key = await ctx.driver.uuidOf(domain);
  return lockDomain(ctx.lockDir, key, ctx.lockWaitMs, domain);
}

/** For a dry run: the pid of the vcpuctl holding the lock a change of the domain with this UUID would take (the run would wait for it), if one does. */
export function changeLockHolder(ctx: Context, uuid: string | undefined): number | undefined {
  return uuid ? lockHolder(ctx.lockDir, uuid) : undefined;
}
