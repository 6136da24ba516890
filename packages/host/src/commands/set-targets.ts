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
import { FleetFilter } from '../core/fleet-filter';
import { mapLimit } from '../core/parallel';
import { DomainSnapshot } from '../libvirt/driver';
import { FleetError, fleetErrorOf, selectDomains } from './fleet-status';

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
  const snaps = await ctx.driver.inspectMany(names);
  return Promise.all(
    names.map(async (domain): Promise<SetTarget> => {
      const host = snaps.get(domain);
      if (host) return { domain, host };
      try {
        return { domain, host: await ctx.driver.inspect(domain) };
      } catch (err) {
        return { domain, error: fleetErrorOf(err) };
      }
    }),
  );
}

async function hostTargets(ctx: Context, sel: SetSelection, read: boolean, several: boolean): Promise<TargetHost> {
  const uri = ctx.driver.uri;
  try {
    if (!('names' in sel)) return { ctx, uri, reachable: true, targets: await selectDomains(ctx, sel.filter) };
    if (!several) return { ctx, uri, reachable: true, targets: read ? await readTargets(ctx, sel.names) : sel.names.map((domain) => ({ domain })) };
    const defined = new Set(await ctx.driver.listDomains());
    const here = sel.names.filter((n) => defined.has(n));
    return { ctx, uri, reachable: true, targets: read ? await readTargets(ctx, here) : here.map((domain) => ({ domain })) };
  } catch (err) {
    return { ctx, uri, reachable: false, error: fleetErrorOf(err), targets: [] };
  }
}

/**
 * `fn` for every target of every host, at most `parallel` at once over all
 * connections (not per host), the results grouped back by host in order.
 */
export async function forEachTarget<T>(found: SetTargets, parallel: number, fn: (ctx: Context, t: SetTarget) => Promise<T>): Promise<{ host: TargetHost; results: T[] }[]> {
  const work = found.hosts.flatMap((host) => host.targets.map((t) => ({ ctx: host.ctx, t })));
  const done = await mapLimit(work, parallel, ({ ctx, t }) => fn(ctx, t));
  let i = 0;
  return found.hosts.map((host) => ({ host, results: host.targets.map(() => done[i++]!) }));
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
