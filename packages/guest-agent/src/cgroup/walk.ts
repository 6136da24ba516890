/**
 * Walks a cpuset hierarchy and lists each cgroup that set its own CPUs and
 * cannot run on some online CPU. Bounded like every reader of the guest: a
 * guest may have thousands of cgroups, and the walk stops at a named bound
 * and says so rather than take the agent's time without end.
 *
 * cgroup v2: a cgroup has cpuset files only when its parent enabled the
 * controller for its children (cgroup.subtree_control), so a subtree
 * without it is not entered. A cgroup is restricted when it wrote
 * cpuset.cpus (systemd's AllowedCPUs=, a container's --cpuset-cpus, the
 * kubelet) and its cpuset.cpus.effective lacks an online CPU; one that wrote
 * nothing only inherits, and its ancestor is the one listed. v2 widens an
 * effective set again when CPUs come back, up to what cpuset.cpus allows.
 *
 * cgroup v1: every cgroup of the hierarchy has cpuset.cpus, and the kernel
 * removes an offlined CPU from it for good and never adds a hot-added one
 * below the root; each cgroup whose cpuset.effective_cpus (cpuset.cpus on
 * kernels without it) lacks an online CPU is listed.
 */
import { Dir, opendirSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_GUEST_CGROUPS, canonicalCpuList, formatKernelCpuList, parseCpuRanges } from '@vcpuctl/proto';
import { readTrimmed } from '../sysfs/read';
import { lackingCpus } from './lacks';
import { CpusetHierarchy } from './mounts';
import { CgroupKind, nameCgroup } from './names';

/**
 * Cgroups looked at in one walk. A Kubernetes node runs at most 110 pods by
 * default (250 raised), each a pod cgroup and a few containers (~1250), and
 * systemd adds a few hundred units; 4096 covers the largest with room. Each
 * costs up to three small reads and a directory listing: about 0.1 ms on
 * cgroupfs on a slow vCPU, so ~400 ms at the bound, paid when CPUs change and
 * otherwise at most CGROUP_READ_CPU_SHARE of a CPU (reader.ts).
 */
export const MAX_CGROUPS_VISITED = 4096;

/**
 * Nesting followed below the hierarchy's root. The deepest real layout,
 * kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podUID.slice/
 * cri-containerd-ID.scope, is 4 deep; nested containers add a few levels
 * each. 32 is far past any, and keeps a path within PATH_MAX (32 names of
 * up to 127 bytes) so that every cgroup found can be read by its path.
 */
export const MAX_CGROUP_DEPTH = 32;

export interface Restriction {
  /** From the hierarchy's root: "/system.slice/foo.service" ("/" for the root itself). */
  path: string;
  kind: CgroupKind;
  name: string;
  pod: string;
  /** The CPUs it can run on, in the kernel's spelling. */
  cpus: string;
  /** The online CPUs it cannot run on; never empty. */
  lacks: string;
}

export type CgroupState = 'no-cpuset' | 'whole' | 'over-limit' | 'unreadable';

export interface CgroupReading {
  state: CgroupState;
  /** The hierarchy read; 0 when none. */
  version: 0 | 1 | 2;
  /** Parents before children, siblings by name. */
  restricted: Restriction[];
  /** Cgroups looked at. */
  visited: number;
  /** Why the reading is not whole, for the agent's log. */
  why?: string;
}

export interface WalkLimits {
  maxVisited: number;
  maxDepth: number;
  maxRestricted: number;
}

export const WALK_LIMITS: WalkLimits = { maxVisited: MAX_CGROUPS_VISITED, maxDepth: MAX_CGROUP_DEPTH, maxRestricted: MAX_GUEST_CGROUPS };

interface Pending {
  dir: string;
  path: string;
  depth: number;
}

/** The names of `dir`'s subdirectories, sorted; stops (over: true) past `max` of them. */
function subdirectories(dir: string, max: number): { names: string[]; over: boolean } {
  let d: Dir;
  try {
    d = opendirSync(dir);
  } catch {
    return { names: [], over: false };
  }
  const names: string[] = [];
  try {
    for (let e = d.readSync(); e !== null; e = d.readSync()) {
      if (!e.isDirectory()) continue; // cgroup files, and never a symlink out of the tree
      if (names.length >= max) return { names, over: true };
      names.push(e.name);
    }
  } catch {
    // a cgroup removed while listed has no children left to read
  } finally {
    d.closeSync();
  }
  return { names: names.sort(), over: false };
}

/** The online CPUs a cgroup's effective list leaves out; undefined when the list does not parse (no kernel writes that). */
function lacking(online: readonly number[], effective: string): { cpus: string; lacks: number[] } | undefined {
  try {
    return { cpus: canonicalCpuList(effective), lacks: lackingCpus(online, parseCpuRanges(effective)) };
  } catch {
    return undefined;
  }
}

export function walkCpuset(h: CpusetHierarchy, online: readonly number[], limits: WalkLimits = WALK_LIMITS): CgroupReading {
  const v2 = h.version === 2;
  const effectiveOf = (dir: string) => (v2 ? readTrimmed(join(dir, 'cpuset.cpus.effective')) : (readTrimmed(join(dir, 'cpuset.effective_cpus')) ?? readTrimmed(join(dir, 'cpuset.cpus'))));
  const restricted: Restriction[] = [];
  const stack: Pending[] = [{ dir: h.dir, path: '/', depth: 0 }];
  let visited = 0;
  let why: string | undefined;
  while (stack.length) {
    const { dir, path, depth } = stack.pop()!;
    if (visited >= limits.maxVisited) {
      why = `more than ${limits.maxVisited} cgroups`;
      break;
    }
    visited++;
    const effective = effectiveOf(dir);
    if (effective === undefined) {
      if (depth === 0) return { state: 'unreadable', version: h.version, restricted: [], visited, why: `no cpuset files in ${h.mountPoint}` };
      continue; // v2: the controller is not enabled here, so nowhere below either
    }
    const seen = lacking(online, effective);
    if (seen === undefined) continue;
    // v1: a new cpuset starts empty (cgroup.clone_children 0) and holds no task until given CPUs; nothing runs there to lack any.
    if (!v2 && seen.cpus === '') {
      if (depth === 0) return { state: 'unreadable', version: h.version, restricted: [], visited, why: `an empty root cpuset in ${h.mountPoint}` };
      continue;
    }
    // v2: only a cgroup that wrote its own CPUs is a cause; the root is listed when it lacks any (a cgroup namespace's root).
    if (seen.lacks.length && (!v2 || depth === 0 || (readTrimmed(join(dir, 'cpuset.cpus')) ?? '') !== '')) {
      if (restricted.length >= limits.maxRestricted) {
        why = `more than ${limits.maxRestricted} restricted cgroups`;
        break;
      }
      restricted.push({ path, ...nameCgroup(path), cpus: seen.cpus, lacks: formatKernelCpuList(seen.lacks) });
    }
    if (v2 && !(readTrimmed(join(dir, 'cgroup.subtree_control')) ?? '').split(/\s+/).includes('cpuset')) continue;
    const room = limits.maxVisited - visited - stack.length;
    const children = subdirectories(dir, Math.max(0, room));
    if (children.names.length && depth >= limits.maxDepth) {
      why = `cgroups nested more than ${limits.maxDepth} deep under ${path}`;
      continue;
    }
    if (children.over) why = `more than ${limits.maxVisited} cgroups`;
    // Reversed onto the stack, so they are visited in name order, each subtree before its next sibling.
    for (let i = children.names.length - 1; i >= 0; i--) {
      const name = children.names[i]!;
      stack.push({ dir: join(dir, name), path: path === '/' ? `/${name}` : `${path}/${name}`, depth: depth + 1 });
    }
  }
  return { state: why ? 'over-limit' : 'whole', version: h.version, restricted, visited, ...(why ? { why } : {}) };
}
