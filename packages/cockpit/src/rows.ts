/**
 * vcpuctl's JSON turned into fleet-table rows: from `status --all --json`
 * (the first picture) and from each `watch --all --json` line (every change
 * after it). Pure: what the table shows is a function of what vcpuctl said.
 */
import type { Counts, Row, VcpuctlFailure, Verdict } from './types';

interface StatusDomain {
  domain: string;
  uri: string;
  state?: string;
  host?: {
    domain?: { state?: string; live?: Counts; config?: Counts; intent?: { online?: number } };
    qemu?: { plugged?: number };
  };
  guest?: { reachable: boolean; via?: string; hostname?: string; error?: string; snapshot?: { present?: string; online?: string } };
  verdict?: Verdict;
  error?: VcpuctlFailure;
}

export interface FleetStatus {
  hosts: { uri: string; reachable: boolean; error?: VcpuctlFailure; domains: StatusDomain[] }[];
}

interface WatchRecord {
  at: string;
  domain: string;
  uri: string;
  changes: string[];
  state?: string;
  libvirt?: { live?: Counts; config: Counts };
  qemuPlugged?: number;
  guest: { reachable: boolean; via?: string; hostname?: string; present?: string; online?: string; error?: string };
  intent?: { online?: number };
  operationBy?: number;
  verdict?: Verdict;
}

export const keyOf = (r: { uri: string; domain: string }): string => `${r.uri} ${r.domain}`;

function counts(c: Counts | undefined): Counts | undefined {
  return c && typeof c.current === 'number' && typeof c.maximum === 'number' ? { current: c.current, maximum: c.maximum } : undefined;
}

export function rowOfStatus(d: StatusDomain): Row {
  const dom = d.host?.domain;
  return {
    domain: d.domain,
    uri: d.uri,
    state: dom?.state ?? d.state,
    live: counts(dom?.live),
    config: counts(dom?.config),
    qemuPlugged: d.host?.qemu?.plugged,
    intent: dom?.intent?.online,
    guest: d.guest
      ? { reachable: d.guest.reachable, via: d.guest.via, hostname: d.guest.hostname, present: d.guest.snapshot?.present, online: d.guest.snapshot?.online, error: d.guest.error }
      : { reachable: false, error: d.state === 'running' ? undefined : 'not running' },
    verdict: d.verdict,
    error: d.error,
  };
}

export function rowsOfStatus(s: FleetStatus): Row[] {
  return s.hosts.flatMap((h) => h.domains.map(rowOfStatus));
}

export function isDomainRecord(x: unknown): x is WatchRecord {
  const r = x as WatchRecord;
  return typeof r === 'object' && r !== null && typeof r.domain === 'string' && typeof r.uri === 'string' && Array.isArray(r.changes) && typeof r.guest === 'object';
}

/** A watch line applied to the table: the domain's new row, or undefined when it is gone. */
export function rowOfRecord(r: WatchRecord): Row | undefined {
  if (r.changes.includes('domain undefined')) return undefined;
  return {
    domain: r.domain,
    uri: r.uri,
    state: r.state,
    live: counts(r.libvirt?.live),
    config: counts(r.libvirt?.config),
    qemuPlugged: r.qemuPlugged,
    intent: r.intent?.online,
    guest: r.guest,
    verdict: r.verdict,
    operationBy: r.operationBy,
    at: r.at,
    changes: r.changes,
  };
}

export type Badge = { word: string; color: 'green' | 'orange' | 'red' | 'grey' };

export function badgeOf(r: Row): Badge {
  if (r.error) return { word: r.error.code, color: 'red' };
  if (!r.verdict) return { word: r.state === 'running' ? 'unknown' : 'not checked', color: 'grey' };
  if (r.verdict.findings.length === 0) return { word: 'agree', color: 'green' };
  const drift = r.verdict.findings.some((f) => /DRIFT/.test(f.kind));
  if (!r.verdict.ok) return { word: drift ? 'drift' : 'mismatch', color: 'red' };
  return { word: drift ? 'drift' : 'ok', color: 'orange' };
}
