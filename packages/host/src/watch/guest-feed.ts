/**
 * watch's one connection point to the guest side: a long-lived feed of one
 * domain's guest view, reconnecting when the agent restarts. Everything
 * watch knows about guest sources goes through this file.
 */
import { VcpuctlError, v1 } from '@vcpuctl/proto';
import { Context } from '../core/context';
import { GuestView } from '../core/verdict';
import { VCPUCTL_CHANNEL } from '../guest/channel';
import { connectGuest, viewOf } from '../guest/discover';
import { isMisbehaviour } from '../guest/guest-input';
import { GuestSession } from '../guest/source';
import { changeText } from '../guest/change-text';

export interface GuestUpdate {
  view: GuestView;
  /** What happened, in words: "cpu2 OFFLINED", "agent connected", ...; none for a fresh view that shows nothing new. */
  changes: string[];
  /** The guest's present list changed (a hot-add or unplug): the host's count changed too. */
  presentChanged: boolean;
}

export interface GuestFeed {
  close(): Promise<void>;
  /** Something may have made the guest reachable (a channel device added, the agent's channel connected): look now, not at the next retry. */
  poke(): void;
}

/** First reconnect pause, and the most it grows to while the agent stays away. */
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;
/** A refused token does not fix itself quickly: try again rarely. */
const AUTH_RETRY_MS = 60_000;
/**
 * How often a source that pushes nothing (qemu-guest-agent) is asked again.
 * Each ask is a virsh process and a guest round trip; every 2 s keeps a
 * watch of many such domains cheap while a change still shows within seconds.
 */
const WATCH_POLL_MS = 2000;
/**
 * After giving a channel up to another vcpuctl, when to ask for it again:
 * the other one takes it within a poll of the lock (200 ms); asking again
 * then simply waits behind it on the channel's lock.
 */
const CHANNEL_COMEBACK_MS = 500;
/**
 * How often a channel that nothing in the guest has open is looked at again:
 * the agent is (re)starting, and the look is one libvirt read (the channel's
 * state is in the live XML), so the session is back within this of the agent.
 */
const AGENT_STARTING_RETRY_MS = 1000;
/**
 * A session must last this long before the reconnect pause starts again from
 * RETRY_MIN_MS: a guest whose agent accepts and drops at once (broken, or
 * hostile) would otherwise set the pace of our reconnects and host re-reads.
 */
const STABLE_SESSION_MS = 10_000;
/**
 * When another long-running vcpuctl (a watch, the exporter) follows this
 * guest's channel, QEMU serves one of them: this one reads the guest this
 * often instead (a one-shot session the follower yields to for a moment) and
 * says so in its view, rather than taking the channel back and forth.
 */
export const SHARED_POLL_MS = 30_000;

interface Cpus {
  present: string;
  online: string;
}

const cpusOf = (snap: { present?: string | null; online?: string | null } | null | undefined): Cpus => ({ present: snap?.present ?? '', online: snap?.online ?? '' });

/**
 * What a session back after lending the channel says: nothing when the
 * guest's CPUs are as last shown, else what moved meanwhile (its events went
 * to the command that had the channel).
 */
export function movedWhileLent(before: Cpus | undefined, now: Cpus): string[] {
  const moved = (['present', 'online'] as const).filter((k) => before?.[k] !== now[k]).map((k) => `${k} ${before?.[k] || '-'} -> ${now[k] || '-'}`);
  return moved.length ? [`${moved.join(', ')} (while the channel was lent to another vcpuctl)`] : [];
}

function viewFrom(session: GuestSession, snapshot: v1.ISnapshot): GuestView {
  return viewOf(session, v1.Snapshot.create(snapshot));
}

/**
 * `wantedOffline`: the CPUs the recorded intent keeps offline in a guest with
 * these present CPUs (undefined: no such intent known). When a session
 * starts, an agent that keeps another set is told this one, so its
 * auto-online leaves them offline (also an agent that had no state file).
 */
export function openGuestFeed(ctx: Context, domain: string, onUpdate: (u: GuestUpdate) => void, wantedOffline?: (present: string) => string | undefined): GuestFeed {
  let closed = false;
  let client: GuestSession | undefined;
  let timer: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  let upgrade: NodeJS.Timeout | undefined;
  let retryMs = RETRY_MIN_MS;
  let lastError: string | undefined;
  /** The guest's CPUs as last sent (undefined before the first view): what a hot-add, a poll or a lend's return is judged against. */
  let shown: Cpus | undefined;
  /** Who answered last time: a new boot id is a reboot or reset, a new start time an agent restart. */
  let last: { bootId: string; startedAtMs: number } | undefined;
  /**
   * The session was closed to lend the channel to a command (guest/channel.ts),
   * and nothing was said: the session after it is no news unless the guest's
   * CPUs (`shown`) or its agent changed meanwhile. Otherwise every command
   * would make a line, and a reader that runs a command on each line (the
   * Cockpit page's detail) would never stop.
   */
  let lent = false;

  const retry = (ms: number) => {
    if (!closed)
      timer = setTimeout(() => {
        timer = undefined;
        void connect();
      }, ms);
  };
  const unreachable = (error: string, change: string, misbehaving = false) => {
    // Say it once per cause, not on every retry.
    if (error !== lastError) onUpdate({ view: { reachable: false, error, ...(misbehaving ? { misbehaving: [error] } : {}) }, changes: [change], presentChanged: false });
    lastError = error;
    lent = false;
  };

  /** Another follower holds the channel: one read now, then look again (and follow, if it has gone) after SHARED_POLL_MS. */
  let sharedKey: string | undefined;
  const readShared = async (pid: number) => {
    const shared = `the channel is followed by another vcpuctl (pid ${pid}); this one reads the guest every ${SHARED_POLL_MS / 1000} s`;
    try {
      const g = await connectGuest(ctx, await ctx.driver.inspect(domain), { subscribe: false });
      await g.client?.close();
      const view = { ...g.view, shared };
      const key = JSON.stringify([view.reachable, view.snapshot?.present, view.snapshot?.online, view.error]);
      if (key !== sharedKey && !closed)
        onUpdate({ view, changes: [sharedKey === undefined ? 'guest read (channel shared)' : 'guest CPUs changed'], presentChanged: shown !== undefined && view.snapshot?.present !== shown.present });
      sharedKey = key;
      if (view.snapshot) shown = cpusOf(view.snapshot);
    } catch (err) {
      unreachable((err as Error).message, 'guest not read (channel shared)');
    }
    retry(SHARED_POLL_MS);
  };

  const connect = async () => {
    if (closed) return;
    let g;
    let channelThere: boolean;
    try {
      const host = await ctx.driver.inspect(domain);
      channelThere = !!host.domain.channels?.live?.some((ch) => ch.name === VCPUCTL_CHANNEL);
      g = await connectGuest(ctx, host, { subscribe: true, yieldChannel: true });
    } catch (err) {
      const e = err as VcpuctlError;
      if (e.code === 'LOCKED' && e.details?.follower !== undefined) {
        await readShared(e.details.follower as number);
        return;
      }
      if (e.code === 'LOCKED' && e.details?.busy) {
        // Lent to a command for a moment (guest/channel.ts): no news for the operator; come back after it.
        retry(CHANNEL_COMEBACK_MS);
        return;
      }
      unreachable(e.message, `agent refused: ${e.code}`, isMisbehaviour(e));
      retry(e.code === 'AUTH_FAILED' ? AUTH_RETRY_MS : RETRY_MAX_MS);
      return;
    }
    if (closed) {
      await g.client?.close();
      return;
    }
    if (!g.configured) {
      // A channel can be attached or qemu-ga started later: look again, rarely.
      unreachable(g.view.error ?? 'no agent configured', 'no agent configured');
      retry(RETRY_MAX_MS);
      return;
    }
    if (!g.client) {
      unreachable(g.view.error ?? 'unreachable', 'agent unreachable', !!g.view.misbehaving?.length);
      if (g.agentStarting) {
        retry(AGENT_STARTING_RETRY_MS);
        return;
      }
      retry(retryMs);
      retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
      return;
    }
    const c = g.client;
    client = c;
    sharedKey = undefined;
    const openedAtMs = Date.now();
    lastError = undefined;
    const cpus = cpusOf(g.view.snapshot);
    const presentChanged = shown !== undefined && shown.present !== cpus.present;
    c.keepalive?.();
    const { bootId = '', agentStartedAtMs = 0 } = c.hello;
    const news = !last ? [] : bootId && bootId !== last.bootId ? ['guest rebooted or reset (new boot id)'] : agentStartedAtMs && agentStartedAtMs !== last.startedAtMs ? ['agent restarted'] : [];
    if (bootId || agentStartedAtMs) last = { bootId, startedAtMs: agentStartedAtMs };
    const comeback = lent && !news.length;
    lent = false;
    onUpdate({ view: g.view, changes: !comeback ? ['agent connected', ...news] : movedWhileLent(shown, cpus), presentChanged });
    shown = cpus;
    const wanted = g.view.snapshot ? wantedOffline?.(g.view.snapshot.present ?? '') : undefined;
    if (wanted !== undefined && c.setWantedOffline && c.hello.wantedOffline !== undefined && wanted !== c.hello.wantedOffline) {
      // A read-only agent takes no instructions: the verdict still judges what it shows.
      c.setWantedOffline(wanted, ctx.agentTimeoutMs).catch(() => undefined);
    }
    c.on('event', (e: v1.CpuEvent) => {
      if (!e.snapshot) return;
      const view = viewFrom(c, e.snapshot);
      const now = cpusOf(view.snapshot);
      const changed = now.present !== shown?.present;
      shown = now;
      const changes = e.changes.map(changeText);
      onUpdate({ view, changes: changes.length ? changes : ['guest CPUs changed'], presentChanged: changed });
    });
    if (c.pollIntervalMs !== undefined && channelThere) {
      // Fell back to qemu-ga while vcpuctl-agent was (re)starting: go back to the full view once it serves its channel.
      upgrade = setInterval(() => {
        ctx.driver.inspect(domain).then(
          (h) => {
            if (closed || client !== c || !h.domain.channels?.live?.some((ch) => ch.name === VCPUCTL_CHANNEL && ch.state === 'connected')) return;
            clearInterval(upgrade);
            clearInterval(poll);
            client = undefined;
            void c.close();
            retry(0);
          },
          () => undefined,
        );
      }, AGENT_STARTING_RETRY_MS);
    }
    if (c.pollIntervalMs !== undefined) {
      // Nothing is pushed: ask again and report what moved.
      poll = setInterval(() => {
        c.snapshot(ctx.agentTimeoutMs).then(
          (snap) => {
            if (client !== c) return;
            const now = cpusOf(snap);
            if ((now.present === shown?.present && now.online === shown.online) || closed) return;
            const changed = now.present !== shown?.present;
            shown = now;
            onUpdate({ view: viewFrom(c, snap), changes: ['guest CPUs changed'], presentChanged: changed });
          },
          (err: Error) => {
            if (client !== c) return; // given up for the channel meanwhile
            clearInterval(poll);
            clearInterval(upgrade);
            void c.close();
            if (client === c) client = undefined;
            unreachable(err.message, 'agent went away');
            retry(RETRY_MIN_MS);
          },
        );
      }, WATCH_POLL_MS);
    }
    c.once('close', (err: Error) => {
      if (poll) clearInterval(poll);
      if (client === c) client = undefined;
      if (closed) return;
      if (c.yielded) {
        // Another vcpuctl has the channel for a moment: no news for the operator; come back after it.
        lent = true;
        retry(CHANNEL_COMEBACK_MS);
        return;
      }
      unreachable(err.message, isMisbehaviour(err) ? 'agent misbehaved: session closed' : 'agent went away', isMisbehaviour(err));
      // Only a session that lasted starts the pauses over; one dropped at once keeps backing off.
      if (Date.now() - openedAtMs >= STABLE_SESSION_MS) retryMs = RETRY_MIN_MS;
      retry(retryMs);
      retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
    });
  };
  void connect();
  return {
    poke() {
      if (closed || client || !timer) return;
      clearTimeout(timer);
      timer = undefined;
      void connect();
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      if (poll) clearInterval(poll);
      if (upgrade) clearInterval(upgrade);
      await client?.close();
    },
  };
}
