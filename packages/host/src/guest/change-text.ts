/**
 * One CPU change the agent pushed, as a line for watch and reports: the
 * kind, who did it, and for a CPU that came back online soon after it went
 * offline (or while the host wants it offline) the likely culprit the agent
 * named: the guest's udev rules that online CPUs on such events, or that
 * none was found and which process did it cannot be known. Values come
 * checked from the guest-input boundary.
 */
import { v1 } from '@vcpuctl/proto';

/** Suspected rules named in one line at most. */
const MAX_NAMED_SUSPECTS = 3;

export function comebackText(c: v1.ICpuChange): string | undefined {
  const back = c.backAfterMs ?? 0;
  if (!c.wantedOffline && back <= 0) return undefined;
  const when = back > 0 ? ` ${(back / 1000).toFixed(1)} s after it went offline` : '';
  const wanted = c.wantedOffline ? ', though the host wants it offline' : '';
  const suspects = c.suspects ?? [];
  const named = suspects.slice(0, MAX_NAMED_SUSPECTS).map((r) => `${r.file}:${r.line}`);
  const more = suspects.length > named.length ? ` and ${suspects.length - named.length} more` : '';
  const culprit = named.length
    ? `likely the udev rule${named.length === 1 ? '' : 's'} ${named.join(', ')}${more}`
    : c.rulesReadWhole
      ? 'no udev rule in the guest onlines CPUs on such events: a process in the guest wrote its online file (which one cannot be known from here)'
      : "not known: the agent could not read all of the guest's udev rules";
  return `came back online${when}, not by the agent${wanted}: ${culprit}`;
}

export function changeText(c: v1.ICpuChange): string {
  const base = `cpu${c.cpu} ${v1.CpuChange.Kind[c.kind ?? 0]}${c.byAgent ? ' (by agent)' : ''}`;
  const back = comebackText(c);
  return back ? `${base}: ${back}` : base;
}
