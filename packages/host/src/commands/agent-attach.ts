/**
 * `vcpuctl agent attach DOMAIN`: gives the domain the org.vcpuctl.agent.0
 * virtio-serial channel, live and in the persistent config, so a guest
 * running `vcpuctl-agent run --channel` is found without configuration.
 * Idempotent: a side that has the channel is left alone.
 *
 * Measured on libvirt 9.0: a channel can be hot-plugged only into a running
 * domain that already has a virtio-serial controller ("no virtio-serial
 * controllers are available"), and the controller itself cannot be
 * hot-plugged; in the persistent config libvirt adds the controller on its own.
 */
import { VcpuctlError } from '@vcpuctl/proto';
import { Context } from '../core/context';
import { lockForChange } from '../core/domain-lock';
import { VCPUCTL_CHANNEL } from '../guest/channel';

/** What happened on one side: changed now, already so, or not possible until the next start. */
export type SideOutcome = 'added' | 'removed' | 'already' | 'not running' | 'at next start';

export interface ChannelResult {
  domain: string;
  channel: string;
  live: SideOutcome;
  config: SideOutcome;
  /** Why the running domain could not be changed, when it could not. */
  note?: string;
  /**
   * Whether something in the guest (vcpuctl-agent run --channel) has the
   * port open, once the running domain has the channel: what an operator
   * wants to know next. Absent when the running domain has no channel.
   */
  guest?: 'open' | 'not open';
}

/**
 * How long attach waits for the guest to open a channel it has just been
 * given: a running agent scans for the port once a second, so 3 s covers a
 * scan and a loaded TCG guest; an agent that is not running costs this once.
 */
export const ATTACH_OPEN_WAIT_MS = 3000;
const ATTACH_OPEN_POLL_MS = 250;

async function guestOpens(ctx: Context, domain: string): Promise<'open' | 'not open'> {
  const deadline = Date.now() + ATTACH_OPEN_WAIT_MS;
  for (;;) {
    const channel = (await ctx.driver.inspect(domain)).domain.channels?.live.find((c) => c.name === VCPUCTL_CHANNEL);
    if (channel?.state === 'connected') return 'open';
    if (Date.now() >= deadline) return 'not open';
    await new Promise((r) => setTimeout(r, ATTACH_OPEN_POLL_MS));
  }
}

/** Where the domain has the agent's channel now: in the running domain, in its persistent config. */
export async function agentChannelSides(ctx: Context, domain: string) {
  const host = await ctx.driver.inspect(domain);
  const channels = host.domain.channels;
  if (!channels) throw new VcpuctlError('LIBVIRT_FAILED', `the ${ctx.driver.uri} driver does not show devices`);
  return {
    running: host.domain.live !== undefined,
    liveController: channels.liveController,
    inLive: channels.live.find((c) => c.name === VCPUCTL_CHANNEL),
    inConfig: channels.config.find((c) => c.name === VCPUCTL_CHANNEL),
  };
}

export async function agentAttach(ctx: Context, domain: string): Promise<ChannelResult> {
  const { driver } = ctx;
  const lock = await lockForChange(ctx, domain);
  try {
    const { running, liveController, inLive, inConfig } = await agentChannelSides(ctx, domain);
    const live = running && !inLive && liveController;
    await driver.attachChannel(domain, VCPUCTL_CHANNEL, { live, config: !inConfig });
    const result: ChannelResult = {
      domain,
      channel: VCPUCTL_CHANNEL,
      live: !running ? 'not running' : inLive ? 'already' : live ? 'added' : 'at next start',
      config: inConfig ? 'already' : 'added',
    };
    if (result.live === 'added' || result.live === 'already') result.guest = await guestOpens(ctx, domain);
    if (result.live === 'at next start') {
      result.note = `the running domain has no virtio-serial controller and libvirt cannot hot-plug one: the channel is in the persistent config and appears when ${domain} is shut down and started again`;
    }
    return result;
  } finally {
    lock.release();
  }
}
