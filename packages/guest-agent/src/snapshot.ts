/**
 * A snapshot: everything the guest kernel says about its CPUs at one moment,
 * in the wire schema's shape, with the lscpu-style summary rendered in.
 */
import { readFileSync } from 'node:fs';
import { v1 } from '@vcpuctl/proto';
import { readCpuinfoText, CpuModelInfo } from './proc/cpuinfo';
import { CpuTypes } from './proc/cpuinfo-types';
import { CpuTree, CpuTreeReader } from './sysfs/cpu-tree';
import { TreePaths } from './sysfs/paths';
import { DmiProcessor, readDmiProcessor } from './sysfs/dmi-processor';
import { SystemFacts } from './system-facts';
import { readDmiTable } from './sysfs/dmi-table';
import { Virtualization, readVirtualization } from './proc/virtualization';
import { Sysinfo, readSysinfo } from './proc/sysinfo';
import { lscpuSummary, renderSummary } from './lscpu/summary';
import { CgroupReader } from './cgroup/reader';
import { CgroupReading, CgroupState } from './cgroup/walk';
import { UdevReader, UdevReading, UdevRuleFound } from './udev/reader';
import { OnlineFailureRecord } from './online-failures';

export type SnapshotData = v1.Snapshot.$Properties;

export interface TreeReading {
  tree: CpuTree;
  model: CpuModelInfo;
  /** Firmware's processor record; read for the live system only, as lscpu does. */
  dmi: DmiProcessor | undefined;
  virt: Virtualization;
  /** s390's /proc/sysinfo: machine type, hypervisor layers, topology. */
  sysinfo: Sysinfo | undefined;
  cpuTypes: CpuTypes;
  /** Read from "/" (the running system) rather than a --sysroot tree. */
  live: boolean;
}

/** What describes the CPU model rather than the CPU set: it does not change while the guest runs. */
export type ModelReading = Pick<TreeReading, 'model' | 'dmi' | 'virt' | 'sysinfo' | 'cpuTypes' | 'live'>;

export function readModel(paths: TreePaths): ModelReading {
  let cpuinfo = '';
  try {
    cpuinfo = readFileSync(paths.cpuinfo, 'utf8');
  } catch {
    // A tree without /proc/cpuinfo still has topology; the model stays empty.
  }
  // lscpu reads firmware tables on the live system only, never under --sysroot.
  const live = paths.root === '/';
  const dmi = live ? readDmiProcessor(paths.root) : undefined;
  const { model, cpuTypes } = readCpuinfoText(cpuinfo, live);
  const sysinfo = readSysinfo(paths.root);
  const virt = readVirtualization(paths.root, live ? readDmiTable(paths.root) : undefined, model.modelName, sysinfo);
  return { model, dmi, virt, sysinfo, cpuTypes, live };
}

/**
 * The CPU set now; `model` and `reader` may be passed in by a long-running
 * agent, since /proc/cpuinfo is costly on large guests (one block per CPU,
 * and the kernel samples each CPU's clock to print its MHz) and its model
 * part never changes, and the reader keeps what does not change either.
 */
export function readTree(paths: TreePaths, model: ModelReading = readModel(paths), reader: CpuTreeReader = new CpuTreeReader(paths)): TreeReading {
  return { tree: reader.read(), ...model };
}

/** Why each offline CPU is offline, where the agent saw it happen. */
export type OfflineCauses = ReadonlyMap<number, v1.OfflineCause>;

const CGROUP_READ: Record<CgroupState, v1.CgroupRead> = {
  'no-cpuset': v1.CgroupRead.CGROUP_NO_CPUSET,
  whole: v1.CgroupRead.CGROUP_READ_WHOLE,
  'over-limit': v1.CgroupRead.CGROUP_OVER_LIMIT,
  unreadable: v1.CgroupRead.CGROUP_UNREADABLE,
};

/** The cgroup part of a snapshot; without a reading (the lscpu view only) the fields stay unset. */
function cgroupFields(c: CgroupReading | undefined): Pick<SnapshotData, 'restricted' | 'cgroupRead' | 'cgroupVersion'> {
  if (!c) return {};
  return {
    restricted: c.restricted.map((r) => ({ path: r.path, kind: v1.CgroupRestriction.Kind[r.kind], name: r.name, pod: r.pod, cpus: r.cpus, lacks: r.lacks })),
    cgroupRead: CGROUP_READ[c.state],
    cgroupVersion: c.version,
  };
}

/**
 * What the agent knows besides the CPU tree and cgroups: the udev rules
 * that online CPUs, and the online writes the kernel refused. Each is the
 * same object while it is unchanged (the snapshot cache compares identity).
 */
export interface GuestFindings {
  udev?: UdevReading;
  failures?: readonly OnlineFailureRecord[];
}

/** A rule found, as the protocol carries it (in a snapshot, and as a suspect of a CPU that came back online). */
export function udevRuleMessage(r: UdevRuleFound): v1.IUdevRule {
  return { file: r.file, line: r.line, text: r.text, fightsOffline: r.fightsOffline, actions: r.actions.join('|') };
}

/** The udev part of a snapshot; without a reading the fields stay unset (UDEV_READ_UNKNOWN). */
function udevFields(u: UdevReading | undefined): Pick<SnapshotData, 'udevRules' | 'udevRead'> {
  if (!u) return {};
  return {
    udevRules: u.rules.map(udevRuleMessage),
    udevRead: u.whole ? v1.UdevRead.UDEV_READ_WHOLE : v1.UdevRead.UDEV_OVER_LIMIT,
  };
}

function failureFields(f: readonly OnlineFailureRecord[] | undefined): Pick<SnapshotData, 'onlineFailures'> {
  if (!f?.length) return {};
  return {
    onlineFailures: f.map((x) => ({
      cpu: x.cpu,
      errno: x.errno,
      message: x.message,
      attempts: x.attempts,
      atMs: x.atMs,
      byAutoOnline: x.byAutoOnline,
      kernelLines: x.kernelLines.map((l) => ({ priority: l.priority, seq: l.seq, usec: l.usec, message: l.message, receivedAtMs: l.receivedAtMs })),
    })),
  };
}

export function toSnapshot(reading: TreeReading, system: SystemFacts | undefined, causes?: OfflineCauses, cgroups?: CgroupReading, found: GuestFindings = {}): SnapshotData {
  const { tree, model } = reading;
  return {
    takenAtMs: Date.now(),
    possible: tree.possible,
    present: tree.present,
    online: tree.online,
    offline: tree.offline,
    kernelMax: tree.kernelMax,
    cpus: tree.cpus.map((c) => ({
      index: c.index,
      present: c.present,
      online: c.online,
      offlinable: c.offlinable,
      coreId: c.coreId,
      packageId: c.packageId,
      dieId: c.dieId,
      clusterId: c.clusterId,
      bookId: c.bookId,
      drawerId: c.drawerId,
      threadSiblingsList: c.threadSiblingsList,
      coreCpusList: c.coreCpusList,
      node: c.node,
      caches: c.caches.map((k) => ({ level: k.level, type: k.type, size: k.size, sharedCpuList: k.sharedCpuList })),
      offlineCause: c.online ? v1.OfflineCause.OFFLINE_CAUSE_UNKNOWN : (causes?.get(c.index) ?? v1.OfflineCause.OFFLINE_CAUSE_UNKNOWN),
    })),
    nodes: tree.nodes.map((n) => ({ id: n.id, cpulist: n.cpulist })),
    model: { ...model },
    // The boot id travels in the Hello, once per session, not in every snapshot.
    system: system ? (({ bootId: _bootId, ...facts }) => facts)(system) : null,
    lscpu: renderSummary(lscpuSummary(reading)),
    ...cgroupFields(cgroups),
    ...udevFields(found.udev),
    ...failureFields(found.failures),
  };
}

/**
 * The last snapshot, reused while the tree reader returns the same tree, the
 * offline causes are the same and the cgroup reader the same reading: at 256
 * CPUs building one (the lscpu text, a record per CPU) costs more than
 * everything else in a request.
 */
export class SnapshotCache {
  private tree: CpuTree | undefined;
  private causesKey = '';
  private cgroups: CgroupReading | undefined;
  private found: GuestFindings = {};
  private body: SnapshotData | undefined;

  take(reading: TreeReading, system: SystemFacts | undefined, causes?: OfflineCauses, cgroups?: CgroupReading, found: GuestFindings = {}): SnapshotData {
    const key = causes ? [...causes].map(([cpu, cause]) => `${cpu}:${cause}`).join(',') : '';
    const sameFound = this.found.udev === found.udev && this.found.failures === found.failures;
    if (this.body && this.tree === reading.tree && this.causesKey === key && this.cgroups === cgroups && sameFound) return { ...this.body, takenAtMs: Date.now() };
    this.body = toSnapshot(reading, system, causes, cgroups, found);
    this.tree = reading.tree;
    this.causesKey = key;
    this.cgroups = cgroups;
    this.found = found;
    return this.body;
  }
}

/** One snapshot of the system under `paths.root`, its cgroups and udev rules read once. */
export function takeSnapshot(paths: TreePaths, system?: SystemFacts, causes?: OfflineCauses, model?: ModelReading): SnapshotData {
  const reading = readTree(paths, model);
  return toSnapshot(reading, system, causes, new CgroupReader(paths.root).read(reading.tree.onlineSet), { udev: new UdevReader(paths.root).read() });
}
