/**
 * `vcpuctl set DOM1 DOM2 ... N` and `set --all ... N`: the single-domain
 * set (its lock, its plan, its report) run once per domain, at most
 * `parallel` at a time, one failure never stopping the others, then one
 * result with every domain's outcome and a summary.
 */
import { ErrorCode } from '@vcpuctl/proto';
import { Context } from '../core/context';
import { checkReportDir } from '../core/report';
import { PlannedStrategy, SetPlan, SetPlanRefusal } from '../core/set-plan';
import { Verdict } from '../core/verdict';
import { FleetError, fleetErrorOf } from './fleet-status';
import { SetOptions, setVcpus } from './set';
import { forEachTarget, SetSelection, SetTarget, setTargets } from './set-targets';

/**
 * done: changed (or nothing to do) and confirmed; refused: nothing was
 * touched (the plan refused, or the domain could not be locked or read);
 * failed: the change was started and did not end as asked (not confirmed
 * by the guest, a libvirt error, a timeout, some CPUs only).
 */
export type SetOutcome = 'done' | 'refused' | 'failed';

export interface SetEntry {
  domain: string;
  /** null for a name found on none of several connections. */
  uri: string | null;
  target: number;
  outcome: SetOutcome;
  /** The plan the run decided; absent when the domain could not be locked or read. */
  plan?: { strategy?: PlannedStrategy; from: SetPlan['from']; steps: string[]; refusal?: SetPlanRefusal };
  error?: FleetError;
  report?: { id: string; json: string; markdown: string };
  verdict?: Verdict;
  /** The change is done but its intent could not be written to the domain's metadata. */
  intentError?: string;
}

export interface SetManyHost {
  uri: string;
  reachable: boolean;
  error?: FleetError;
  domains: SetEntry[];
}

export interface SetManySummary {
  hosts: number;
  unreachableHosts: number;
  domains: number;
  done: number;
  refused: number;
  failed: number;
}

export interface SetManyResult {
  hosts: SetManyHost[];
  /** Names found on none of several connections. */
  unmatched: SetEntry[];
  summary: SetManySummary;
}

export function planOf(p: SetPlan): NonNullable<SetEntry['plan']> {
  return { ...(p.strategy ? { strategy: p.strategy } : {}), from: p.from, steps: p.steps, ...(p.refusal ? { refusal: p.refusal } : {}) };
}

/** A report path in an error message is in the entry already. */
function withoutReportPath(message: string): string {
  return message.replace(/ \(report: [^)]*\)$/, '');
}

async function setOne(ctx: Context, t: SetTarget, target: number, opts: SetOptions): Promise<SetEntry> {
  const entry: SetEntry = { domain: t.domain, uri: ctx.driver.uri, target, outcome: 'refused' };
  if (t.error) return { ...entry, error: t.error };
  let plan: SetPlan | undefined;
  try {
    // Several domains share the terminal's one progress line: each says whose it is.
    const own: Context = { ...ctx, progress: (line) => ctx.progress(`${t.domain}: ${line}`) };
    await setVcpus(own, t.domain, target, opts, {
      onPlan: (p) => {
        plan = p;
        entry.plan = planOf(p);
      },
      onReport: (r, files) => {
        entry.report = { id: r.id, ...files };
        entry.verdict = r.verdict;
        if (r.intent?.error) entry.intentError = r.intent.error;
      },
    });
    entry.outcome = 'done';
  } catch (err) {
    const e = fleetErrorOf(err);
    entry.error = { ...e, message: withoutReportPath(e.message) };
    entry.outcome = plan && !plan.refusal ? 'failed' : 'refused';
  }
  return entry;
}

export function summarizeSet(hosts: SetManyHost[], unmatched: SetEntry[]): SetManySummary {
  const all = [...hosts.flatMap((h) => h.domains), ...unmatched];
  const n = (o: SetOutcome) => all.filter((d) => d.outcome === o).length;
  return { hosts: hosts.length, unreachableHosts: hosts.filter((h) => !h.reachable).length, domains: all.length, done: n('done'), refused: n('refused'), failed: n('failed') };
}

/** What the call's exit status is ranked from (core/fleet-exit.ts): each host's and each domain's error. */
export function setProblems(r: { hosts: { error?: FleetError; domains: { error?: FleetError }[] }[]; unmatched: { error?: FleetError }[] }): ErrorCode[] {
  return [...r.hosts.flatMap((h) => [h.error, ...h.domains.map((d) => d.error)]), ...r.unmatched.map((d) => d.error)].filter((e): e is FleetError => !!e).map((e) => e.code);
}

export async function setMany(contexts: Context[], sel: SetSelection, target: number, opts: SetOptions, parallel: number): Promise<SetManyResult> {
  // An unusable report directory refuses the whole call before anything is touched (as `set DOM N` does).
  for (const dir of new Set(contexts.map((c) => c.reportDir))) checkReportDir(dir);
  const found = await setTargets(contexts, sel, { read: false, parallel });
  const done = await forEachTarget(found, parallel, (ctx, t) => setOne(ctx, t, target, opts));
  const hosts: SetManyHost[] = done.map(({ host: h, results }) => ({ uri: h.uri, reachable: h.reachable, ...(h.error ? { error: h.error } : {}), domains: results }));
  const unmatched: SetEntry[] = found.unmatched.map((t) => ({ domain: t.domain, uri: null, target, outcome: 'refused', error: t.error }));
  return { hosts, unmatched, summary: summarizeSet(hosts, unmatched) };
}
