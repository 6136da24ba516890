/** `vcpuctl agent detach DOMAIN`: removes the org.vcpuctl.agent.0 channel, live and from the persistent config. Idempotent. */
import { Context } from '../core/context';
import { lockForChange } from '../core/domain-lock';
import { VCPUCTL_CHANNEL } from '../guest/channel';
import { ChannelResult, agentChannelSides } from './agent-attach';

export async function agentDetach(ctx: Context, domain: string): Promise<ChannelResult> {
  const { driver } = ctx;
  const lock = await lockForChange(ctx, domain);
  try {
    const { running, inLive, inConfig } = await agentChannelSides(ctx, domain);
    const entry = inLive ?? inConfig;
    if (entry) await driver.detachChannel(domain, entry, { live: !!inLive, config: !!inConfig });
    return {
      domain,
      channel: VCPUCTL_CHANNEL,
      live: !running ? 'not running' : inLive ? 'removed' : 'already',
      config: inConfig ? 'removed' : 'already',
    };
  } finally {
    lock.release();
  }
}
