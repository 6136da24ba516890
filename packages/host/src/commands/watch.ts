/**
 * `vcpuctl watch [DOMAIN...|--all]`: follows libvirt's events and every
 * guest's agent and hands each change, with the domain's new verdict, to
 * the caller; runs until stopped.
 */
import { VcpuctlError, parseCpuList } from '@vcpuctl/proto';
import { Context } from '../core/context';
import { Intent } from '../core/intent';
import { FindingKind, Severity } from '../core/verdict';
import { GuestReach } from '../guest/source';
import { Change, DomainState, Watcher } from '../watch/watcher';

export interface WatchOptions {
  domains: string[];
  all: boolean;
  nameGlob?: string;
  hostPollMs: number;
}

/** One change as `watch --json` prints it: one object per line. */
export interface WatchRecord {
  at: string;
  domain: string;
  uuid: string | undefined;
  changes: string[];
  state: string | undefined;
  libvirt: { live: { current: number; maximum: number } | undefined; config: { current: number; maximum: number } } | undefined;
  qemuPlugged: number | undefined;
  guest: { reachable: boolean; via?: GuestReach; present?: string; online?: string; onlineCount?: number; error?: string };
  intent: Intent | undefined;
  /** The pid of a vcpuctl changing the domain now: drift against the intent is not judged meanwhile. */
  operationBy?: number;
  verdict: { ok: boolean; findings: { kind: FindingKind; severity: Severity; message: string; advice: string }[] } | undefined;
}

export function recordOf(atMs: number, changes: string[], s: DomainState): WatchRecord {
  const d = s.host?.domain;
  const snap = s.guest.snapshot;
  return {
    at: new Date(atMs).toISOString(),
    domain: s.name,
    uuid: d?.uuid,
    changes,
    state: d?.state,
    libvirt: d ? { live: d.live ? { current: d.live.current, maximum: d.live.maximum } : undefined, config: { current: d.config.current, maximum: d.config.maximum } } : undefined,
    qemuPlugged: s.host?.qemu?.plugged,
    guest: s.guest.reachable && snap
      ? { reachable: true, via: s.guest.via, present: snap.present ?? '', online: snap.online ?? '', onlineCount: snap.online ? parseCpuList(snap.online).length : 0 }
      : { reachable: false, via: s.guest.via, error: s.guest.error },
    intent: d?.intent,
    ...(s.operationBy !== undefined ? { operationBy: s.operationBy } : {}),
    verdict: s.verdict,
  };
}

export async function startWatch(ctx: Context, opts: WatchOptions, onChange: (c: Change) => void, onNotice: (line: string) => void): Promise<Watcher> {
  if (!opts.all && opts.domains.length === 0) throw new VcpuctlError('USAGE', 'name the domains to watch, or pass --all');
  if (!opts.all && opts.nameGlob !== undefined) throw new VcpuctlError('USAGE', '--name only with --all');
  const w = new Watcher(ctx, opts);
  w.on('change', onChange);
  w.on('notice', onNotice);
  await w.start();
  return w;
}
