/**
 * The host's one boundary for what comes from a guest. A guest's root user can
 * replace the agent (or qemu-ga), so every value it sends is hostile until it
 * has passed here: frames are size- and shape-checked before decoding
 * (decodeGuestFrame in @vcpuctl/proto), then every field is checked and
 * bounded by the limits in proto/src/limits.ts and turned into values the rest
 * of the host trusts:
 *   - CPU lists parsed without expansion and rewritten in the kernel's spelling
 *     (digits, commas, hyphens only);
 *   - CPU numbers within 0..MAX_CPU_INDEX, each CPU once, enums known;
 *   - strings bounded, with control characters made visible as `cat -v` does
 *     (a legitimate guest never sends one), so no output can be steered;
 *   - an agent's error code never becomes the host's: it is named as the guest's.
 * A value that fails is a PROTOCOL error naming the field; the session that
 * carried it is that guest's problem, never the process's.
 */
import {
  ErrorCode,
  MAX_CPU_INDEX,
  MAX_GUEST_CACHES_PER_CPU,
  MAX_GUEST_CGROUPS,
  MAX_GUEST_CGROUP_PATH_CHARS,
  MAX_GUEST_FIELD_CHARS,
  MAX_GUEST_FLAGS_LINE_CHARS,
  MAX_GUEST_KERNEL_LINE_CHARS,
  MAX_GUEST_LSCPU_CHARS,
  MAX_GUEST_LSCPU_LINES,
  MAX_GUEST_MESSAGE_CHARS,
  MAX_GUEST_ONLINE_FAILURES,
  MAX_GUEST_ONLINE_FAILURE_LINES,
  MAX_GUEST_UDEV_ACTIONS_CHARS,
  MAX_GUEST_UDEV_PATH_CHARS,
  MAX_GUEST_UDEV_RULES,
  MAX_GUEST_UDEV_RULE_CHARS,
  CpuRange,
  VcpuctlError,
  canonicalCpuList,
  parseCpuRanges,
  v1,
} from '@vcpuctl/proto';
import { forTerminal, visible } from './visible-text';

function protocol(what: string, why: string): VcpuctlError {
  return new VcpuctlError('PROTOCOL', `the guest sent ${what} ${why}`);
}

/** A guest string: at most `max` characters, one line, control characters shown. */
export function guestText(value: string | null | undefined, what: string, max = MAX_GUEST_FIELD_CHARS): string {
  const s = value ?? '';
  if (s.length > max) throw protocol(what, `of ${s.length} characters (at most ${max})`);
  return visible(s);
}

/** Guest text of several lines (the lscpu view): bounded in characters and lines, newlines kept, other controls shown. */
export function guestLines(value: string | null | undefined, what: string, maxChars: number, maxLines: number): string {
  const s = value ?? '';
  if (s.length > maxChars) throw protocol(what, `of ${s.length} characters (at most ${maxChars})`);
  let lines = 1;
  for (let i = s.indexOf('\n'); i !== -1; i = s.indexOf('\n', i + 1)) lines++;
  if (lines > maxLines) throw protocol(what, `of ${lines} lines (at most ${maxLines})`);
  return forTerminal(s);
}

/** A CPU list from a guest, in the kernel's spelling; a malformed one names its field. */
export function guestCpuList(value: string | null | undefined, what: string): string {
  try {
    return canonicalCpuList(value ?? '');
  } catch (err) {
    throw protocol(what, `that is not a CPU list: ${(err as Error).message}`);
  }
}

function cpuNumber(value: number | null | undefined, what: string): number {
  const n = value ?? 0;
  if (!Number.isInteger(n) || n < 0 || n > MAX_CPU_INDEX) throw protocol(what, `${n}, not a CPU number (0-${MAX_CPU_INDEX})`);
  return n;
}

function finite(value: number | null | undefined): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function knownEnum<E extends Record<string, string | number>>(e: E, value: number | null | undefined, what: string): number {
  const n = value ?? 0;
  if (typeof e[n] !== 'string') throw protocol(what, `${n}, which the protocol does not define`);
  return n;
}

function cache(c: v1.ICache, where: string): v1.Cache {
  return v1.Cache.create({
    level: cpuNumber(c.level, `${where} level`),
    type: guestText(c.type, `${where} type`, 32),
    size: guestText(c.size, `${where} size`, 32),
    sharedCpuList: guestCpuList(c.sharedCpuList, `${where} shared_cpu_list`),
  });
}

function cpu(c: v1.ICpu, seen: Set<number>): v1.Cpu {
  const index = cpuNumber(c.index, 'a CPU index');
  if (seen.has(index)) throw protocol(`CPU ${index}`, 'twice in one snapshot');
  seen.add(index);
  const where = `cpu${index}`;
  const caches = c.caches ?? [];
  if (caches.length > MAX_GUEST_CACHES_PER_CPU) throw protocol(`${where}`, `with ${caches.length} caches (at most ${MAX_GUEST_CACHES_PER_CPU})`);
  return v1.Cpu.create({
    index,
    present: !!c.present,
    online: !!c.online,
    offlinable: !!c.offlinable,
    coreId: c.coreId ?? 0,
    packageId: c.packageId ?? 0,
    dieId: c.dieId ?? 0,
    clusterId: c.clusterId ?? 0,
    bookId: c.bookId ?? 0,
    drawerId: c.drawerId ?? 0,
    threadSiblingsList: guestCpuList(c.threadSiblingsList, `${where} thread_siblings_list`),
    coreCpusList: guestCpuList(c.coreCpusList, `${where} core_cpus_list`),
    node: c.node ?? 0,
    caches: caches.map((x, i) => cache(x, `${where} cache ${i}`)),
    offlineCause: knownEnum(v1.OfflineCause, c.offlineCause, `${where} offline_cause`),
  });
}

function model(m: v1.ICpuModel | null | undefined): v1.CpuModel | undefined {
  if (!m) return undefined;
  const t = (v: string | null | undefined, what: string) => guestText(v, `the CPU model's ${what}`);
  return v1.CpuModel.create({
    architecture: t(m.architecture, 'architecture'),
    vendor: t(m.vendor, 'vendor'),
    modelName: t(m.modelName, 'name'),
    family: t(m.family, 'family'),
    model: t(m.model, 'model'),
    stepping: t(m.stepping, 'stepping'),
    mhz: t(m.mhz, 'MHz'),
    bogomips: t(m.bogomips, 'BogoMIPS'),
    flags: (m.flags ?? []).map((f) => guestText(f, 'a CPU flag', 64)),
    addressSizes: t(m.addressSizes, 'address sizes'),
    flagsLine: guestText(m.flagsLine, "the CPU model's flags line", MAX_GUEST_FLAGS_LINE_CHARS),
  });
}

function system(s: v1.ISystemFacts | null | undefined): v1.SystemFacts | undefined {
  if (!s) return undefined;
  const t = (v: string | null | undefined, what: string) => guestText(v, `the guest's ${what}`);
  return v1.SystemFacts.create({
    hostname: t(s.hostname, 'hostname'),
    kernel: t(s.kernel, 'kernel'),
    os: t(s.os, 'OS name'),
    productUuid: t(s.productUuid, 'product_uuid'),
    virtualization: t(s.virtualization, 'virtualization'),
    manufacturer: t(s.manufacturer, 'manufacturer'),
    product: t(s.product, 'product'),
  });
}

const Kind = v1.CgroupRestriction.Kind;

/**
 * What each kind's name may be: the agent names a cgroup only from these
 * grammars (guest-agent/src/cgroup/names.ts), and the host puts names into
 * the commands it advises (`systemctl set-property NAME`, `docker update ID`),
 * so anything else is refused rather than shown. A unit name is systemd's
 * grammar (letters, digits, ":-_.\@", at most 255); an id is 64 hex digits.
 */
const UNIT_NAME = /^[A-Za-z0-9:_.\\@-]{1,255}$/;
const CONTAINER_ID = /^[0-9a-f]{64}$/;
const NAME_GRAMMAR: Record<v1.CgroupRestriction.Kind, RegExp> = {
  [Kind.OTHER]: /^$/,
  [Kind.SYSTEMD_UNIT]: UNIT_NAME,
  [Kind.SYSTEMD_SLICE]: UNIT_NAME,
  [Kind.DOCKER]: CONTAINER_ID,
  [Kind.PODMAN]: CONTAINER_ID,
  [Kind.CONTAINERD]: CONTAINER_ID,
  [Kind.CRIO]: CONTAINER_ID,
  [Kind.KUBEPODS]: /^(?:[0-9a-f]{64})?$/,
};
/** A pod UID (a UUID; dashes as the kubelet writes them), only on KUBEPODS. */
const POD_UID = /^[0-9a-f-]{1,64}$/;

/** Whether every CPU of `inner` is in `outer`: both sorted, merged runs (as parsed), so one pass over each. */
function within(inner: readonly CpuRange[], outer: readonly CpuRange[]): boolean {
  let j = 0;
  for (const [a, b] of inner) {
    while (j < outer.length && outer[j]![1] < a) j++;
    const run = outer[j];
    if (!run || run[0] > a || run[1] < b) return false;
  }
  return true;
}

function restriction(r: v1.ICgroupRestriction, i: number, online: readonly CpuRange[]): v1.CgroupRestriction {
  const where = `restricted cgroup ${i}`;
  const path = guestText(r.path, `${where}'s path`, MAX_GUEST_CGROUP_PATH_CHARS);
  if (!path.startsWith('/')) throw protocol(`${where}'s path`, 'that does not start at the hierarchy\'s root ("/")');
  const kind = knownEnum(Kind, r.kind, `${where}'s kind`) as v1.CgroupRestriction.Kind;
  const name = r.name ?? '';
  if (!NAME_GRAMMAR[kind].test(name)) throw protocol(`${where}'s name`, `"${guestText(name.slice(0, 80), 'a name')}", not a ${Kind[kind]} name`);
  const pod = r.pod ?? '';
  if (pod !== '' && (kind !== Kind.KUBEPODS || !POD_UID.test(pod))) throw protocol(`${where}'s pod`, `"${guestText(pod.slice(0, 80), 'a pod')}", not a pod UID of a KUBEPODS cgroup`);
  const cpus = guestCpuList(r.cpus, `${where}'s cpus`);
  const lacks = guestCpuList(r.lacks, `${where}'s lacks`);
  // What it lacks is online CPUs: the verdict counts usable CPUs from these, so they must be the guest's own.
  if (lacks === '' || !within(parseCpuRanges(lacks), online)) throw protocol(`${where}'s lacks`, `"${lacks}", not a non-empty set of online CPUs`);
  return v1.CgroupRestriction.create({ path, kind, name, pod, cpus, lacks });
}

function restrictions(list: v1.ICgroupRestriction[] | null | undefined, online: string): v1.CgroupRestriction[] {
  const all = list ?? [];
  // The frame's count is bounded before decoding; a snapshot built on the host (qemu-ga) is checked here.
  if (all.length > MAX_GUEST_CGROUPS) throw protocol(`${all.length} restricted cgroups`, `(at most ${MAX_GUEST_CGROUPS})`);
  const onlineRuns = all.length ? parseCpuRanges(online) : [];
  return all.map((r, i) => restriction(r, i, onlineRuns));
}

function cgroupVersion(n: number | null | undefined): number {
  const v = n ?? 0;
  if (v !== 0 && v !== 1 && v !== 2) throw protocol('cgroup_version', `${v} (0, 1 or 2)`);
  return v;
}

/** The directories udev reads rules from: the agent names no other file. */
const UDEV_RULES_FILE = /^\/(?:etc|run|usr\/lib|lib)\/udev\/rules\.d\/[^/]+\.rules$/;
/** The events a rule fires on, as the agent names them. */
const UDEV_ACTIONS = /^(?:add|remove|change|move|online|offline|bind|unbind)(?:\|(?:add|remove|change|move|online|offline|bind|unbind))*$/;

function udevRule(r: v1.IUdevRule, where: string): v1.UdevRule {
  const file = guestText(r.file, `${where}'s file`, MAX_GUEST_UDEV_PATH_CHARS);
  if (!UDEV_RULES_FILE.test(file)) throw protocol(`${where}'s file`, `"${file.slice(0, 80)}", not a rules file of udev's directories`);
  const line = r.line ?? 0;
  if (!Number.isInteger(line) || line < 1) throw protocol(`${where}'s line`, `${line}, not a line number`);
  const actions = guestText(r.actions, `${where}'s actions`, MAX_GUEST_UDEV_ACTIONS_CHARS);
  if (!UDEV_ACTIONS.test(actions)) throw protocol(`${where}'s actions`, `"${actions.slice(0, 80)}", not udev actions`);
  return v1.UdevRule.create({ file, line, text: guestText(r.text, `${where}'s text`, MAX_GUEST_UDEV_RULE_CHARS), fightsOffline: !!r.fightsOffline, actions });
}

/** Udev rules from a guest: the frame's count is bounded before decoding; one built on the host is checked here. */
export function checkUdevRules(list: v1.IUdevRule[] | null | undefined, what: string): v1.UdevRule[] {
  const all = list ?? [];
  if (all.length > MAX_GUEST_UDEV_RULES) throw protocol(`${all.length} ${what}`, `(at most ${MAX_GUEST_UDEV_RULES})`);
  return all.map((r, i) => udevRule(r, `${what} ${i}`));
}

/** An errno name, as Node spells it: the host's advice depends on it, so nothing else passes. */
const ERRNO = /^E[A-Z0-9]{1,15}$/;

function onlineFailure(f: v1.IOnlineFailure, seen: Set<number>): v1.OnlineFailure {
  const cpu = cpuNumber(f.cpu, 'a failed CPU');
  if (seen.has(cpu)) throw protocol(`online failure of CPU ${cpu}`, 'twice in one snapshot');
  seen.add(cpu);
  const where = `cpu${cpu}'s online failure`;
  const errno = f.errno ?? '';
  if (!ERRNO.test(errno)) throw protocol(`${where}'s errno`, `"${guestText(errno.slice(0, 40), 'an errno')}", not an errno name`);
  const lines = f.kernelLines ?? [];
  if (lines.length > MAX_GUEST_ONLINE_FAILURE_LINES) throw protocol(`${where}`, `with ${lines.length} kernel lines (at most ${MAX_GUEST_ONLINE_FAILURE_LINES})`);
  const attempts = f.attempts ?? 0;
  if (!Number.isInteger(attempts) || attempts > 1000) throw protocol(`${where}'s attempts`, `${attempts}`);
  return v1.OnlineFailure.create({
    cpu,
    errno,
    message: guestText(f.message, `${where}'s message`, MAX_GUEST_MESSAGE_CHARS),
    attempts,
    atMs: finite(f.atMs),
    byAutoOnline: !!f.byAutoOnline,
    kernelLines: checkKernelLines(lines),
  });
}

function onlineFailures(list: v1.IOnlineFailure[] | null | undefined): v1.OnlineFailure[] {
  const all = list ?? [];
  if (all.length > MAX_GUEST_ONLINE_FAILURES) throw protocol(`${all.length} online failures`, `(at most ${MAX_GUEST_ONLINE_FAILURES})`);
  const seen = new Set<number>();
  return all.map((f) => onlineFailure(f, seen));
}

/** A snapshot from a guest, checked whole; absent is an empty one (the agent always sends one, qemu-ga builds its own). */
export function checkSnapshot(s: v1.ISnapshot | null | undefined): v1.Snapshot {
  const raw = s ?? {};
  const seen = new Set<number>();
  const kernelMax = raw.kernelMax ?? 0;
  if (!Number.isInteger(kernelMax) || kernelMax > MAX_CPU_INDEX) throw protocol('kernel_max', `${kernelMax} (at most ${MAX_CPU_INDEX})`);
  const online = guestCpuList(raw.online, 'online');
  return v1.Snapshot.create({
    takenAtMs: finite(raw.takenAtMs),
    possible: guestCpuList(raw.possible, 'possible'),
    present: guestCpuList(raw.present, 'present'),
    online,
    offline: guestCpuList(raw.offline, 'offline'),
    kernelMax,
    cpus: (raw.cpus ?? []).map((c) => cpu(c, seen)),
    nodes: (raw.nodes ?? []).map((n) => v1.NumaNode.create({ id: cpuNumber(n.id, 'a NUMA node id'), cpulist: guestCpuList(n.cpulist, `node${n.id} cpulist`) })),
    ...(raw.model ? { model: model(raw.model) } : {}),
    ...(raw.system ? { system: system(raw.system) } : {}),
    lscpu: guestLines(raw.lscpu, 'an lscpu view', MAX_GUEST_LSCPU_CHARS, MAX_GUEST_LSCPU_LINES),
    restricted: restrictions(raw.restricted, online),
    cgroupRead: knownEnum(v1.CgroupRead, raw.cgroupRead, 'cgroup_read'),
    cgroupVersion: cgroupVersion(raw.cgroupVersion),
    udevRules: checkUdevRules(raw.udevRules, 'udev rules'),
    udevRead: knownEnum(v1.UdevRead, raw.udevRead, 'udev_read'),
    onlineFailures: onlineFailures(raw.onlineFailures),
  });
}

/** Kernel lines from a guest (the frame's count is bounded before decoding). */
export function checkKernelLines(lines: v1.IKernelLine[] | null | undefined): v1.KernelLine[] {
  return (lines ?? []).map((l) =>
    v1.KernelLine.create({
      priority: finite(l.priority),
      seq: finite(Number(l.seq ?? 0)),
      usec: finite(Number(l.usec ?? 0)),
      message: guestText(l.message, 'a kernel line', MAX_GUEST_KERNEL_LINE_CHARS),
      receivedAtMs: finite(l.receivedAtMs),
    }),
  );
}

export function checkCpuEvent(e: v1.ICpuEvent): v1.CpuEvent {
  return v1.CpuEvent.create({
    changes: (e.changes ?? []).map((c) =>
      v1.CpuChange.create({
        cpu: cpuNumber(c.cpu, 'a changed CPU'),
        kind: knownEnum(v1.CpuChange.Kind, c.kind, 'a change kind'),
        byAgent: !!c.byAgent,
        backAfterMs: Math.max(0, finite(c.backAfterMs)),
        wantedOffline: !!c.wantedOffline,
        suspects: checkUdevRules(c.suspects, 'suspected udev rules'),
        rulesReadWhole: !!c.rulesReadWhole,
      }),
    ),
    detectedAtMs: finite(e.detectedAtMs),
    kernelLines: checkKernelLines(e.kernelLines),
    ...(e.snapshot ? { snapshot: checkSnapshot(e.snapshot) } : {}),
  });
}

export function checkSetOnlineReply(r: v1.ISetOnlineReply | null | undefined): v1.SetOnlineReply {
  const raw = r ?? {};
  const results = (raw.results ?? []).map((x) =>
    v1.CpuResult.create({
      cpu: cpuNumber(x.cpu, 'a result CPU'),
      online: !!x.online,
      outcome: knownEnum(v1.CpuResult.Outcome, x.outcome, 'a result outcome'),
      errorCode: guestText(x.errorCode, 'a result error code', 64),
      message: guestText(x.message, 'a result message', MAX_GUEST_MESSAGE_CHARS),
      durationMs: finite(x.durationMs),
      attempts: Math.min(Math.max(0, Math.trunc(finite(x.attempts))), 1000),
    }),
  );
  const processed = raw.processed ?? 0;
  if (processed > results.length) throw protocol('processed', `${processed} for ${results.length} results`);
  return v1.SetOnlineReply.create({ results, processed, ...(raw.snapshot ? { snapshot: checkSnapshot(raw.snapshot) } : {}) });
}

export interface CheckedHello {
  protocolVersion: string;
  agentVersion: string;
  productUuid: string;
  hostname: string;
  kernel: string;
  autoOnline: boolean;
  /** The guest kernel's boot id, and when the agent started: a change between sessions is a reboot or an agent restart. */
  bootId: string;
  agentStartedAtMs: number;
  /** The CPUs the agent keeps offline by the host's intent (canonical cpulist, "" for none or an older agent). */
  wantedOffline: string;
  /** The guest kernel's uptime when it said hello (ms; 0 from an older agent). */
  uptimeMs: number;
  /** When the guest booted, on this host's clock: set by the client that read the Hello (receipt time minus uptime). */
  bootedAtMs?: number;
}

export function checkHello(h: v1.IHello): CheckedHello {
  return {
    protocolVersion: guestText(h.protocolVersion, 'a protocol version', 32),
    agentVersion: guestText(h.agentVersion, 'an agent version', 64),
    productUuid: guestText(h.productUuid, 'a product_uuid'),
    hostname: guestText(h.hostname, 'a hostname'),
    kernel: guestText(h.kernel, 'a kernel release'),
    autoOnline: !!h.autoOnline,
    bootId: guestText(h.bootId, 'a boot id', 64),
    agentStartedAtMs: finite(h.agentStartedAtMs),
    wantedOffline: guestCpuList(h.wantedOffline, 'a wanted offline list'),
    uptimeMs: Math.max(0, finite(h.uptimeMs)),
  };
}

/** The agent's answer to a wanted offline set: the set it now keeps, checked like every guest cpulist. */
export function checkWantedOfflineReply(r: v1.ISetWantedOfflineReply | null | undefined): { cpus: string; persisted: boolean } {
  if (!r) throw protocol('set_wanted_offline_reply', 'missing');
  return { cpus: guestCpuList(r.cpus, 'a wanted offline list'), persisted: !!r.persisted };
}

/** True for an error that says the guest sent what no real agent sends (refused here), not that it is away. */
export function isMisbehaviour(err: unknown): err is VcpuctlError {
  return err instanceof VcpuctlError && (err.code === 'PROTOCOL' || err.code === 'TOO_BIG');
}

/**
 * Answers the protocol defines for a request the guest turns down: they keep
 * their meaning (and exit status), as the same refusal from qemu-ga does.
 */
const GUEST_REFUSALS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['CPU_REFUSED', 'FORBIDDEN']);

/**
 * An Error frame from the agent. Its code is the guest's word: a refusal the
 * protocol defines keeps its code; anything else (a host code such as
 * LIBVIRT_UNREACHABLE, or one unknown) is GUEST_ERROR naming the guest's code.
 */
export function guestError(code: string | null | undefined, message: string | null | undefined): VcpuctlError {
  const c = guestText(code, 'an error code', 64);
  const m = guestText(message, 'an error message', MAX_GUEST_MESSAGE_CHARS);
  if (GUEST_REFUSALS.has(c as ErrorCode)) return new VcpuctlError(c as ErrorCode, `agent: ${m || c}`, { guestCode: c });
  return new VcpuctlError('GUEST_ERROR', `agent: ${c || '(no code)'}: ${m || '(no message)'}`, { guestCode: c });
}
