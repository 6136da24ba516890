/** The terminal rendering of a multi-domain set and of a --dry-run plan: one table per connection, then the summary. */
import { FleetError } from '../commands/fleet-status';
import { PlanEntry, PlanResult } from '../commands/set-dry-run';
import { SetEntry, SetManyResult } from '../commands/set-many';
import { table } from './fleet-text';

type From = NonNullable<SetEntry['plan']>['from'];

function fromText(f: From | undefined): string {
  if (!f) return '-';
  const host = f.live !== undefined ? `live ${f.live}/${f.liveMaximum}` : `${f.state}, config ${f.config}/${f.configMaximum}`;
  return f.guestOnline !== undefined ? `${host}, guest ${f.guestOnline} online` : host;
}

function errorText(e: FleetError): string {
  // A verdict's message starts with its finding's kind, often the code itself: say it once.
  return `${e.code}: ${e.message.startsWith(`${e.code}: `) ? e.message.slice(e.code.length + 2) : e.message}`;
}

function hostsText<E>(r: { hosts: { uri: string; reachable: boolean; error?: FleetError; domains: E[] }[]; unmatched: E[] }, header: string[], row: (e: E) => string[]): string[] {
  const parts: string[] = [];
  for (const h of r.hosts) {
    if (!h.reachable) {
      parts.push(`${h.uri}: unreachable: ${h.error ? errorText(h.error) : ''}`, '');
      continue;
    }
    parts.push(`${h.uri}: ${h.domains.length} domain${h.domains.length === 1 ? '' : 's'}`);
    if (h.domains.length) parts.push(table([header, ...h.domains.map(row)]));
    parts.push('');
  }
  if (r.unmatched.length) parts.push('not found on any connection:', table([header, ...r.unmatched.map(row)]), '');
  return parts;
}

function resultWord(d: SetEntry): string {
  if (d.outcome === 'done') return `done${d.intentError ? ` (intent NOT recorded: ${d.intentError})` : ''}`;
  return `${d.outcome.toUpperCase()} ${d.error ? errorText(d.error) : ''}`;
}

export function setManyText(r: SetManyResult, reportDir: string): string {
  const parts = hostsText(r, ['DOMAIN', 'FROM', 'TO', 'STRATEGY', 'REPORT', 'RESULT'], (d) => [d.domain, fromText(d.plan?.from), String(d.target), d.plan?.strategy ?? '-', d.report?.id ?? '-', resultWord(d)]);
  const s = r.summary;
  parts.push(`${s.domains} domain${s.domains === 1 ? '' : 's'} on ${s.hosts} host${s.hosts === 1 ? '' : 's'} (${s.unreachableHosts} unreachable): ${s.done} done, ${s.failed} failed, ${s.refused} refused; reports in ${reportDir}`);
  return parts.join('\n');
}

function planWord(d: PlanEntry): string {
  const wait = d.lockHeldBy !== undefined ? ` (waits for pid ${d.lockHeldBy}, which holds the domain's lock now)` : '';
  if (d.error) return `REFUSED ${errorText(d.error)}`;
  return `${(d.plan?.steps ?? []).join('; then ')}${wait}`;
}

export function planText(r: PlanResult): string {
  const parts = ['dry run: nothing is changed', '', ...hostsText(r, ['DOMAIN', 'NOW', 'TO', 'STRATEGY', 'PLAN'], (d) => [d.domain, fromText(d.plan?.from), String(d.target), d.plan?.strategy ?? '-', planWord(d)])];
  const risky = [...r.hosts.flatMap((h) => h.domains), ...r.unmatched].filter((d) => d.risks?.length);
  if (risky.length) {
    parts.push('risks of the plan (`vcpuctl doctor DOMAIN` shows every check):');
    for (const d of risky) for (const c of d.risks!) parts.push(`  ${d.domain}: ${c.title}: ${c.detail}${c.fix ? `\n    fix: ${c.fix}` : ''}`);
    parts.push('');
  }
  const s = r.summary;
  parts.push(
    `dry run: ${s.domains} domain${s.domains === 1 ? '' : 's'} on ${s.hosts} host${s.hosts === 1 ? '' : 's'} (${s.unreachableHosts} unreachable): ${s.change} would change, ${s.nothingToDo} already as asked, ${s.refused} refused`,
  );
  return parts.join('\n');
}
