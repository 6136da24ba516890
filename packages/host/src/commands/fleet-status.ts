/**
 * `status --all` / `verify --all`: every domain of every connection. Per
 * connection the host side costs two virsh processes whatever the number of
 * domains (one listing, one batched inspect); guest attempts run with at most
 * `parallel` at a time so one slow guest does not hold up the others. One
 * unreachable connection is an error in its own entry, not a failed call.
 */
import { ErrorCode, toVcpuctlError, VcpuctlError } from '@vcpuctl/proto';
import { Context } from '../core/context';
import { FleetFilter, nameSelected, stateSelected } from '../core/fleet-filter';
import { mapLimit } from '../core/parallel';
import { computeVerdict, GuestView, Verdict, verdictError } from '../core/verdict';
import { connectGuest } from '../guest/discover';
import { DomainSnapshot } from '../libvirt/driver';
import { hostOfUri } from '../libvirt/ssh-uri';

export interface FleetError {
  code: ErrorCode;
  exit: number;
  message: string;
}

export interface FleetDomain {
  domain: string;
  uri: string;
  /** The machine the domain runs on (the URI's host, or this machine's name); `host` is the libvirt view. */
  hostName: string;
  state: string;
  /** Running domains are checked against their guest; the others are listed with their persistent counts. */
  checked: boolean;
  host?: DomainSnapshot;
  guest?: GuestView;
  verdict?: Verdict;
  error?: FleetError;
}

export interface FleetHost {
  uri: string;
  /** The URI's host, or this machine's name for a local URI. */
  hostName: string;
  /** How vcpuctl reached this host's libvirt: its RPC, or virsh where the RPC cannot go; absent when it was not reached. */
  backend?: 'rpc' | 'virsh';
  reachable: boolean;
  error?: FleetError;
  domains: FleetDomain[];
}

export interface FleetSummary {
  hosts: number;
  unreachableHosts: number;
  domains: number;
  byState: Record<string, number>;
  checked: number;
  /** Checked domains whose verdict has no error finding. */
  ok: number;
  /** Checked (or crashed) domains whose verdict has an error finding. */
  failed: number;
  /** Domains listed but not read. */
  unread: number;
}

export interface FleetResult {
  hosts: FleetHost[];
  summary: FleetSummary;
}

export interface FleetOptions {
  filter: FleetFilter;
  parallel: number;
}

export function fleetErrorOf(err: unknown): FleetError {
  const e = toVcpuctlError(err);
  return { code: e.code, exit: e.exitCode, message: e.message };
}

/** A domain `--all` chose on one connection: read, or listed but not readable. */
export interface SelectedDomain {
  domain: string;
  host?: DomainSnapshot;
  error?: FleetError;
}

/**
 * The domains of one connection that --name and --state choose, read in one
 * go (status/verify --all, set --all). One listed but not read (undefined
 * meanwhile) has no known state: it is kept as an error without a state
 * filter, left out with one. Throws when the connection cannot be listed or read.
 */
export async function selectDomains(ctx: Context, filter: FleetFilter): Promise<SelectedDomain[]> {
  const { driver } = ctx;
  const names = (await driver.listDomains()).filter((n) => nameSelected(filter, n));
  const snaps = await driver.inspectMany(names);
  const out: SelectedDomain[] = [];
  for (const domain of names) {
    const host = snaps.get(domain);
    if (!host) {
      if (filter.states === undefined) out.push({ domain, error: fleetErrorOf(new VcpuctlError('LIBVIRT_FAILED', `domain ${domain} was listed but could not be read (undefined meanwhile?)`)) });
    } else if (stateSelected(filter, host.domain.state)) out.push({ domain, host });
  }
  return out;
}

async function readHost(ctx: Context, opts: FleetOptions): Promise<{ host: FleetHost; pending: FleetDomain[] }> {
  const uri = ctx.driver.uri;
  const hostName = hostOfUri(uri);
  let selected: SelectedDomain[];
  try {
    selected = await selectDomains(ctx, opts.filter);
  } catch (err) {
    return { host: { uri, hostName, reachable: false, error: fleetErrorOf(err), domains: [] }, pending: [] };
  }
  const domains: FleetDomain[] = [];
  for (const { domain: name, host, error } of selected) {
    if (!host) {
      domains.push({ domain: name, uri, hostName, state: 'unknown', checked: false, error });
      continue;
    }
    const d: FleetDomain = { domain: name, uri, hostName, state: host.domain.state, checked: host.domain.state === 'running', host };
    // A crash is a problem even of a domain that is not running now; any other stop is just listed.
    if (!d.checked && (host.domain.state === 'crashed' || host.domain.reason === 'crashed')) d.verdict = computeVerdict(host, { reachable: false, error: 'domain not running' });
    domains.push(d);
  }
  return { host: { uri, hostName, ...(ctx.driver.backend ? { backend: ctx.driver.backend } : {}), reachable: true, domains }, pending: domains.filter((d) => d.checked) };
}

async function checkGuest(ctx: Context, d: FleetDomain): Promise<void> {
  try {
    const { view, client } = await connectGuest(ctx, d.host!, { subscribe: false });
    await client?.close();
    d.guest = view;
    d.verdict = computeVerdict(d.host!, view);
  } catch (err) {
    d.error = fleetErrorOf(err);
  }
}

export function summarize(hosts: FleetHost[]): FleetSummary {
  const all = hosts.flatMap((h) => h.domains);
  const byState: Record<string, number> = {};
  for (const d of all) byState[d.state] = (byState[d.state] ?? 0) + 1;
  return {
    hosts: hosts.length,
    unreachableHosts: hosts.filter((h) => !h.reachable).length,
    domains: all.length,
    byState,
    checked: all.filter((d) => d.checked).length,
    ok: all.filter((d) => d.verdict?.ok).length,
    failed: all.filter((d) => d.verdict && !d.verdict.ok).length,
    unread: all.filter((d) => d.error).length,
  };
}

/** The problems a fleet call counts for its exit status (see core/fleet-exit.ts). */
export function fleetProblems(result: FleetResult, verdicts: boolean): ErrorCode[] {
  const codes: ErrorCode[] = [];
  for (const h of result.hosts) {
    if (h.error) codes.push(h.error.code);
    for (const d of h.domains) {
      if (d.error) codes.push(d.error.code);
      const v = verdicts && d.verdict ? verdictError(d.verdict) : undefined;
      if (v) codes.push(v.code);
    }
  }
  return codes;
}

/** One context per connection, in the order given; hosts are read at the same time, guests `parallel` at a time. */
export async function fleetStatus(contexts: Context[], opts: FleetOptions): Promise<FleetResult> {
  const read = await mapLimit(contexts, opts.parallel, (ctx) => readHost(ctx, opts));
  const work = read.flatMap((r, i) => r.pending.map((d) => ({ ctx: contexts[i]!, d })));
  await mapLimit(work, opts.parallel, ({ ctx, d }) => checkGuest(ctx, d));
  const hosts = read.map((r) => r.host);
  return { hosts, summary: summarize(hosts) };
}
