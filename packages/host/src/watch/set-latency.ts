/**
 * `set` confirm latency from the recorded reports: seconds from the libvirt
 * call ("command issued") to the guest's confirmation ("agent confirmed") in
 * a report's timeline. Pure over a report; the exporter feeds it each set
 * report once.
 */
import { Report } from '../core/report';

export function confirmLatencySeconds(r: Pick<Report, 'operation' | 'timeline' | 'outcome'>): number | undefined {
  if (r.operation !== 'set' || !r.outcome.ok) return undefined;
  const issued = r.timeline.find((t) => t.what.startsWith('command issued'));
  const confirmed = r.timeline.find((t) => t.what.startsWith('agent confirmed'));
  if (!issued || !confirmed || confirmed.atMs < issued.atMs) return undefined;
  return (confirmed.atMs - issued.atMs) / 1000;
}
