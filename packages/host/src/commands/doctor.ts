/**
 * `vcpuctl doctor DOMAIN|--all`: the pre-flight checks of a vCPU resize
 * (core/doctor/), each ok, a risk with its fix, or not checked and why.
 * Reads only: the domain (inspect, and its XML), its guest as `status`
 * reaches it, and qemu-guest-agent's guest-info where it has a channel.
 * `set --dry-run` gathers the same inputs through doctorInputs.
 */
import { VcpuctlError } from '@vcpuctl/proto';
import { Context } from '../core/context';
import { DoctorCheck, DoctorInputs, GuestInfoRead } from '../core/doctor/check';
import { CheckCounts, countChecks, doctorChecks } from '../core/doctor/checks';
import { parseGuestInfo } from '../core/doctor/guest-info';
import { mapLimit } from '../core/parallel';
import { GuestView } from '../core/verdict';
import { connectGuest } from '../guest/discover';
import { QEMU_GA_CHANNEL } from '../guest/channel';
import { DomainSnapshot } from '../libvirt/driver';
import { parseDomainRisksXml } from '../libvirt/domain-risks-xml';
import { hasLiveSide } from '../libvirt/snapshot';
import { hostOfUri } from '../libvirt/ssh-uri';
import { FleetError, fleetErrorOf, FleetOptions, selectDomains } from './fleet-status';

export interface DoctorResult {
  domain: string;
  uri: string;
  state: string;
  checks: DoctorCheck[];
  counts: CheckCounts;
}

async function guestInfoOf(ctx: Context, host: DomainSnapshot): Promise<GuestInfoRead> {
  const ga = host.domain.channels?.live.find((c) => c.name === QEMU_GA_CHANNEL) ?? (host.domain.live ? undefined : host.domain.channels?.config.find((c) => c.name === QEMU_GA_CHANNEL));
  if (!ga) return { kind: 'no-channel' };
  if (!host.domain.live) return { kind: 'unread', why: `the domain is ${host.domain.state}` };
  if (ga.state === 'disconnected') return { kind: 'unread', why: 'the qemu-guest-agent channel is there but qemu-ga is not running in the guest' };
  try {
    return { kind: 'read', info: parseGuestInfo(await ctx.driver.guestAgentInfo(host.domain.name)) };
  } catch (err) {
    return { kind: 'unread', why: (err as Error).message };
  }
}

/** The checks' inputs for a domain already inspected, its guest already reached (or not). */
export async function doctorInputs(ctx: Context, domain: string, host: DomainSnapshot, guest: GuestView, target?: number): Promise<DoctorInputs> {
  const inputs: DoctorInputs = { domain, host, xml: undefined, guest, guestInfo: await guestInfoOf(ctx, host), ...(target !== undefined ? { target } : {}) };
  try {
    // The running domain's own XML (what a hot-add acts on), else the persistent config (the next start).
    const xml = await ctx.driver.domainXml(host.domain.name, hasLiveSide(host.domain.state) ? 'live' : 'config');
    return { ...inputs, xml: parseDomainRisksXml(xml) };
  } catch (err) {
    return { ...inputs, xmlError: (err as Error).message };
  }
}

/** The guest as `status` reaches it; an error that stops status (LOCKED, AUTH_FAILED) stops doctor too. */
async function guestOf(ctx: Context, host: DomainSnapshot): Promise<GuestView> {
  if (!host.domain.live) return { reachable: false, error: `the domain is ${host.domain.state}` };
  const g = await connectGuest(ctx, host, { subscribe: false });
  await g.client?.close();
  return g.view;
}

async function doctorOf(ctx: Context, domain: string, host: DomainSnapshot): Promise<DoctorResult> {
  const checks = doctorChecks(await doctorInputs(ctx, domain, host, await guestOf(ctx, host)));
  return { domain, uri: ctx.driver.uri, state: host.domain.state, checks, counts: countChecks(checks) };
}

export async function doctor(ctx: Context, domain: string): Promise<DoctorResult> {
  return doctorOf(ctx, domain, await ctx.driver.inspect(domain));
}

/** The exit of doctor: MISMATCH (3) when a check found a risk (see docs/exit-codes.md). */
export function doctorError(results: readonly DoctorResult[]): VcpuctlError | undefined {
  const risky = results.filter((r) => r.counts.risk > 0);
  if (risky.length === 0) return undefined;
  const n = risky.reduce((s, r) => s + r.counts.risk, 0);
  return new VcpuctlError('MISMATCH', `doctor found ${n} risk${n === 1 ? '' : 's'} on ${risky.map((r) => r.domain).join(', ')}: each is shown with its fix`);
}

export interface DoctorFleetDomain {
  domain: string;
  state: string;
  result?: DoctorResult;
  error?: FleetError;
}

export interface DoctorFleetHost {
  uri: string;
  hostName: string;
  reachable: boolean;
  error?: FleetError;
  domains: DoctorFleetDomain[];
}

export interface DoctorFleetResult {
  hosts: DoctorFleetHost[];
  summary: { hosts: number; unreachableHosts: number; domains: number; withRisks: number; clean: number; unread: number };
}

/**
 * Every domain of every connection (--name, --state as for status): shut-off
 * ones are judged from their persistent config, running ones with their
 * guest; `parallel` domains at a time.
 */
export async function doctorFleet(contexts: Context[], opts: FleetOptions): Promise<DoctorFleetResult> {
  type Pending = { ctx: Context; d: DoctorFleetDomain; snap: DomainSnapshot };
  const hosts = await mapLimit(contexts, opts.parallel, async (ctx): Promise<{ host: DoctorFleetHost; pending: Pending[] }> => {
    const uri = ctx.driver.uri;
    const hostName = hostOfUri(uri);
    try {
      const pending: Pending[] = [];
      const domains = (await selectDomains(ctx, opts.filter)).map((s) => {
        const d: DoctorFleetDomain = { domain: s.domain, state: s.host?.domain.state ?? 'unknown', ...(s.error ? { error: s.error } : {}) };
        if (s.host) pending.push({ ctx, d, snap: s.host });
        return d;
      });
      return { host: { uri, hostName, reachable: true, domains }, pending };
    } catch (err) {
      return { host: { uri, hostName, reachable: false, error: fleetErrorOf(err), domains: [] }, pending: [] };
    }
  });
  await mapLimit(
    hosts.flatMap((h) => h.pending),
    opts.parallel,
    async ({ ctx, d, snap }) => {
      try {
        d.result = await doctorOf(ctx, d.domain, snap);
      } catch (err) {
        d.error = fleetErrorOf(err);
      }
    },
  );
  const all = hosts.flatMap((h) => h.host.domains);
  return {
    hosts: hosts.map((h) => h.host),
    summary: {
      hosts: hosts.length,
      unreachableHosts: hosts.filter((h) => !h.host.reachable).length,
      domains: all.length,
      withRisks: all.filter((d) => (d.result?.counts.risk ?? 0) > 0).length,
      clean: all.filter((d) => d.result && d.result.counts.risk === 0).length,
      unread: all.filter((d) => d.error).length,
    },
  };
}

/** What --all's exit status counts: unreachable hosts and unread domains as status --all, and each domain with a risk as MISMATCH. */
export function doctorFleetProblems(r: DoctorFleetResult): VcpuctlError['code'][] {
  const codes: VcpuctlError['code'][] = [];
  for (const h of r.hosts) {
    if (h.error) codes.push(h.error.code);
    for (const d of h.domains) {
      if (d.error) codes.push(d.error.code);
      if ((d.result?.counts.risk ?? 0) > 0) codes.push('MISMATCH');
    }
  }
  return codes;
}
