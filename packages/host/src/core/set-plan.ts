/**
 * What `vcpuctl set DOMAIN N` will do, decided from the host's and the
 * guest's views before anything is touched: the strategy (auto resolved),
 * the guest CPUs it will online or offline, whether the config is
 * persisted, or the refusal and why. Pure: the real run executes this plan
 * (commands/set.ts) and `--dry-run` prints it, so the two cannot drift.
 */
import { ErrorCode, VcpuctlError, cpuListCount } from '@vcpuctl/proto';
import { DomainSnapshot } from '../libvirt/driver';
import { MAX_VCPUS } from './input';
import { GuestView } from './verdict';

export type Strategy = 'auto' | 'hotplug' | 'unplug' | 'guest-offline';

/** What the run does: `config` changes a shut-off domain's persistent count only; `none` has nothing live to do. */
export type PlannedStrategy = 'config' | 'hotplug' | 'none' | 'guest-online' | 'unplug' | 'guest-offline';

export interface PlanOptions {
  live: boolean;
  config: boolean;
  strategy: Strategy;
}

export interface SetPlanRefusal {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export interface SetPlan {
  domain: string;
  target: number;
  /** The domain as found: libvirt's live and persistent counts, and the guest's online CPUs when it was reached. */
  from: { state: string; live?: number; liveMaximum?: number; config: number; configMaximum: number; guestOnline?: number };
  /** Absent when refused. */
  strategy?: PlannedStrategy;
  refusal?: SetPlanRefusal;
  /** Guest CPUs to online (guest-online) or offline (guest-offline), in the order asked. */
  cpus: number[];
  /** Also write the count into the persistent config (a separate `virsh setvcpus --config` where the live step does not). */
  persistConfig: boolean;
  /** The steps, in words, in order: what --dry-run prints. */
  steps: string[];
}

/** How many CPUs a kernel cpulist names ("0-2,5" is 4); empty or absent is 0. */
export function cpuCount(list: string | null | undefined): number {
  return list ? cpuListCount(list) : 0;
}

export function overMaximum(domain: string, target: number, maximum: number): SetPlanRefusal {
  return {
    code: 'OVER_MAXIMUM',
    message: `${target} vCPUs exceeds the maximum of ${maximum} for domain ${domain}; nothing was changed. Raise it with \`vcpuctl set-max ${domain} ${target} --restart\` (shuts the guest down and starts it again)`,
    details: { maximum, requested: target },
  };
}

export function refusalError(r: SetPlanRefusal): VcpuctlError {
  return new VcpuctlError(r.code, r.message, r.details);
}

/** The count itself, checked for library callers (the CLI checks it on entry). */
export function checkTarget(target: number): void {
  if (!Number.isSafeInteger(target) || target < 1 || target > MAX_VCPUS) throw new VcpuctlError('USAGE', `vCPU count must be a whole number from 1 to ${MAX_VCPUS}, got "${target}"`);
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * The plan for one domain. `agent`: a guest session is open (the agent over
 * its channel or TCP, or qemu-guest-agent); `guest` is what it showed.
 */
export function planSet(domain: string, target: number, opts: PlanOptions, host: DomainSnapshot, guest: GuestView, agent: boolean): SetPlan {
  const { domain: dom, qemu } = host;
  const live = dom.live;
  const snap = guest.snapshot;
  const plan: SetPlan = {
    domain,
    target,
    cpus: [],
    persistConfig: false,
    steps: [],
    from: {
      state: dom.state,
      config: dom.config.current,
      configMaximum: dom.config.maximum,
      ...(live ? { live: live.current, liveMaximum: live.maximum } : {}),
      ...(agent && snap ? { guestOnline: cpuCount(snap.online) } : {}),
    },
  };
  const refuse = (r: SetPlanRefusal): SetPlan => ({ ...plan, refusal: r, steps: [] });
  const configStep = (what: string) => `virsh setvcpus ${domain} ${target} --config (${what})`;
  // An agent of another machine would "confirm" the wrong guest: refuse before touching anything.
  if (guest.productUuid && dom.uuid && guest.productUuid.toLowerCase() !== dom.uuid.toLowerCase()) {
    return refuse({ code: 'IDENTITY_MISMATCH', message: `the agent answering has product_uuid ${guest.productUuid}, not domain ${domain}'s ${dom.uuid}; nothing was changed` });
  }
  if (!live) {
    if (opts.live && !opts.config) return refuse({ code: 'DOMAIN_NOT_RUNNING', message: `domain ${domain} is ${dom.state}: only --config can change it` });
    if (target > dom.config.maximum) return refuse(overMaximum(domain, target, dom.config.maximum));
    return { ...plan, strategy: 'config', persistConfig: true, steps: [configStep('the domain is not running: its persistent count only')] };
  }
  if (target > live.maximum) return refuse(overMaximum(domain, target, live.maximum));
  if (qemu && qemu.plugged !== live.current) {
    return refuse({ code: 'STALE_LIBVIRT', message: `libvirt counts ${live.current} vCPUs on ${domain} but QEMU has ${qemu.plugged}: libvirt's state is stale; refusing hotplug until libvirtd is restarted` });
  }
  const guestOnline = snap ? cpuCount(snap.online) : live.current;
  const persist = opts.config && dom.config.current !== target;
  if (target > live.current) {
    if (opts.strategy === 'unplug' || opts.strategy === 'guest-offline') return refuse({ code: 'USAGE', message: `--strategy ${opts.strategy} removes vCPUs; ${target} is more than the ${live.current} the domain has` });
    const confirm = agent ? `wait until the guest shows ${plural(target, 'vCPU')} present and online` : 'no guest agent reached: the change cannot be confirmed (AGENT_UNREACHABLE)';
    return { ...plan, strategy: 'hotplug', persistConfig: opts.config, steps: [`virsh setvcpus ${domain} ${target} --live${opts.config ? ' --config' : ''} (hot-add ${target - live.current})`, confirm] };
  }
  if (target === live.current && guestOnline >= target) {
    return { ...plan, strategy: 'none', persistConfig: persist, steps: persist ? [configStep('persist')] : [`nothing to do: ${plural(target, 'vCPU')} already`] };
  }
  // Fewer online than wanted but no more to plug: online what the guest has offline.
  if (target <= live.current && guestOnline < target) {
    if (!agent || !snap) return refuse({ code: 'AGENT_UNREACHABLE', message: `the guest has fewer than ${target} CPUs online and its agent cannot be reached to online them` });
    const cpus = (snap.cpus ?? [])
      .filter((c) => c.present && !c.online)
      .map((c) => c.index ?? 0)
      .slice(0, target - guestOnline);
    return { ...plan, strategy: 'guest-online', cpus, persistConfig: persist, steps: [`online ${cpus.map((c) => `cpu${c}`).join(', ')} inside the guest`, ...(persist ? [configStep('persist')] : [])] };
  }
  // Going down.
  const hotpluggable = live.vcpus.some((v) => v.enabled && v.hotpluggable);
  const strategy = opts.strategy === 'auto' ? (agent ? 'guest-offline' : hotpluggable ? 'unplug' : 'guest-offline') : opts.strategy;
  if (strategy === 'hotplug') return refuse({ code: 'USAGE', message: `--strategy hotplug adds vCPUs; ${target} is fewer than the ${guestOnline} online` });
  if (strategy === 'unplug') {
    const confirm = agent ? `wait until the guest shows ${plural(target, 'vCPU')} present` : 'no guest agent reached: the change cannot be confirmed (AGENT_UNREACHABLE)';
    return { ...plan, strategy: 'unplug', persistConfig: opts.config, steps: [`virsh setvcpus ${domain} ${target} --live${opts.config ? ' --config' : ''} (unplug ${live.current - target})`, confirm] };
  }
  if (!agent || !snap) return refuse({ code: 'AGENT_UNREACHABLE', message: `offlining inside the guest needs its agent, which cannot be reached: ${guest.error ?? ''}` });
  const cpus = (snap.cpus ?? [])
    .filter((c) => c.online && c.offlinable)
    .map((c) => c.index ?? 0)
    .sort((a, b) => b - a)
    .slice(0, guestOnline - target);
  const offline = cpus.length
    ? `offline ${cpus.map((c) => `cpu${c}`).join(', ')} inside the guest (the host keeps counting ${live.current} until a restart)`
    : `the guest already has ${plural(target, 'CPU')} online: nothing to offline`;
  return { ...plan, strategy: 'guest-offline', cpus, persistConfig: persist, steps: [offline, ...(persist ? [configStep('lower count for the next start')] : [])] };
}
