/**
 * Finds how to reach a domain's guest, without configuration, in this order:
 *   1. an explicit --agent or agents-file entry (vcpuctl-agent over TCP);
 *   2. the org.vcpuctl.agent.0 channel in the live domain XML (vcpuctl-agent);
 *   3. the org.qemu.guest_agent.0 channel, if qemu-guest-agent answers guest-ping;
 *   4. none.
 * The live XML comes from the inspect the command already made, so finding
 * nothing costs no extra process, and a channel libvirt reports as
 * disconnected (nothing in the guest has the port open) is not waited on.
 */
import { existsSync } from 'node:fs';
import { VcpuctlError, v1 } from '@vcpuctl/proto';
import { agentEndpoint } from '../core/agents';
import { Context } from '../core/context';
import { GuestView } from '../core/verdict';
import { DomainSnapshot } from '../libvirt/driver';
import { AgentClient } from './agent-client';
import { QEMU_GA_CHANNEL, VCPUCTL_CHANNEL, channelBusy, connectChannel } from './channel';
import { isMisbehaviour } from './guest-input';
import { QemuGaSession } from './qemu-ga';
import { socketReachFor } from './socket-reach';
import { GuestReach, GuestSession } from './source';

export interface GuestConnection {
  view: GuestView;
  client: GuestSession | undefined;
  /** False when nothing points at a guest agent at all (nothing to wait for). */
  configured: boolean;
  /**
   * The vcpuctl channel is there and nothing in the guest has it open (libvirt
   * says so in the live XML): the agent is starting or restarting. Looking
   * again costs one libvirt read, so a follower looks often.
   */
  agentStarting?: boolean;
}

export function viewOf(session: GuestSession, snapshot: v1.Snapshot): GuestView {
  return {
    reachable: true,
    via: session.via,
    ...(session.through ? { through: session.through } : {}),
    ...(session.reduced ? { reduced: session.reduced } : {}),
    productUuid: session.hello.productUuid ?? undefined,
    hostname: session.hello.hostname ?? undefined,
    ...(session.hello.bootId ? { bootId: session.hello.bootId } : {}),
    ...(session.hello.bootedAtMs ? { bootedAtMs: session.hello.bootedAtMs } : {}),
    ...(session.hello.wantedOffline !== undefined ? { wantedOffline: session.hello.wantedOffline } : {}),
    autoOnline: !!session.hello.autoOnline,
    snapshot: v1.Snapshot.toObject(snapshot, { defaults: true }),
    ...(session.droppedFrames
      ? {
          droppedFrames: session.droppedFrames,
          misbehaving: [`pushed frames faster than its budget: ${session.droppedFrames} dropped (newest state asked for again)`],
        }
      : {}),
  };
}

const NOTHING_FOUND = `no guest agent found: no --agent or agents-file entry, no ${VCPUCTL_CHANNEL} channel (add one with \`vcpuctl agent attach DOMAIN\`), no qemu-guest-agent answering`;

/** A guest that could not be read, and why; a refusal of what it sent is also named as misbehaviour. */
function unreachableView(via: GuestReach, err: unknown): GuestView {
  const error = (err as Error).message;
  return { reachable: false, via, error, ...(isMisbehaviour(err) ? { misbehaving: [error] } : {}) };
}

async function firstView(ctx: Context, session: GuestSession, subscribe: boolean, domain: string): Promise<GuestConnection> {
  try {
    const snapshot = subscribe ? await session.subscribe(ctx.agentTimeoutMs) : await session.snapshot(ctx.agentTimeoutMs);
    return { view: viewOf(session, snapshot), client: session, configured: true };
  } catch (err) {
    await session.close();
    // Given up for a command that asked for the channel before the first snapshot came: lent, not unreachable.
    if (session.yielded) throw channelBusy(domain);
    return { view: unreachableView(session.via, err), client: undefined, configured: true };
  }
}

/** Connects to the domain's guest; an unreachable or absent one becomes a GuestView that says why. */
/** `yieldChannel`: a long-lived session (watch) that gives the channel up whenever another vcpuctl asks for it. */
export async function connectGuest(ctx: Context, host: DomainSnapshot, opts: { subscribe: boolean; yieldChannel?: boolean }): Promise<GuestConnection> {
  const { domain } = host;
  const endpoint = agentEndpoint(domain.name, ctx.agentFlags);
  if (endpoint) {
    let client: AgentClient;
    try {
      client = await AgentClient.connect(endpoint, { timeoutMs: ctx.agentTimeoutMs });
    } catch (err) {
      const e = err as VcpuctlError;
      // A wrong token is the operator's mistake, not a state of the guest: stop here.
      if (e.code === 'AUTH_FAILED') throw e;
      return { view: unreachableView('websocket', e), client: undefined, configured: true };
    }
    return firstView(ctx, client, opts.subscribe, domain.name);
  }
  const live = domain.channels?.live ?? [];
  const missed: string[] = [];
  const misbehaving: string[] = [];
  const channel = live.find((c) => c.name === VCPUCTL_CHANNEL);
  // The socket is on the machine libvirtd runs on: over the URI's ssh when that is another one.
  const reach = socketReachFor(ctx.driver.uri);
  if (channel) {
    if (channel.state === 'disconnected') missed.push(`the ${VCPUCTL_CHANNEL} channel is there but nothing in the guest has it open (is \`vcpuctl-agent run --channel\` running?)`);
    else if (!channel.path) missed.push(`libvirt names no socket for the ${VCPUCTL_CHANNEL} channel`);
    else if (reach.transport === 'local' && !existsSync(channel.path)) missed.push(`the ${VCPUCTL_CHANNEL} channel's socket ${channel.path} is not on this machine`);
    else {
      let client: AgentClient | undefined;
      try {
        client = await connectChannel({ ...ctx, reach }, domain, { ...channel, path: channel.path }, !!opts.yieldChannel);
      } catch (err) {
        // Another vcpuctl on the channel is an answer, not an absence: do not fall back past it.
        if ((err as VcpuctlError).code === 'LOCKED') throw err;
        missed.push((err as Error).message);
        if (isMisbehaviour(err)) misbehaving.push(err.message);
      }
      if (client) return firstView(ctx, client, opts.subscribe, domain.name);
    }
  }
  const ga = live.find((c) => c.name === QEMU_GA_CHANNEL);
  if (ga) {
    if (ga.state === 'disconnected') missed.push('the qemu-guest-agent channel is there but qemu-ga is not running in the guest');
    else {
      try {
        await ctx.driver.guestAgentPing(domain.name);
        return await firstView(ctx, new QemuGaSession(ctx.driver, domain.name), opts.subscribe, domain.name);
      } catch (err) {
        missed.push(`qemu-guest-agent: ${(err as Error).message}`);
      }
    }
  }
  const agentStarting = channel?.state === 'disconnected';
  if (missed.length) return { view: { reachable: false, error: missed.join('; '), ...(misbehaving.length ? { misbehaving } : {}) }, client: undefined, configured: true, ...(agentStarting ? { agentStarting } : {}) };
  return { view: { reachable: false, error: NOTHING_FOUND }, client: undefined, configured: false };
}

/** A fresh guest view over an open session. */
export async function guestNow(ctx: Context, client: GuestSession | undefined, fallback: GuestView): Promise<GuestView> {
  if (!client || !client.isOpen) return client ? { reachable: false, via: client.via, error: 'the guest connection closed during the operation' } : fallback;
  try {
    return viewOf(client, await client.snapshot(ctx.agentTimeoutMs));
  } catch (err) {
    return { reachable: false, via: client.via, error: (err as Error).message };
  }
}
