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
import { lockForChange, changeLockHolder } from '../core/domain-lock';
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
    uuid: host.domain.uuid,
    running: host.domain.live !== undefined,
    liveController: channels.liveController,
    inLive: channels.live.find((c) => c.name === VCPUCTL_CHANNEL),
    inConfig: channels.config.find((c) => c.name === VCPUCTL_CHANNEL),
  };
}

/** What attach does on each side, decided once for the run and its dry run. */
export interface ChannelPlan {
  domain: string;
  channel: string;
  dryRun: true;
  live: 'add' | 'already' | 'not running' | 'at next start';
  config: 'add' | 'already';
  note?: string;
  /** Another vcpuctl holding the domain's lock now (the run would wait --lock-wait for it). */
  lockHeldBy?: number;
}

type Sides = Awaited<ReturnType<typeof agentChannelSides>>;

function planOf(domain: string, s: Sides): ChannelPlan {
  const plan: ChannelPlan = {
    domain,
    channel: VCPUCTL_CHANNEL,
    dryRun: true,
    live: !s.running ? 'not running' : s.inLive ? 'already' : s.liveController ? 'add' : 'at next start',
    config: s.inConfig ? 'already' : 'add',
  };
  if (plan.live === 'at next start') {
    plan.note = `the running domain has no virtio-serial controller and libvirt cannot hot-plug one: the channel is in the persistent config and appears when ${domain} is shut down and started again`;
  }
  return plan;
}

/** `agent attach --dry-run`: the plan the run would carry out, from the domain as it is; no lock, nothing changed. */
export async function agentAttachPlan(ctx: Context, domain: string): Promise<ChannelPlan> {
  const sides = await agentChannelSides(ctx, domain);
  const plan = planOf(domain, sides);
  const holder = changeLockHolder(ctx, sides.uuid);
  if (holder !== undefined) plan.lockHeldBy = holder;
  return plan;
}

export async function agentAttach(ctx: Context, domain: string): Promise<ChannelResult> {
  const { driver } = ctx;
  const lock = await lockForChange(ctx, domain);
  try {
    const plan = planOf(domain, await agentChannelSides(ctx, domain));
    await driver.attachChannel(domain, VCPUCTL_CHANNEL, { live: plan.live === 'add', config: plan.config === 'add' });
    const result: ChannelResult = {
      domain,
      channel: VCPUCTL_CHANNEL,
      live: plan.live === 'add' ? 'added' : plan.live,
      config: plan.config === 'add' ? 'added' : plan.config,
      ...(plan.note ? { note: plan.note } : {}),
    };
    if (result.live === 'added' || result.live === 'already') result.guest = await guestOpens(ctx, domain);
    return result;
  } finally {
    lock.release();
  }
}
