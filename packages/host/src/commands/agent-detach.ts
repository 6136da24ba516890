/** `vcpuctl agent detach DOMAIN`: removes the org.vcpuctl.agent.0 channel, live and from the persistent config. Idempotent. */
import { VcpuctlError } from '@vcpuctl/proto';
import { Context } from '../core/context';
import { lockForChange } from '../core/domain-lock';
import { VCPUCTL_CHANNEL } from '../guest/channel';
import { ChannelResult } from './agent-attach';

export async function agentDetach(ctx: Context, domain: string): Promise<ChannelResult> {
  const { driver } = ctx;
  if (!driver.detachChannel) throw new VcpuctlError('LIBVIRT_FAILED', `the ${driver.uri} driver cannot remove devices`);
  const lock = await lockForChange(ctx, domain);
  try {
    const host = await driver.inspect(domain);
    const channels = host.domain.channels;
    if (!channels) throw new VcpuctlError('LIBVIRT_FAILED', `the ${driver.uri} driver does not show devices`);
    const running = host.domain.live !== undefined;
    const inLive = channels.live.find((c) => c.name === VCPUCTL_CHANNEL);
    const inConfig = channels.config.find((c) => c.name === VCPUCTL_CHANNEL);
    const entry = inLive ?? inConfig;
    if (entry) await driver.detachChannel(domain, entry, { live: !!inLive, config: !!inConfig });
    return {
      domain, channel: VCPUCTL_CHANNEL,
      live: !running ? 'not running' : inLive ? 'removed' : 'already',
      config: inConfig ? 'removed' : 'already',
    };
  } finally {
    lock.release();
  }
}
