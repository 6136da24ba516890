import { Context } from '../core/context';
import { connectGuest } from '../guest/discover';
import { computeVerdict, GuestView, Verdict } from '../core/verdict';
import { DomainSnapshot } from '../libvirt/driver';
import { hostOfUri } from '../libvirt/ssh-uri';

export interface StatusResult {
  domain: string;
  uri: string;
  /** The machine the domain runs on (the URI's host, or this machine's name): `host` is the libvirt view. */
  hostName: string;
  /** How vcpuctl reached libvirt: its RPC, or virsh where the RPC cannot go (test://, +tls). */
  backend?: 'rpc' | 'virsh';
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
  return { domain, uri: ctx.driver.uri, hostName: hostOfUri(ctx.driver.uri), ...(ctx.driver.backend ? { backend: ctx.driver.backend } : {}), host, guest: view, verdict: computeVerdict(host, view) };
}
