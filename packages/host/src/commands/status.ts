import { Context } from '../core/context';
import { connectGuest } from '../guest/discover';
import { computeVerdict, GuestView, Verdict } from '../core/verdict';
import { DomainSnapshot } from '../libvirt/driver';

export interface StatusResult {
  domain: string;
  host: DomainSnapshot;
  guest: GuestView;
  verdict: Verdict;
}

/** Both views of one domain now, and the verdict. Changes nothing. */
export async function status(ctx: Context, domain: string): Promise<StatusResult> {
  const host = await ctx.driver.inspect(domain);
  const running = host.domain.state === 'running';
  const { view, client } = running ? await connectGuest(ctx, host, { subscribe: false }) : { view: { reachable: false, error: 'domain not running' } as GuestView, client: undefined };
  await client?.close();
  return { domain, host, guest: view, verdict: computeVerdict(host, view) };
}
