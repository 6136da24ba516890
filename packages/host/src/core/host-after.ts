/**
 * The host's view after a change, read again while libvirtd comes back: a
 * change libvirt already made must be judged against what the host shows
 * now, never against the view from before it (which would name the change
 * itself a mismatch). Only an unreachable libvirt is waited on, within a
 * deadline; any other failure, or the deadline, leaves the view unavailable
 * and says why.
 */
import { VcpuctlError, toVcpuctlError } from '@vcpuctl/proto';
import { DomainSnapshot } from '../libvirt/driver';
import { Context } from './context';

/**
 * How long an operation waits for libvirtd to answer again after its change.
 * A restarted libvirtd answers within 1-3 s here (it re-attaches every running
 * domain first); 30 s covers a service manager's restart with room, and a
 * daemon still away then is reported as such.
 */
export const HOST_AFTER_WAIT_MS = 30_000;

/** Pauses between tries: short first (a restart is quick), then no more often than once a second. */
const FIRST_PAUSE_MS = 200;
const MAX_PAUSE_MS = 1000;

export type HostAfter = { host: DomainSnapshot; error?: undefined; waitedMs: number } | { host?: undefined; error: VcpuctlError; waitedMs: number };

export async function readHostAfter(ctx: Context, domain: string, waitMs = ctx.hostAfterWaitMs ?? HOST_AFTER_WAIT_MS): Promise<HostAfter> {
  const started = Date.now();
  let pause = FIRST_PAUSE_MS;
  for (;;) {
    try {
      return { host: await ctx.driver.inspect(domain), waitedMs: Date.now() - started };
    } catch (err) {
      const e = toVcpuctlError(err);
      if (e.code !== 'LIBVIRT_UNREACHABLE' || Date.now() - started + pause > waitMs) return { error: e, waitedMs: Date.now() - started };
      ctx.progress(`libvirt unreachable after the change; reading the host view again (${Math.round((Date.now() - started) / 1000)} s)`);
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(MAX_PAUSE_MS, pause * 2);
    }
  }
}

/**
 * After libvirt refused a change to a running domain: how long libvirt may
 * still show it running though QEMU is gone. A QEMU that dies under a monitor
 * command fails the call at once ("Unable to read from monitor"), and libvirt
 * marks the domain stopped when it handles the monitor's end a moment later
 * (milliseconds here; 2 s leaves room on a loaded host). Over the RPC the
 * error's number cannot tell this apart from other QEMU failures, the
 * domain's state can.
 */
export const CRASH_SETTLE_MS = 2000;
const CRASH_POLL_MS = 100;

/** The host view again until the domain is no longer running, or CRASH_SETTLE_MS passed: the last view read. */
export async function settleAfterFailure(ctx: Context, domain: string, host: DomainSnapshot): Promise<DomainSnapshot> {
  const deadline = Date.now() + CRASH_SETTLE_MS;
  let now = host;
  while (now.domain.state === 'running' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, CRASH_POLL_MS));
    try {
      now = await ctx.driver.inspect(domain);
    } catch {
      return now;
    }
  }
  return now;
}
