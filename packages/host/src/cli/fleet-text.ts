/** The terminal rendering of a fleet result: one table per connection, then the summary. */
import { FleetDomain, FleetResult } from '../commands/fleet-status';

function verdictWord(d: FleetDomain): string {
  if (d.error) return `error ${d.error.code}: ${d.error.message}`;
  if (!d.verdict) return d.checked ? '?' : 'not checked';
  if (d.verdict.findings.length === 0) return 'agree';
  return `${d.verdict.ok ? 'ok' : 'MISMATCH'}: ${d.verdict.findings.map((f) => f.kind).join(',')}`;
}

function row(d: FleetDomain): string[] {
  const h = d.host?.domain;
  const g = d.guest?.reachable && d.guest.snapshot ? `${d.guest.snapshot.online ?? ''} (${d.guest.via})` : d.checked ? 'not reached' : '-';
  return [d.domain, d.state, h?.live ? `${h.live.current}/${h.live.maximum}` : '-', h ? `${h.config.current}/${h.config.maximum}` : '-', d.host?.qemu ? String(d.host.qemu.plugged) : '-', g, verdictWord(d)];
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function fleetText(r: FleetResult): string {
  const parts: string[] = [];
  for (const h of r.hosts) {
    if (!h.reachable) {
      parts.push(`${h.uri} (host ${h.hostName}): unreachable: ${h.error?.code}: ${h.error?.message}`);
      continue;
    }
    parts.push(`${h.uri} (host ${h.hostName}): ${h.domains.length} domain${h.domains.length === 1 ? '' : 's'}`);
    if (h.domains.length) parts.push(table([['DOMAIN', 'STATE', 'LIVE', 'CONFIG', 'QEMU', 'GUEST ONLINE', 'VERDICT'], ...h.domains.map(row)]));
    parts.push('');
  }
  const s = r.summary;
  const states = Object.entries(s.byState)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  parts.push(`${s.hosts} host${s.hosts === 1 ? '' : 's'} (${s.unreachableHosts} unreachable), ${s.domains} domains (${states || 'none'}), ${s.checked} checked: ${s.ok} ok, ${s.failed} failing, ${s.unread} unread`);
  return parts.join('\n');
}
