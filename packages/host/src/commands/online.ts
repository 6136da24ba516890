/** `vcpuctl online|offline DOMAIN CPU...`: guest-side, through whichever guest source answers, with the agent's guards. */
import { MAX_CPUS_PER_REQUEST, MAX_CPU_INDEX, VcpuctlError, cpuListCount, parseCpuRanges, v1 } from '@vcpuctl/proto';
import { Context } from '../core/context';
import { connectGuest } from '../guest/discover';
import { lockForChange, changeLockHolder } from '../core/domain-lock';
import { IntentRecord, recordIntent } from '../core/record-intent';
import { wantedOfflineOf } from '../core/intent';
import { tellWantedOffline } from './set';

export interface OnlineResult {
  results: { cpu: number; outcome: string; errorCode: string }[];
  online: string;
  /** The guest's new online set, recorded as intended (live only: a restart brings back the configured count). */
  intent: IntentRecord;
  /** What the agent was told about the CPUs now offline by intent (its auto-online leaves them offline). */
  wantedOffline?: string;
}

/** What `online|offline --dry-run` prints: each CPU's state in the guest now and what the run would ask of it. */
export interface OnlinePlan {
  domain: string;
  dryRun: true;
  /** The guest's lists now, as its agent (or qemu-ga) gives them. */
  present: string;
  online: string;
  cpus: { cpu: number; now: 'online' | 'offline' | 'not present'; change: 'online' | 'offline' | 'none' }[];
  /** Another vcpuctl holding the domain's lock now (the run would wait --lock-wait for it). */
  lockHeldBy?: number;
}

function checkCpus(cpus: number[]): void {
  // The agent's wire type is 32 bits: a larger number would be wrapped onto a real CPU, so none is ever sent.
  const bad = cpus.find((c) => !Number.isSafeInteger(c) || c < 0 || c > MAX_CPU_INDEX);
  if (bad !== undefined || cpus.length === 0 || cpus.length > MAX_CPUS_PER_REQUEST) {
    throw new VcpuctlError('USAGE', bad !== undefined ? `CPU number ${bad} is outside 0..${MAX_CPU_INDEX}` : `1 to ${MAX_CPUS_PER_REQUEST} CPUs per request, got ${cpus.length}`);
  }
}

const inList = (list: string, cpu: number) => parseCpuRanges(list).some(([a, b]) => cpu >= a && cpu <= b);

/**
 * The dry run: the same checks as the run before it asks the guest anything
 * (input, running, a guest that answers, the right guest), then each CPU's
 * state now. No lock taken, nothing changed. The guest kernel and the agent's
 * guards still have their say when the run asks (a CPU that cannot be
 * offlined, the last online one).
 */
export async function setGuestCpusPlan(ctx: Context, domain: string, cpus: number[], online: boolean): Promise<OnlinePlan> {
  checkCpus(cpus);
  const host = await ctx.driver.inspect(domain);
  if (host.domain.state !== 'running') throw new VcpuctlError('DOMAIN_NOT_RUNNING', `domain ${domain} is ${host.domain.state}`);
  const { view, client } = await connectGuest(ctx, host, { subscribe: false });
  if (!client) throw new VcpuctlError('AGENT_UNREACHABLE', view.error ?? 'agent unreachable');
  await client.close();
  if (view.productUuid && host.domain.uuid && view.productUuid !== host.domain.uuid) {
    throw new VcpuctlError('IDENTITY_MISMATCH', `the agent answering has product_uuid ${view.productUuid}, not domain ${domain}'s ${host.domain.uuid}; nothing would be changed`);
  }
  const present = view.snapshot?.present ?? '';
  const now = view.snapshot?.online ?? '';
  const plan: OnlinePlan = {
    domain,
    dryRun: true,
    present,
    online: now,
    cpus: cpus.map((cpu) => {
      const state = !inList(present, cpu) ? 'not present' : inList(now, cpu) ? 'online' : 'offline';
      return { cpu, now: state, change: state === 'not present' || state === (online ? 'online' : 'offline') ? 'none' : online ? 'online' : 'offline' };
    }),
  };
  const holder = changeLockHolder(ctx, host.domain.uuid);
  if (holder !== undefined) plan.lockHeldBy = holder;
  return plan;
}

export async function setGuestCpus(ctx: Context, domain: string, cpus: number[], online: boolean): Promise<OnlineResult> {
  checkCpus(cpus);
  const lock = await lockForChange(ctx, domain);
  try {
    const host = await ctx.driver.inspect(domain);
    if (host.domain.state !== 'running') throw new VcpuctlError('DOMAIN_NOT_RUNNING', `domain ${domain} is ${host.domain.state}`);
    const { view, client } = await connectGuest(ctx, host, { subscribe: false });
    if (!client) throw new VcpuctlError('AGENT_UNREACHABLE', view.error ?? 'agent unreachable');
    try {
      if (view.productUuid && host.domain.uuid && view.productUuid !== host.domain.uuid) {
        throw new VcpuctlError('IDENTITY_MISMATCH', `the agent answering has product_uuid ${view.productUuid}, not domain ${domain}'s ${host.domain.uuid}; nothing was changed`);
      }
      const reply = await client.setOnline(
        cpus.map((cpu) => ({ cpu, online })),
        ctx.agentTimeoutMs + 60_000,
      );
      const results = reply.results.map((r) => ({ cpu: r.cpu ?? 0, outcome: v1.CpuResult.Outcome[r.outcome ?? 0] ?? 'UNKNOWN', errorCode: r.errorCode ?? '' }));
      const failed = results.find((r) => r.outcome === 'FAILED');
      if (failed) throw new VcpuctlError('PARTIAL', `${reply.processed} of ${cpus.length} done; the guest kernel refused cpu${failed.cpu} (${failed.errorCode})`, { results });
      const list = reply.snapshot?.online ?? '';
      const intent = await recordIntent(
        ctx,
        domain,
        {
          online: list ? cpuListCount(list) : 0,
          cpus: list,
          operation: online ? 'online' : 'offline',
          strategy: 'guest',
          at: new Date().toISOString(),
          ...(host.domain.runId !== undefined ? { runId: host.domain.runId } : {}),
        },
        { live: true, config: false },
      );
      const wanted: string[] = [];
      await tellWantedOffline(client, { mark: (t) => wanted.push(t) }, wantedOfflineOf(reply.snapshot?.present, list), ctx.agentTimeoutMs);
      return { results, online: list, intent, ...(wanted.length ? { wantedOffline: wanted[0] } : {}) };
    } finally {
      await client.close();
    }
  } finally {
    lock.release();
  }
}
