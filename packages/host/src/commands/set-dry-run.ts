/**
 * `vcpuctl set ... N --dry-run`: the plan of every chosen domain, decided by
 * the same planner the real run executes (core/set-plan.ts) from the same
 * views it starts from: the domain as libvirt and QEMU show it, and the
 * guest as its agent shows it (read as `status` reads it). Nothing is
 * changed: no domain lock is taken, nothing is written to libvirt, to the
 * domain's metadata or to the report directory.
 */
import { Context } from '../core/context';
import { changeLockHolder } from '../core/domain-lock';
import { DoctorCheck } from '../core/doctor/check';
import { doctorChecks } from '../core/doctor/checks';
import { PlanOptions, SetPlan, checkTarget, planSet, refusalError } from '../core/set-plan';
import { GuestView } from '../core/verdict';
import { connectGuest } from '../guest/discover';
import { doctorInputs } from './doctor';
import { FleetError, fleetErrorOf } from './fleet-status';
import { planOf, SetEntry } from './set-many';
import { forEachTarget, SetSelection, SetTarget, setTargets } from './set-targets';

export interface PlanEntry {
  domain: string;
  uri: string | null;
  target: number;
  /** Absent when the domain could not be read (then `error` says why: that is the refusal). */
  plan?: SetEntry['plan'];
  /** Why the real run would refuse it: the plan's refusal, or what kept the domain from being read. */
  error?: FleetError;
  /** Another vcpuctl holds the domain's lock now: the real run would wait up to --lock-wait for it. */
  lockHeldBy?: number;
  /** How the guest was reached, or why not (what `auto` was decided on). */
  guest?: { reachable: boolean; via?: string; error?: string };
  /** The risks `vcpuctl doctor` finds for this plan (its checks, judged on the vCPUs this plan plugs); absent when the domain was not read. */
  risks?: DoctorCheck[];
}

export interface PlanHost {
  uri: string;
  reachable: boolean;
  error?: FleetError;
  domains: PlanEntry[];
}

export interface PlanSummary {
  hosts: number;
  unreachableHosts: number;
  domains: number;
  /** Domains the run would change (any strategy but none). */
  change: number;
  /** Domains already as asked. */
  nothingToDo: number;
  refused: number;
}

export interface PlanResult {
  dryRun: true;
  hosts: PlanHost[];
  unmatched: PlanEntry[];
  summary: PlanSummary;
}

async function planOne(ctx: Context, t: SetTarget, target: number, opts: PlanOptions): Promise<PlanEntry> {
  const entry: PlanEntry = { domain: t.domain, uri: ctx.driver.uri, target };
  if (t.error || !t.host) return { ...entry, error: t.error ?? { code: 'INTERNAL', exit: 1, message: `domain ${t.domain} was not read` } };
  const holder = changeLockHolder(ctx, t.host.domain.uuid);
  if (holder !== undefined) entry.lockHeldBy = holder;
  let guest: GuestView = { reachable: false, error: 'not contacted' };
  let agent = false;
  // As the real run: the guest is asked only when the domain runs.
  if (t.host.domain.live) {
    try {
      const g = await connectGuest(ctx, t.host, { subscribe: false });
      guest = g.view;
      agent = g.client !== undefined;
      await g.client?.close();
    } catch (err) {
      // LOCKED (another vcpuctl on the agent's channel), AUTH_FAILED: the real run stops there too.
      return { ...entry, error: fleetErrorOf(err) };
    }
    entry.guest = { reachable: guest.reachable, ...(guest.via ? { via: guest.via } : {}), ...(guest.error ? { error: guest.error } : {}) };
  }
  const plan: SetPlan = planSet(t.domain, target, opts, t.host, guest, agent);
  entry.plan = planOf(plan);
  // The doctor's checks, from the same views: what could go wrong with this plan though nothing refuses it.
  entry.risks = doctorChecks(await doctorInputs(ctx, t.domain, t.host, guest, target)).filter((c) => c.status === 'risk');
  if (plan.refusal) {
    const r = plan.refusal;
    entry.error = { code: r.code, exit: refusalError(r).exitCode, message: r.message };
  }
  return entry;
}

export function summarizePlan(hosts: PlanHost[], unmatched: PlanEntry[]): PlanSummary {
  const all = [...hosts.flatMap((h) => h.domains), ...unmatched];
  return {
    hosts: hosts.length,
    unreachableHosts: hosts.filter((h) => !h.reachable).length,
    domains: all.length,
    change: all.filter((d) => !d.error && d.plan?.strategy && d.plan.strategy !== 'none').length,
    nothingToDo: all.filter((d) => !d.error && d.plan?.strategy === 'none').length,
    refused: all.filter((d) => d.error).length,
  };
}

export async function setDryRun(contexts: Context[], sel: SetSelection, target: number, opts: PlanOptions, parallel: number): Promise<PlanResult> {
  checkTarget(target);
  const found = await setTargets(contexts, sel, { read: true, parallel });
  const planned = await forEachTarget(found, parallel, (ctx, t) => planOne(ctx, t, target, opts));
  const hosts: PlanHost[] = planned.map(({ host: h, results }) => ({ uri: h.uri, reachable: h.reachable, ...(h.error ? { error: h.error } : {}), domains: results }));
  const unmatched: PlanEntry[] = found.unmatched.map((t) => ({ domain: t.domain, uri: null, target, ...(t.error ? { error: t.error } : {}) }));
  return { dryRun: true, hosts, unmatched, summary: summarizePlan(hosts, unmatched) };
}
