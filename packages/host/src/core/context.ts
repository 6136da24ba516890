/** What every operation is given: the hypervisor, where reports and locks go, how to reach agents. */
import { VcpuctlError, v1 } from '@vcpuctl/proto';
import { AgentClient } from '../agent/client';
import { HypervisorDriver } from '../libvirt/driver';
import { AgentFlags, agentEndpoint } from './agents';
import { GuestView } from './verdict';

export interface Context {
  driver: HypervisorDriver;
  reportDir: string;
  lockDir: string;
  lockWaitMs: number;
  agentFlags: AgentFlags;
  agentTimeoutMs: number;
  /** Progress lines for a person at a terminal; a no-op with --json or without a TTY. */
  progress: (line: string) => void;
}

export interface GuestConnection {
  view: GuestView;
  client: AgentClient | undefined;
  /** False when no agent is configured for the domain (nothing to wait for). */
  configured: boolean;
}

function viewOf(client: AgentClient, snapshot: v1.Snapshot): GuestView {
  return { reachable: true, productUuid: client.hello.productUuid, hostname: client.hello.hostname, snapshot: v1.Snapshot.toObject(snapshot, { defaults: true }) };
}

/** Connects to the domain's agent; an unreachable or unconfigured agent becomes a GuestView that says why. */
export async function connectGuest(ctx: Context, domain: string, opts: { subscribe: boolean }): Promise<GuestConnection> {
  const endpoint = agentEndpoint(domain, ctx.agentFlags);
  if (!endpoint) return { view: { reachable: false, error: 'no agent configured for this domain (--agent or the agents file)' }, client: undefined, configured: false };
  let client: AgentClient | undefined;
  try {
    client = await AgentClient.connect(endpoint, { timeoutMs: ctx.agentTimeoutMs });
    const snapshot = opts.subscribe ? await client.subscribe(ctx.agentTimeoutMs) : await client.snapshot(ctx.agentTimeoutMs);
    return { view: viewOf(client, snapshot), client, configured: true };
  } catch (err) {
    await client?.close();
    const e = err as VcpuctlError;
    // A wrong token is the operator's mistake, not a state of the guest: stop here.
    if (e.code === 'AUTH_FAILED') throw e;
    return { view: { reachable: false, error: e.message }, client: undefined, configured: true };
  }
}

/** A fresh guest view over an open client. */
export async function guestNow(ctx: Context, client: AgentClient | undefined, fallback: GuestView): Promise<GuestView> {
  if (!client || !client.isOpen) return client ? { reachable: false, error: 'the agent connection closed during the operation' } : fallback;
  try {
    return viewOf(client, await client.snapshot(ctx.agentTimeoutMs));
  } catch (err) {
    return { reachable: false, error: (err as Error).message };
  }
}
