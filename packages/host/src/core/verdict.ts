/**
 * The verdict: compares the host's view (libvirt live and config, QEMU) with
 * the guest's (the agent's snapshot) and names every disagreement, each with
 * what it means and what to do. Pure: no I/O, so every kind is unit-tested.
 */
import { ErrorCode, VcpuctlError, canonicalCpuList, cpuListCount, formatKernelCpuList, parseCpuList, v1 } from '@vcpuctl/proto';
import { DomainSnapshot } from '../libvirt/driver';
import { GuestReach } from '../guest/source';
import { Intent } from './intent';

export type FindingKind =
  | 'DOMAIN_NOT_RUNNING'
  | 'DOMAIN_CRASHED'
  | 'LIVE_CONFIG_DIFFER'
  | 'LIBVIRT_QEMU_DIFFER'
  | 'AGENT_UNREACHABLE'
  | 'IDENTITY_MISMATCH'
  | 'QEMU_GUEST_DIFFER'
  | 'HOTADDED_OFFLINE'
  | 'GUEST_OFFLINE_HOST_COUNTS'
  | 'GUEST_VIEW_REDUCED'
  | 'GUEST_DRIFT'
  | 'INTENT_LOST_ON_REBOOT'
  | 'GUEST_OFFLINE_NO_INTENT'
  | 'GUEST_MISBEHAVING'
  | 'HOST_VIEW_UNAVAILABLE'
  | 'GUEST_CLAIM_CONTRADICTED'
  | 'HOTADDED_NEVER_RAN'
  | 'CPUS_NOT_USABLE'
  | 'CPU_ONLINE_FAILED';

/** Every kind, for consumers that keep one series per kind (the exporter). */
export const FINDING_KINDS: readonly FindingKind[] = [
  'DOMAIN_NOT_RUNNING',
  'DOMAIN_CRASHED',
  'LIVE_CONFIG_DIFFER',
  'LIBVIRT_QEMU_DIFFER',
  'AGENT_UNREACHABLE',
  'IDENTITY_MISMATCH',
  'QEMU_GUEST_DIFFER',
  'HOTADDED_OFFLINE',
  'GUEST_OFFLINE_HOST_COUNTS',
  'GUEST_DRIFT',
  'GUEST_OFFLINE_NO_INTENT',
  'GUEST_VIEW_REDUCED',
  'GUEST_MISBEHAVING',
  'HOST_VIEW_UNAVAILABLE',
  'GUEST_CLAIM_CONTRADICTED',
  'HOTADDED_NEVER_RAN',
  'CPUS_NOT_USABLE',
  'INTENT_LOST_ON_REBOOT',
  'CPU_ONLINE_FAILED',
];

/** error: something is wrong; expected: a known, explained state; warning: worth knowing. */
export type Severity = 'error' | 'expected' | 'warning';

export interface Finding {
  kind: FindingKind;
  severity: Severity;
  message: string;
  advice: string;
}

export interface GuestView {
  reachable: boolean;
  /** How the guest was reached (or tried): vcpuctl-agent over its channel or TCP, or qemu-guest-agent. */
  via?: GuestReach;
  /** How a channel's socket on a remote libvirt host was reached: "ssh to HOST" (see guest/socket-reach.ts). */
  through?: string;
  /** What the source could not show, when it is not vcpuctl-agent. */
  reduced?: string[];
  /** Why not, when unreachable (or "no agent configured"). */
  error?: string;
  productUuid?: string;
  hostname?: string;
  snapshot?: v1.Snapshot.$Properties;
  /**
   * What the guest sent that no real agent sends (a refused frame, a flood
   * over its budget), in the boundary's words (guest/guest-input.ts): kept
   * apart from `error` so the verdict names a hostile or broken guest as such.
   */
  misbehaving?: string[];
  /** Pushed frames dropped over the guest's budget in the current session. */
  droppedFrames?: number;
  /** Read now and then because another long-running vcpuctl follows the guest's channel (watch/guest-feed.ts). */
  shared?: string;
  /** The guest kernel's boot id (vcpuctl-agent's Hello): new at every boot. */
  bootId?: string;
  /** When the guest booted, on the host's clock (vcpuctl-agent's Hello: its uptime against the host's receipt time). */
  bootedAtMs?: number;
  /** The CPUs the agent keeps offline by the host's intent, as its Hello said (vcpuctl-agent only). */
  wantedOffline?: string;
  /** Whether the agent onlines hot-added CPUs itself (its Hello; false for qemu-ga and `--no-auto-online`). */
  autoOnline?: boolean;
}

export interface Verdict {
  ok: boolean;
  findings: Finding[];
}

export interface VerdictContext {
  /** The operation just offlined CPUs inside the guest on purpose. */
  guestOfflineIntended?: boolean;
  /**
   * The intent the running operation is about to record; it replaces the
   * recorded one (host.domain.intent), which still describes the old state.
   */
  intent?: Intent;
  /** Findings of the host's check of the guest's CPU claims (core/claim-check.ts), already judged. */
  claims?: Finding[];
}

/**
 * Whether the guest booted after the intent was recorded and so lost a
 * guest-side offline: the intent kept some of the present CPUs offline, and
 * the guest now has more (or other) CPUs online, as every boot onlines them
 * all. Only the agent says when the guest booted (bootedAtMs).
 */
export function lostOnReboot(intent: Intent, guest: GuestView, present: number, drift: 'fewer' | 'more' | 'other' | undefined, runId: number | undefined): boolean {
  const at = Date.parse(intent.at);
  // Only a reboot inside the QEMU the intent was made in: a new start (another run id) boots with the config's
  // count, and CPUs hot-added after it are drift like any other.
  const sameRun = intent.runId !== undefined && intent.runId === runId;
  return sameRun && (drift === 'more' || drift === 'other') && intent.online < present && guest.bootedAtMs !== undefined && Number.isFinite(at) && guest.bootedAtMs > at;
}

/** How the guest's online CPUs differ from the intent: undefined when they match. */
function driftFrom(intent: Intent, online: number, onlineList: string): 'fewer' | 'more' | 'other' | undefined {
  if (online < intent.online) return 'fewer';
  if (online > intent.online) return 'more';
  if (intent.cpus && canonicalCpuList(intent.cpus) !== canonicalCpuList(onlineList)) return 'other';
  return undefined;
}

function count(list: string | null | undefined): number {
  return list ? cpuListCount(list) : 0;
}

/*
 * The third level: CPUs online in the guest kernel but not usable by its
 * workloads. A cgroup that set its own CPUs keeps them: cgroup v1 removes an
 * offlined CPU for good and never adds a hot-added one below the root, and a
 * unit's AllowedCPUs=, a container's --cpuset-cpus and the kubelet's static
 * CPU manager pin what existed when they were set. The agent lists each such
 * cgroup with the online CPUs it lacks (guest-agent/src/cgroup/).
 */

export interface CgroupUsability {
  /** The guest's online CPUs. */
  online: number;
  /** Online CPUs every restricted cgroup can run on (all online ones when none is restricted). */
  usable: number[];
  /** Online CPUs some restricted cgroup lacks. */
  notUsable: number[];
  /** The agent stopped at a bound: more cgroups may lack CPUs, so `usable` is at most this. */
  partial: boolean;
}

/**
 * An enum field as a number, whether it comes from a message (a number) or
 * from a report's JSON read back (protobufjs writes enums there by name).
 */
function enumValue<E extends number>(e: Record<string, string | number>, value: unknown): E {
  return (typeof value === 'string' ? e[value] : (value ?? 0)) as E;
}

/** What the guest's cgroups leave usable; undefined when the agent did not read them (an older agent, qemu-ga, unreadable). */
export function cgroupUsability(snap: v1.Snapshot.$Properties | undefined): CgroupUsability | undefined {
  const read = enumValue<v1.CgroupRead>(v1.CgroupRead, snap?.cgroupRead);
  if (!snap || read === v1.CgroupRead.CGROUP_READ_UNKNOWN || read === v1.CgroupRead.CGROUP_UNREADABLE) return undefined;
  const online = parseCpuList(snap.online ?? '');
  const lacked = new Set<number>();
  for (const r of snap.restricted ?? []) for (const cpu of parseCpuList(r.lacks ?? '')) lacked.add(cpu);
  return {
    online: online.length,
    usable: online.filter((c) => !lacked.has(c)),
    notUsable: online.filter((c) => lacked.has(c)),
    partial: read === v1.CgroupRead.CGROUP_OVER_LIMIT,
  };
}

/** Names a guest cgroup gives, in prose: a backtick would open a code span where reports render findings (mdProse). */
function prose(text: string): string {
  return text.replace(/`/g, "'");
}

const Kind = v1.CgroupRestriction.Kind;

const ENGINES: Partial<Record<v1.CgroupRestriction.Kind, string>> = {
  [Kind.DOCKER]: 'docker',
  [Kind.PODMAN]: 'podman',
  [Kind.CONTAINERD]: 'containerd',
  [Kind.CRIO]: 'CRI-O',
};

/** A restricted cgroup as a user knows it: the unit, the container, the pod. */
export function cgroupLabel(r: v1.ICgroupRestriction): string {
  const kind = enumValue<v1.CgroupRestriction.Kind>(Kind, r.kind);
  const short = (r.name ?? '').slice(0, 12);
  const engine = ENGINES[kind];
  if (engine) return `${engine} container ${short}`;
  if (kind === Kind.SYSTEMD_UNIT || kind === Kind.SYSTEMD_SLICE) return r.name ?? '';
  if (kind === Kind.KUBEPODS && r.pod) return `pod ${r.pod}${short ? ` container ${short}` : ''}`;
  return prose(r.path ?? '');
}

/** A path in a shell command: quoted unless plain; undefined where no command can carry it safely. */
function shellPath(path: string): string | undefined {
  // A backtick, or a control or format character the boundary made visible (^X, <U+XXXX>): the shown text is not the path.
  if (/[`^]|<U\+[0-9A-F]{4}>/.test(path)) return undefined;
  return /^[A-Za-z0-9_./@:+,=-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}

/** How to widen one cgroup to every online CPU, in a command where one does it. */
function widenCommand(r: v1.ICgroupRestriction, online: string, version: number): string | undefined {
  const kind = enumValue<v1.CgroupRestriction.Kind>(Kind, r.kind);
  const short = (r.name ?? '').slice(0, 12);
  if (kind === Kind.DOCKER) return `docker update --cpuset-cpus ${online} ${short}`;
  if (kind === Kind.PODMAN) return `podman update --cpuset-cpus ${online} ${short}`;
  if (kind === Kind.CONTAINERD || kind === Kind.CRIO) return `crictl update --cpuset-cpus ${online} ${short}`;
  if (kind === Kind.KUBEPODS) return undefined; // the kubelet owns these: said once, below
  // systemd sets AllowedCPUs= on the unified hierarchy only; under v1 the cpuset is written directly.
  if ((kind === Kind.SYSTEMD_UNIT || kind === Kind.SYSTEMD_SLICE) && version === 2) return `systemctl set-property ${r.name} AllowedCPUs=${online}`;
  if (r.path === '/') return undefined;
  const file = shellPath(`${version === 1 ? '/sys/fs/cgroup/cpuset' : '/sys/fs/cgroup'}${r.path}/cpuset.cpus`);
  return file && `echo ${online} > ${file}`;
}

/** Names shown in a finding's message, and commands in its advice; the rest are counted (status --json lists every one). */
const MAX_NAMED_CGROUPS = 5;

function notUsableFinding(snap: v1.Snapshot.$Properties, u: CgroupUsability): Finding {
  const list = snap.restricted ?? [];
  const online = canonicalCpuList(snap.online ?? '');
  const named = list.slice(0, MAX_NAMED_CGROUPS).map((r) => `${cgroupLabel(r)} (runs on ${r.cpus || 'none'}, lacks ${r.lacks})`);
  const more = list.length > MAX_NAMED_CGROUPS ? `, and ${list.length - MAX_NAMED_CGROUPS} more` : '';
  const partial = u.partial ? '; the agent stopped at its bound on cgroups, so there may be more' : '';
  const n = u.notUsable.length;
  const message = `CPU ${formatKernelCpuList(u.notUsable)} ${n === 1 ? 'is' : 'are'} online in the guest but not usable by every workload: ${list.length === 1 ? '1 cgroup that set its own CPUs lacks' : `${list.length} cgroups that set their own CPUs lack`} ${n === 1 ? 'it' : 'them'}: ${named.join(', ')}${more}${partial}`;
  const version = snap.cgroupVersion ?? 0;
  const commands = [...new Set(list.map((r) => widenCommand(r, online, version)).filter((c): c is string => c !== undefined))];
  const pods = list.some((r) => enumValue(Kind, r.kind) === Kind.KUBEPODS);
  const advice = [
    `a cgroup keeps the CPUs it was given${version === 1 ? ' (under cgroup v1 the kernel never adds a hot-added CPU below the root)' : ''}: widen each, parents first`,
    ...(commands.length
      ? [
          `${commands
            .slice(0, MAX_NAMED_CGROUPS)
            .map((c) => `\`${c}\``)
            .join('; ')}${commands.length > MAX_NAMED_CGROUPS ? `; and ${commands.length - MAX_NAMED_CGROUPS} more like them` : ''}`,
        ]
      : []),
    ...(pods
      ? [
          "for Kubernetes pods, the kubelet's static CPU manager pinned them to the CPUs of its start and does not follow a hot-add: drain the node, remove /var/lib/kubelet/cpu_manager_state and restart the kubelet (or use the none policy)",
        ]
      : []),
    'a cgroup pinned on purpose can stay so: this is a warning, not a mismatch',
  ].join('; ');
  return { kind: 'CPUS_NOT_USABLE', severity: 'warning', message, advice };
}

/*
 * Online writes the guest kernel refused (the agent keeps each until the CPU
 * comes online): the errno says the likely cause.
 */

/** Kernel lines quoted in a finding's message at most; the report's JSON keeps every one the agent sent. */
const MAX_QUOTED_KERNEL_LINES = 4;

/** What each errno of a refused online most likely means, and what to do. */
export function onlineFailureCause(errno: string, domain: string, cpus: string): { cause: string; fix: string } {
  const retry = `retry with \`vcpuctl online ${domain} ${cpus}\``;
  switch (errno) {
    case 'EIO':
      return {
        cause:
          'the new vCPU did not come up in the guest kernel: seen on guests that were live-migrated (or restored) since they booted, where every hot-added vCPU fails so and the host still counts (and bills) it; in nested setups QEMU may also start a vCPU seconds late (the agent retried)',
        fix: `\`vcpuctl doctor ${domain}\` says whether the domain was migrated since boot; if so, take the vCPUs back (\`vcpuctl set ${domain} N\` to the online count) and add them after a restart of the guest on this host, or as a cold change with --config; otherwise ${retry}`,
      };
    case 'EBUSY':
    case 'EAGAIN':
      return { cause: 'the guest kernel was busy with another CPU hotplug, or had hotplug disabled for a moment (suspend, a CPU hotplug in progress); the agent retried', fix: `${retry} once the guest is quiet` };
    case 'ENOENT':
      return {
        cause: 'the kernel gave the hot-added CPU no online file in time (still starting it, or no CPU hotplug in this kernel)',
        fix: `${retry}; if it persists, \`vcpuctl doctor ${domain}\` checks the guest kernel's CPU hotplug`,
      };
    default:
      return { cause: `the guest kernel refused the write with ${errno}`, fix: `read the guest's kernel log around it; ${retry}` };
  }
}

function onlineFailedFindings(snap: v1.Snapshot.$Properties, domain: string): Finding[] {
  const offline = new Set((snap.cpus ?? []).filter((c) => c.present && !c.online).map((c) => c.index ?? 0));
  // Only CPUs the snapshot still shows present and offline: one onlined since is no longer a failure.
  const failures = (snap.onlineFailures ?? []).filter((f) => offline.has(f.cpu ?? 0));
  const byErrno = new Map<string, typeof failures>();
  for (const f of failures) byErrno.set(f.errno ?? '', [...(byErrno.get(f.errno ?? '') ?? []), f]);
  return [...byErrno].map(([errno, list]) => {
    const cpus = list.map((f) => f.cpu ?? 0).sort((a, b) => a - b);
    const cpuText = formatKernelCpuList(cpus);
    const who = list.every((f) => f.byAutoOnline) ? "by the agent's auto-online of the hot-add" : list.some((f) => f.byAutoOnline) ? 'by a request and by auto-online' : 'by a request';
    const attempts = Math.max(...list.map((f) => f.attempts ?? 0));
    const lines = list.flatMap((f) => (f.kernelLines ?? []).map((l) => l.message ?? '')).filter((m) => m !== '');
    const quoted = lines.slice(-MAX_QUOTED_KERNEL_LINES).map((m) => `"${prose(m)}"`);
    const { cause, fix } = onlineFailureCause(errno, domain, cpus.join(' '));
    const message = `the guest kernel refused to online CPU ${cpuText} (${who}): ${errno}${list[0]?.message ? ` (${prose(list[0].message)})` : ''}${attempts > 1 ? ` after ${attempts} writes` : ''}; ${
      quoted.length ? `kernel: ${quoted.join(', ')}${lines.length > quoted.length ? ` and ${lines.length - quoted.length} more lines` : ''}` : 'no kernel line about it was read'
    }; likely cause: ${cause}`;
    return { kind: 'CPU_ONLINE_FAILED' as const, severity: 'error' as const, message, advice: fix };
  });
}

/**
 * For drift towards more CPUs online: the guest's udev rules that online CPUs
 * on an offline's events, which undo a guest-side offline (the agent reads
 * them; `vcpuctl doctor` gives the fix). Empty when none is known.
 */
function fightingRulesText(snap: v1.Snapshot.$Properties, drift: 'fewer' | 'more' | 'other', domain: string): string {
  if (drift === 'fewer') return '';
  const rules = (snap.udevRules ?? []).filter((r) => r.fightsOffline);
  if (!rules.length) return '';
  const named = rules.slice(0, 3).map((r) => `${r.file}:${r.line}`);
  return `; the guest's udev rule${named.length === 1 ? '' : 's'} ${named.join(', ')}${rules.length > named.length ? ` and ${rules.length - named.length} more` : ''} online${named.length === 1 ? 's' : ''} CPUs on offline events, which undoes a guest-side offline: \`vcpuctl doctor ${domain}\` gives the fix`;
}

/** The exit code a failed verdict ends the CLI with: the most specific cause first. */
const FINDING_ERRORS: [FindingKind, ErrorCode][] = [
  ['DOMAIN_CRASHED', 'DOMAIN_NOT_RUNNING'],
  ['DOMAIN_NOT_RUNNING', 'DOMAIN_NOT_RUNNING'],
  ['IDENTITY_MISMATCH', 'IDENTITY_MISMATCH'],
  ['LIBVIRT_QEMU_DIFFER', 'STALE_LIBVIRT'],
  ['GUEST_MISBEHAVING', 'PROTOCOL'],
  ['AGENT_UNREACHABLE', 'AGENT_UNREACHABLE'],
];

export function verdictError(v: Verdict): VcpuctlError | undefined {
  const errors = v.findings.filter((f) => f.severity === 'error');
  if (errors.length === 0) return undefined;
  const code = FINDING_ERRORS.find(([kind]) => errors.some((f) => f.kind === kind))?.[1] ?? 'MISMATCH';
  return new VcpuctlError(code, errors.map((f) => `${f.kind}: ${f.message}`).join('; '));
}

/** The verdict when the host's view could not be read after a change: nothing compared, and said so. */
export function unavailableVerdict(err: VcpuctlError): Verdict {
  return {
    ok: false,
    findings: [
      {
        kind: 'HOST_VIEW_UNAVAILABLE',
        severity: 'error',
        message: `host view unavailable: ${err.message}`,
        advice: 'nothing was compared: the change may have been made; once libvirt answers, `vcpuctl verify DOMAIN` judges both sides',
      },
    ],
  };
}

export function computeVerdict(host: DomainSnapshot, guest: GuestView, ctx: VerdictContext = {}): Verdict {
  const findings: Finding[] = [];
  const add = (kind: FindingKind, severity: Severity, message: string, advice: string) => findings.push({ kind, severity, message, advice });
  const { domain, qemu } = host;
  const done = () => ({ ok: !findings.some((f) => f.severity === 'error'), findings });
  findings.push(...(ctx.claims ?? []));

  if (domain.state !== 'running' || !domain.live) {
    if (domain.reason === 'crashed' || domain.state === 'crashed') {
      add('DOMAIN_CRASHED', 'error', `domain ${domain.name} is ${domain.state} (crashed)`, `read the QEMU log lines in this report; start the domain again with \`virsh start ${domain.name}\``);
    } else {
      add('DOMAIN_NOT_RUNNING', 'error', `domain ${domain.name} is ${domain.state}${domain.reason ? ` (${domain.reason})` : ''}`, `start it with \`virsh start ${domain.name}\`; vCPUs can only be checked on a running guest`);
    }
    return done();
  }
  const live = domain.live;
  if (live.current !== domain.config.current || live.maximum !== domain.config.maximum) {
    add(
      'LIVE_CONFIG_DIFFER',
      'warning',
      `live ${live.current}/${live.maximum} vCPUs differ from the persistent config ${domain.config.current}/${domain.config.maximum} (current/maximum)`,
      `the change is lost at the next restart unless persisted: \`vcpuctl set ${domain.name} ${live.current} --config\``,
    );
  }
  const qemuCount = qemu?.plugged;
  if (qemuCount !== undefined && qemuCount !== live.current) {
    add(
      'LIBVIRT_QEMU_DIFFER',
      'error',
      `libvirt counts ${live.current} vCPUs but QEMU has ${qemuCount} plugged: libvirt's state is stale (e.g. after a timed-out unplug)`,
      'restart libvirtd so it re-reads QEMU (`libvirtd` re-attaches running domains); vcpuctl refuses hotplug on this domain until then',
    );
  }
  if (guest.misbehaving?.length) {
    add(
      'GUEST_MISBEHAVING',
      'error',
      `the guest sent what no real agent sends: ${guest.misbehaving.join('; ')}`,
      'the agent in the guest was replaced or is broken: vcpuctl refused what it sent and keeps what is beyond its bounds from reaching the host; check the guest (its vcpuctl-agent package and service) before trusting its view',
    );
  }
  if (!guest.reachable) {
    // A session closed for what the guest sent is named above; "unreachable" would hide why.
    if (guest.misbehaving?.length) return done();
    add(
      'AGENT_UNREACHABLE',
      'error',
      `the guest agent cannot be reached: ${guest.error ?? 'unknown reason'}`,
      `run vcpuctl-agent in the guest (\`vcpuctl-agent run --channel\`, and \`vcpuctl agent attach ${domain.name}\` here) or qemu-guest-agent; with --agent or an agents file, check its URL and token`,
    );
    return done();
  }
  if (guest.productUuid && domain.uuid && guest.productUuid.toLowerCase() !== domain.uuid.toLowerCase()) {
    add(
      'IDENTITY_MISMATCH',
      'error',
      `the agent answering (product_uuid ${guest.productUuid}, host ${guest.hostname ?? '?'}) is not in domain ${domain.name} (UUID ${domain.uuid})`,
      'fix the agent URL for this domain: its answers describe another machine and were not compared',
    );
    return done();
  }
  if (guest.reduced?.length) {
    add(
      'GUEST_VIEW_REDUCED',
      'expected',
      `the guest view comes from ${guest.via ?? 'a reduced source'}: ${guest.reduced.join('; ')}`,
      `for the full view, run vcpuctl-agent in the guest (\`vcpuctl-agent run --channel\`) and add its channel with \`vcpuctl agent attach ${domain.name}\``,
    );
  }
  const snap = guest.snapshot;
  if (!snap) return done();
  const present = count(snap.present);
  const online = count(snap.online);
  const hostCount = qemuCount ?? live.current;
  if (present !== hostCount) {
    add(
      'QEMU_GUEST_DIFFER',
      'error',
      `${qemuCount !== undefined ? 'QEMU has' : 'libvirt counts'} ${hostCount} vCPUs but the guest kernel lists ${present} present (${snap.present})`,
      'a hot-add or unplug has not reached the guest (yet): wait and verify again; if it persists, the guest kernel did not accept the change',
    );
  }
  const intent = ctx.intent ?? domain.intent;
  const drift = intent ? driftFrom(intent, online, snap.online ?? '') : undefined;
  if (intent && drift && lostOnReboot(intent, guest, present, drift, domain.runId)) {
    // Not drift behind vcpuctl's back: every boot onlines every CPU, and a
    // guest-side offline lives in the running kernel only.
    add(
      'INTENT_LOST_ON_REBOOT',
      'error',
      `the guest rebooted at ${new Date(guest.bootedAtMs!).toISOString()}, after vcpuctl's intent of ${intent.online} online${intent.cpus ? ` (${intent.cpus})` : ''} was recorded by ${intent.operation} (${intent.strategy}) at ${intent.at}: a guest-side offline does not survive a reboot, and the guest now runs on ${online} CPU${online === 1 ? '' : 's'} (${snap.online || 'none'}): the intent is not applied`,
      `re-apply it with \`vcpuctl set ${domain.name} ${intent.online}\`, or let \`vcpuctl watch --reconcile\` (or \`vcpuctl exporter --reconcile\`) re-apply it whenever the guest comes back; to boot with ${intent.online} vCPU${intent.online === 1 ? '' : 's'} after a restart of the domain, persist the count with \`vcpuctl set ${domain.name} ${intent.online} --config\``,
    );
  } else if (intent && drift) {
    // The guest's online set is not what vcpuctl last made it, and no
    // vcpuctl operation is making it so now: something else changed it.
    const how = drift === 'other' ? `other CPUs online (${snap.online}, not ${intent.cpus})` : `${drift} CPUs online than intended`;
    add(
      'GUEST_DRIFT',
      'error',
      `the guest has ${online} CPU${online === 1 ? '' : 's'} online (${snap.online || 'none'}) but vcpuctl's recorded intent is ${intent.online}${intent.cpus ? ` (${intent.cpus})` : ''}, set by ${intent.operation} at ${intent.at}: ${how}, changed behind vcpuctl's back`,
      `find what changed it inside the guest (its kernel log names each CPU going on or offline${fightingRulesText(snap, drift, domain.name)}); restore the intent with \`vcpuctl set ${domain.name} ${intent.online}\`, or, if the new state is wanted, record it with \`vcpuctl set ${domain.name} ${online}\``,
    );
  }
  const usability = cgroupUsability(snap);
  if (usability && usability.notUsable.length) findings.push(notUsableFinding(snap, usability));
  const failed = onlineFailedFindings(snap, domain.name);
  findings.push(...failed);
  const failedCpus = new Set((snap.onlineFailures ?? []).map((f) => f.cpu ?? 0));
  if (online < present) {
    const offline = (snap.cpus ?? []).filter((c) => c.present && !c.online);
    const neverOnlined = (c: (typeof offline)[number]) => c.offlineCause === v1.OfflineCause.HOT_ADDED_NEVER_ONLINED;
    // Offlined on purpose: the operation says so, or the recorded intent
    // accounts for them (the agent may have restarted and forgotten why).
    const intended = (c: (typeof offline)[number]) => !neverOnlined(c) && (ctx.guestOfflineIntended || (intent !== undefined && !drift));
    // Offlined inside the guest, seen by the agent, with nothing saying it was wanted.
    const unrecorded = (c: (typeof offline)[number]) => !neverOnlined(c) && !intended(c) && !intent && c.offlineCause === v1.OfflineCause.OFFLINED;
    const offlined = offline.filter(intended).map((c) => c.index);
    const noIntent = offline.filter(unrecorded).map((c) => c.index);
    // With drift, GUEST_DRIFT already names the offlined CPUs; a never-onlined hot-add is its own fault either way.
    // A CPU whose online the kernel refused is CPU_ONLINE_FAILED, with its cause, not a plain stuck hot-add.
    const stuck = offline.filter((c) => !failedCpus.has(c.index ?? 0) && (neverOnlined(c) || (!intended(c) && !unrecorded(c) && !drift)));
    if (offlined.length) {
      // The lower count persisted for the next start is the other half of
      // this same explained state, not a separate "not persisted" warning.
      if (domain.config.current === online && domain.config.maximum === live.maximum) {
        const i = findings.findIndex((f) => f.kind === 'LIVE_CONFIG_DIFFER');
        if (i >= 0) findings.splice(i, 1);
      }
      add(
        'GUEST_OFFLINE_HOST_COUNTS',
        'expected',
        `the guest runs on ${online} vCPU${online === 1 ? '' : 's'} (CPU ${offlined.join(', ')} offlined inside it) while the host still counts ${live.current}`,
        `expected after a guest-side offline: the host releases them at the next restart once the lower count is persisted (\`vcpuctl set ${domain.name} ${online} --config\`${domain.config.current === online ? ', already done' : ''})`,
      );
    }
    if (noIntent.length) {
      add(
        'GUEST_OFFLINE_NO_INTENT',
        'error',
        `CPU ${noIntent.join(', ')} ${noIntent.length === 1 ? 'was' : 'were'} offlined inside the guest, which runs on ${online} vCPU${online === 1 ? '' : 's'} while the host still counts ${live.current}, and vcpuctl has no recorded intent saying that is wanted`,
        `if it is wanted, record the intent with \`vcpuctl set ${domain.name} ${online}\` (add --config to persist the lower count for the next start); if not, online ${noIntent.length === 1 ? 'it' : 'them'} with \`vcpuctl online ${domain.name} ${noIntent.join(' ')}\``,
      );
    }
    if (stuck.length) {
      const hotAdded = stuck.every(neverOnlined);
      add(
        'HOTADDED_OFFLINE',
        'error',
        `CPU ${stuck.map((c) => c.index).join(', ')} ${stuck.length === 1 ? 'is' : 'are'} present in the guest but offline: ${hotAdded ? 'hot-added and never onlined' : 'hot-added and never onlined, or offlined by hand before the agent started'}`,
        `online ${stuck.length === 1 ? 'it' : 'them'} with \`vcpuctl online ${domain.name} ${stuck.map((c) => c.index).join(' ')}\` (the agent does this itself for hot-adds unless started with --no-auto-online)`,
      );
    }
  }
  return done();
}
