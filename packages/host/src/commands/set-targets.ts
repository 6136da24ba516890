/**
 * Which domains a multi-domain `set` (or its --dry-run) acts on, per
 * connection: the names given, or `--all` with the same name glob and state
 * filter as `status --all`. With one connection a name goes to it as given
 * (a name, UUID or id, as `set DOM N` takes it); with several, each name is
 * looked for by name on every connection and taken wherever it is defined,
 * and one found on none is DOMAIN_NOT_FOUND. An unreachable connection is an
 * error in its own entry, never a failed call.
 */
import { Context } from '../core/context';
import { FleetFilter, nameSelected, stateSelected } from '../core/fleet-filter';
import { mapLimit } from '../core/parallel';
import { DomainSnapshot } from '../libvirt/driver';
import { FleetError, fleetErrorOf } from './fleet-status';

export type SetSelection = { names: string[] } | { filter: FleetFilter };

export interface SetTarget {
  domain: string;
  /** Read with --all (for the state filter) and by --dry-run; the real run reads each domain itself, under its lock. */
  host?: DomainSnapshot;
  /** The domain cannot be acted on (unknown, unreadable). */
  error?: FleetError;
}

export interface TargetHost {
  ctx: Context;
  uri: string;
  reachable: boolean;
  error?: FleetError;
  targets: SetTarget[];
}

export interface SetTargets {
  hosts: TargetHost[];
  /** Names found on none of several connections. */
  unmatched: SetTarget[];
}

/** Reads the domains the hosts hold (when `read`), keeping a missing one's own error (DOMAIN_NOT_FOUND, ...). */
async function readTargets(ctx: Context, names: string[]): Promise<SetTarget[]> {
  const snaps = ctx.driver.inspectMany ? await ctx.driver.inspectMany(names) : new Map<string, DomainSnapshot>();
  return Promise.all(names.map(async (domain): Promise<SetTarget> => {
    const host = snaps.get(domain);
    if (host) return { domain, host };
    try {
      return { domain, host: await ctx.driver.inspect(domain) };
    } catch (err) {
      return { domain, error: fleetErrorOf(err) };
    }
  }));
}

async function hostTargets(ctx: Context, sel: SetSelection, read: boolean, several: boolean): Promise<TargetHost> {
  const uri = ctx.driver.uri;
  try {
    if ('names' in sel && !several) return { ctx, uri, reachable: true, targets: read ? await readTargets(ctx, sel.names) : sel.names.map((domain) => ({ domain })) };
    if (!ctx.driver.listDomains) throw new Error(`the driver for ${uri} cannot list domains`);
    const listed = await ctx.driver.listDomains();
    if ('names' in sel) {
      const defined = new Set(listed);
      const here = sel.names.filter((n) => defined.has(n));
      return { ctx, uri, reachable: true, targets: read ? await readTargets(ctx, here) : here.map((domain) => ({ domain })) };
    }
    const names = listed.filter((n) => nameSelected(sel.filter, n));
    const snaps = names.length && ctx.driver.inspectMany ? await ctx.driver.inspectMany(names) : new Map<string, DomainSnapshot>();
    const targets: SetTarget[] = [];
    for (const domain of names) {
      const host = snaps.get(domain);
      if (!host) {
        // Its state is unknown: with a state filter it cannot be said to be chosen.
        if (sel.filter.states === undefined) targets.push({ domain, error: { code: 'LIBVIRT_FAILED', exit: 17, message: `domain ${domain} was listed but could not be read (undefined meanwhile?)` } });
        continue;
      }
      if (stateSelected(sel.filter, host.domain.state)) targets.push({ domain, host });
    }
    return { ctx, uri, reachable: true, targets };
  } catch (err) {
    return { ctx, uri, reachable: false, error: fleetErrorOf(err), targets: [] };
  }
}

/** The targets of every connection, hosts read at the same time (at most `parallel`). */
export async function setTargets(contexts: Context[], sel: SetSelection, opts: { read: boolean; parallel: number }): Promise<SetTargets> {
  const several = contexts.length > 1;
  const hosts = await mapLimit(contexts, opts.parallel, (ctx) => hostTargets(ctx, sel, opts.read, several));
  const unmatched: SetTarget[] = [];
  if ('names' in sel && several) {
    const found = new Set(hosts.flatMap((h) => h.targets.map((t) => t.domain)));
    for (const n of sel.names) {
      if (!found.has(n)) unmatched.push({ domain: n, error: { code: 'DOMAIN_NOT_FOUND', exit: 4, message: `no domain ${n} on any of the ${hosts.filter((h) => h.reachable).length} reachable connections` } });
    }
  }
  return { hosts, unmatched };
}
