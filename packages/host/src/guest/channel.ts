/**
 * vcpuctl-agent over the domain's virtio-serial channel: libvirt names the
 * host end, a unix socket only root can open, in the live domain XML. The
 * stream is the agent's usual WebSocket; no token (reaching the socket is
 * the authentication).
 *
 * QEMU serves one host connection per channel at a time; a second one sits
 * unanswered in the socket's backlog. So vcpuctl processes take turns through
 * a lock file next to the domain locks (a second one waits --lock-wait, then
 * says who holds the channel), and a channel that does not send the agent's
 * Hello within a short bound is given up rather than waited on.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VcpuctlError } from '@vcpuctl/proto';
import { DomainLock, alive, lockDomain, lockName } from '../core/lock';
import { ChannelEntry } from '../libvirt/driver';
import { AgentClient } from './agent-client';
import { ChannelSocket, SocketReach, socketReachFor } from './socket-reach';

/** The channel's target name: what `vcpuctl agent attach` adds and `vcpuctl-agent run --channel` opens. */
export const VCPUCTL_CHANNEL = 'org.vcpuctl.agent.0';

/** The channel libvirt and qemu-guest-agent use. */
export const QEMU_GA_CHANNEL = 'org.qemu.guest_agent.0';

/**
 * How long a channel may take to send the agent's Hello. Measured under TCG:
 * an echo over the channel takes 7-8 ms, the upgrade and Hello well under
 * 100 ms; 1.5 s leaves room for a loaded host. One retry follows a miss: a
 * session left half-written by a killed vcpuctl ends when its socket closes,
 * and the agent resets a stalled one within about 1 s.
 */
export const CHANNEL_HELLO_TIMEOUT_MS = 1500;
const CHANNEL_ATTEMPTS = 2;
/** Opening the socket when the caller gives no agent timeout: the default --agent-timeout. */
const DEFAULT_OPEN_TIMEOUT_MS = 10_000;
const LOCAL = socketReachFor('qemu:///system');

/**
 * A long-lived holder (`vcpuctl watch`) gives the channel up when another
 * vcpuctl asks for it: each waiter writes a "want" file of its own in a
 * directory beside the channel's lock (NAME.wants/PID: several may wait at
 * once, and one taking the channel must not remove another's request), the
 * holder looks for any
 * every CHANNEL_YIELD_POLL_MS, closes its session (releasing the lock) and
 * comes back after the waiters are done. A long-lived holder never waits
 * behind a command, nor takes the channel while one asks for it. A want file
 * older than CHANNEL_WANT_FRESH_MS is a waiter that died: two default
 * --lock-wait periods.
 */
export const CHANNEL_YIELD_POLL_MS = 200;
const CHANNEL_WANT_FRESH_MS = 60_000;

/**
 * The directory of the want files for the channel `key`, one a waiter named
 * by its pid. A directory of its own, so that a holder looking every
 * CHANNEL_YIELD_POLL_MS reads only these (usually none), not every lock of
 * the lock directory. It is left in place, empty, once no one waits: removing
 * it could pull it from under a waiter about to write its file.
 */
function wantDir(lockDir: string, key: string): string {
  return join(lockDir, lockName(key).replace(/\.lock$/, '.wants'));
}

/**
 * A long-lived follower (watch, the exporter) marks the channel it holds, so
 * that another follower does not ask for it: two of them would take it from
 * each other without end (each gives it up when asked, and asks again 500 ms
 * later). The second one reads the guest now and then instead (watch/guest-feed.ts).
 */
function followerFile(lockDir: string, key: string): string {
  return join(lockDir, lockName(key).replace(/\.lock$/, '.follower'));
}

/** The pid a marker file names, when that process is alive (a marker left by a process that died names no one). */
function livePidIn(file: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

/** The pid of the live follower holding the channel, if one does (not this process). */
function follower(file: string): number | undefined {
  const pid = livePidIn(file);
  return pid === process.pid ? undefined : pid;
}

/** Whether a waiter that is alive asked recently: a want file left by a waiter that died (killed while waiting) is not a request. */
function wanted(lockDir: string, key: string): boolean {
  const dir = wantDir(lockDir, key);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return false;
  }
  return names.some((n) => {
    const file = join(dir, n);
    try {
      if (Date.now() - statSync(file).mtimeMs >= CHANNEL_WANT_FRESH_MS) return false;
    } catch {
      return false;
    }
    return livePidIn(file) !== undefined;
  });
}

/** The channel is another vcpuctl's now (or asked for): a long-lived holder comes back for it later rather than wait. */
export function channelBusy(domain: string): VcpuctlError {
  return new VcpuctlError('LOCKED', `the ${VCPUCTL_CHANNEL} channel of ${domain} is in use by another vcpuctl for a moment`, { busy: true });
}

/** The lock that serializes vcpuctl processes on one domain's channel. */
async function lockChannel(lockDir: string, uuid: string, domain: string, waitMs: number, asFollower: boolean): Promise<DomainLock> {
  const key = `channel-${uuid || domain}`;
  const want = join(wantDir(lockDir, key), String(process.pid));
  try {
    if (asFollower && wanted(lockDir, key)) throw channelBusy(domain);
    try {
      return await lockDomain(lockDir, key, 0);
    } catch (err) {
      if (!(err instanceof VcpuctlError) || err.code !== 'LOCKED') throw err;
    }
    if (asFollower) {
      const other = follower(followerFile(lockDir, key));
      if (other !== undefined) {
        throw new VcpuctlError('LOCKED', `the ${VCPUCTL_CHANNEL} channel of ${domain} is followed by another long-running vcpuctl (pid ${other})`, { pid: other, follower: other });
      }
      throw channelBusy(domain);
    }
    // Held: ask a yielding holder (watch) to let go, then wait as usual; the request goes with the wait, whatever its end.
    mkdirSync(wantDir(lockDir, key), { recursive: true, mode: 0o700 });
    writeFileSync(want, `${process.pid}\n`);
    try {
      return await lockDomain(lockDir, key, waitMs);
    } finally {
      rmSync(want, { force: true });
    }
  } catch (err) {
    if (!(err instanceof VcpuctlError) || err.code !== 'LOCKED' || err.details?.follower !== undefined || err.details?.busy) throw err;
    const pid = /pid (\d+)/.exec(err.message)?.[1];
    throw new VcpuctlError('LOCKED', `another vcpuctl${pid ? ` (pid ${pid})` : ''} is using the ${VCPUCTL_CHANNEL} channel of ${domain}, and QEMU serves one at a time; waited ${Math.round(waitMs / 1000)} s (--lock-wait)`, {
      pid: pid ? Number(pid) : undefined,
    });
  }
}

/**
 * `yieldToOthers`: the session is closed (marked `yielded`) as soon as another
 * vcpuctl asks for the channel; for long-lived holders such as watch.
 * `reach`: where the socket is (this machine, or a remote libvirt host over
 * ssh); the lock stays on this machine, the controller's.
 */
export async function connectChannel(
  opts: { lockDir: string; lockWaitMs: number; agentTimeoutMs?: number; reach?: SocketReach },
  domain: { name: string; uuid: string },
  channel: ChannelEntry & { path: string },
  yieldToOthers = false,
): Promise<AgentClient> {
  const reach = opts.reach ?? LOCAL;
  const key = `channel-${domain.uuid || domain.name}`;
  const lock = await lockChannel(opts.lockDir, domain.uuid, domain.name, opts.lockWaitMs, yieldToOthers);
  let socket: ChannelSocket;
  try {
    socket = await reach.open(channel.path, opts.agentTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS);
  } catch (err) {
    lock.release();
    throw err;
  }
  let last: VcpuctlError | undefined;
  for (let attempt = 1; attempt <= CHANNEL_ATTEMPTS; attempt++) {
    try {
      const client = await AgentClient.connect({ url: 'ws://vcpuctl-channel/', token: undefined, socketPath: channel.path, createConnection: () => socket.connect() }, { timeoutMs: CHANNEL_HELLO_TIMEOUT_MS });
      if (reach.transport !== 'local') client.through = `${reach.transport} to ${reach.host}`;
      client.once('close', () => {
        lock.release();
        void socket.close();
      });
      if (yieldToOthers) {
        const mark = followerFile(opts.lockDir, key);
        writeFileSync(mark, `${process.pid}\n`);
        client.once('close', () => {
          if (follower(mark) === undefined) rmSync(mark, { force: true });
        });
        const poll = setInterval(() => {
          if (!client.isOpen) clearInterval(poll);
          else if (wanted(opts.lockDir, key)) {
            clearInterval(poll);
            void client.yieldSession();
          }
        }, CHANNEL_YIELD_POLL_MS);
        poll.unref();
        client.once('close', () => clearInterval(poll));
      }
      return client;
    } catch (err) {
      last = err as VcpuctlError;
      // Only silence is worth a second try; a refused socket or a bad Hello will not change.
      if (!last.details?.silent) break;
    }
  }
  lock.release();
  // The transport's own reason (ssh could not open the remote socket) says more than a closed stream;
  // read once the transport is closed, when all it had to say has been read.
  await socket.close();
  const why = socket.reason();
  if (why && last && !last.details?.silent) throw new VcpuctlError('AGENT_UNREACHABLE', `cannot open the ${VCPUCTL_CHANNEL} channel of ${domain.name}: ${why}`);
  if (last?.details?.silent && channel.hostClient) {
    // QEMU showed a host client on the socket and no other vcpuctl holds the lock: another program has the channel.
    throw new VcpuctlError('LOCKED', `another program holds the ${VCPUCTL_CHANNEL} channel of ${domain.name} (QEMU serves one host connection at a time): no Hello within ${CHANNEL_HELLO_TIMEOUT_MS} ms, ${CHANNEL_ATTEMPTS} times`);
  }
  if (last?.details?.silent) {
    throw new VcpuctlError(
      'AGENT_UNREACHABLE',
      `no Hello on the ${VCPUCTL_CHANNEL} channel of ${domain.name} within ${CHANNEL_HELLO_TIMEOUT_MS} ms, ${CHANNEL_ATTEMPTS} times: another program holds the channel (QEMU serves one host connection at a time) or the agent in the guest is not answering`,
    );
  }
  throw last ?? new VcpuctlError('AGENT_UNREACHABLE', `cannot open the ${VCPUCTL_CHANNEL} channel of ${domain.name}`);
}
