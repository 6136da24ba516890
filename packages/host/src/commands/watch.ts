/**
 * `vcpuctl watch [DOMAIN...|--all]`: follows libvirt's events and every
 * guest's agent and hands each change, with the domain's new verdict, to
 * the caller; runs until stopped. Over several connections: one watcher per
 * connection in this process, each host up or down on its own.
 */
import { VcpuctlError, cpuListCount } from '@vcpuctl/proto';
import { Context } from '../core/context';
import { Intent } from '../core/intent';
import { FindingKind, Severity } from '../core/verdict';
import { GuestReach } from '../guest/source';
import { ConnectionState } from '../watch/connection';
import { Change, DomainState, Watcher } from '../watch/watcher';

export interface WatchOptions {
  domains: string[];
  all: boolean;
  nameGlob?: string;
  /** virsh state words (--state): only domains now in one of them are shown. */
  states?: Set<string>;
  hostPollMs: number;
  /** Re-apply a recorded guest-side offline the guest lost (watch/watcher.ts, reconcileNeed). */
  reconcile?: boolean;
}

/** One change as `watch --json` prints it: one object per line. */
export interface WatchRecord {
  at: string;
  domain: string;
  /** The connection the domain was found on, and the host it names. */
  uri: string;
  host: string;
  uuid: string | undefined;
  changes: string[];
  state: string | undefined;
  libvirt: { live: { current: number; maximum: number } | undefined; config: { current: number; maximum: number } } | undefined;
  qemuPlugged: number | undefined;
  guest: { reachable: boolean; via?: GuestReach; hostname?: string; present?: string; online?: string; onlineCount?: number; error?: string; shared?: string };
  intent: Intent | undefined;
  /** The pid of a vcpuctl changing the domain now: drift against the intent is not judged meanwhile. */
  operationBy?: number;
  verdict: { ok: boolean; findings: { kind: FindingKind; severity: Severity; message: string; advice: string }[] } | undefined;
}

export function recordOf(atMs: number, changes: string[], s: DomainState, conn: Pick<ConnectionState, 'uri' | 'host'>): WatchRecord {
  const d = s.host?.domain;
  const snap = s.guest.snapshot;
  return {
    at: new Date(atMs).toISOString(),
    domain: s.name,
    uri: conn.uri,
    host: conn.host,
    uuid: d?.uuid,
    changes,
    state: d?.state,
    libvirt: d ? { live: d.live ? { current: d.live.current, maximum: d.live.maximum } : undefined, config: { current: d.config.current, maximum: d.config.maximum } } : undefined,
    qemuPlugged: s.host?.qemu?.plugged,
    guest:
      s.guest.reachable && snap
        ? {
            reachable: true,
            via: s.guest.via,
            ...(s.guest.hostname !== undefined ? { hostname: s.guest.hostname } : {}),
            present: snap.present ?? '',
            online: snap.online ?? '',
            onlineCount: snap.online ? cpuListCount(snap.online) : 0,
            ...(s.guest.shared ? { shared: s.guest.shared } : {}),
          }
        : { reachable: false, via: s.guest.via, error: s.guest.error },
    intent: d?.intent,
    ...(s.operationBy !== undefined ? { operationBy: s.operationBy } : {}),
    verdict: s.verdict,
  };
}

/** One connection's state as `watch --json` prints it when it changes (several connections only). */
export interface ConnectionRecord {
  at: string;
  uri: string;
  host: string;
  connection: { up: boolean; error?: string; since: string; retryAt?: string };
}

export function connectionRecordOf(atMs: number, c: ConnectionState): ConnectionRecord {
  return {
    at: new Date(atMs).toISOString(),
    uri: c.uri,
    host: c.host,
    connection: {
      up: !!c.up,
      ...(c.error !== undefined ? { error: c.error } : {}),
      since: new Date(c.sinceMs).toISOString(),
      ...(c.retryAtMs !== undefined ? { retryAt: new Date(c.retryAtMs).toISOString() } : {}),
    },
  };
}

function checkOptions(opts: WatchOptions): void {
  if (!opts.all && opts.domains.length === 0) throw new VcpuctlError('USAGE', 'name the domains to watch, or pass --all');
  if (!opts.all && opts.nameGlob !== undefined) throw new VcpuctlError('USAGE', '--name only with --all');
  if (!opts.all && opts.states !== undefined) throw new VcpuctlError('USAGE', '--state only with --all');
}

export interface FleetWatchHandlers {
  change(c: Change, w: Watcher): void;
  notice(line: string, w: Watcher): void;
  /** Several connections only: one went up or down. */
  connection(c: ConnectionState, w: Watcher): void;
}

/**
 * One watcher per connection, in the order given. With one connection a
 * host that cannot be listed fails the start, as it always did; with
 * several, an unreachable or dropped host is a connection state, retried
 * with backoff, and the others are watched meanwhile.
 */
export async function startFleetWatch(ctxs: Context[], opts: WatchOptions, on: FleetWatchHandlers): Promise<Watcher[]> {
  checkOptions(opts);
  const keepTrying = ctxs.length > 1;
  const watchers = ctxs.map((ctx) => new Watcher(ctx, { ...opts, keepTrying }));
  for (const w of watchers) {
    w.on('change', (c) => on.change(c, w));
    w.on('notice', (line) => on.notice(line, w));
    // One connection keeps its single-host output: its state shows in its notices, as before.
    if (keepTrying) w.on('connection', (c) => on.connection(c, w));
  }
  try {
    await Promise.all(watchers.map((w) => w.start()));
  } catch (err) {
    await Promise.all(watchers.map((w) => w.stop()));
    throw err;
  }
  return watchers;
}
