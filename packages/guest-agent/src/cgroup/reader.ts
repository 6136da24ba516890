/**
 * The guest's cgroups as the agent keeps them: where the cpuset hierarchy is
 * mounted is found once, and the walk (walk.ts) is made again only when the
 * online CPUs change or the last one is older than a controller may want.
 * A reading equal to the last is the last object, so a snapshot built from
 * it is reused (snapshot.ts).
 */
import { Discovery, discoverCpuset } from './mounts';
import { CgroupReading, WALK_LIMITS, WalkLimits, walkCpuset } from './walk';

/**
 * How old a reading may be when a controller asks for a snapshot with the
 * CPUs unchanged: a fix made in the guest (`systemctl set-property`,
 * `docker update`) shows in `vcpuctl status` within this, while a controller
 * asking many times a second costs at most one walk per period.
 */
export const CGROUP_READING_MAX_AGE_MS = 2000;

/**
 * Reads not prompted by a CPU change take at most this share of one CPU: a
 * walk is about 0.1 ms per cgroup on cgroupfs (a slow vCPU), so at the bound
 * of 4096 cgroups ~400 ms, and such a guest's readings are kept longer
 * (MAX_AGE and the agent's recheck stretch to `walk time / share`).
 */
export const CGROUP_READ_CPU_SHARE = 0.05;

const NO_CPUSET: CgroupReading = Object.freeze({ state: 'no-cpuset', version: 0, restricted: [], visited: 0 }) as CgroupReading;

function keyOf(r: CgroupReading): string {
  return JSON.stringify([r.state, r.version, r.restricted]);
}

export class CgroupReader {
  private discovery: Discovery | undefined;
  private last: { online: string; atMs: number; reading: CgroupReading; key: string } | undefined;

  constructor(
    private readonly root: string,
    private readonly limits: WalkLimits = WALK_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** How long the last walk took (ms of wall time). */
  walkMs = 0;

  /** How long a reading may be kept when the CPUs did not change: `ms`, or longer for a guest whose walk is dear. */
  keepFor(ms: number): number {
    return Math.max(ms, this.walkMs / CGROUP_READ_CPU_SHARE);
  }

  /** The reading for these online CPUs, kept while they stay the same, for at most `maxAgeMs` (stretched by keepFor). */
  read(online: readonly number[], maxAgeMs = CGROUP_READING_MAX_AGE_MS): CgroupReading {
    const key = online.join(',');
    const last = this.last;
    if (last && last.online === key && this.now() - last.atMs < this.keepFor(maxAgeMs)) return last.reading;
    return this.reread(online);
  }

  /** Reads now; the previous reading is returned when nothing in it changed. */
  reread(online: readonly number[]): CgroupReading {
    const onlineKey = online.join(',');
    // Mounts are looked up again when the CPUs changed, or the last look found
    // no cpuset hierarchy or nothing readable: a hierarchy found stays where it
    // is, but one may be mounted after the agent started (a container runtime,
    // an admin's `mount -t cgroup2`, seen on the e2e guest), and a guest with
    // none has a short mount table. Rereads are already spaced by MAX_AGE.
    if (!this.discovery || this.discovery.state === 'none' || this.last?.online !== onlineKey || this.last.reading.state === 'unreadable') {
      this.discovery = discoverCpuset(this.root);
    }
    const d = this.discovery;
    const started = this.now();
    const reading: CgroupReading = d.state === 'found' ? walkCpuset(d.hierarchy, online, this.limits) : d.state === 'none' ? NO_CPUSET : { state: 'unreadable', version: 0, restricted: [], visited: 0, why: d.why };
    this.walkMs = this.now() - started;
    const key = keyOf(reading);
    const same = this.last?.key === key ? this.last.reading : reading;
    this.last = { online: onlineKey, atMs: this.now(), reading: same, key };
    return same;
  }

  /** The last reading, if any: what the agent last served. */
  get current(): CgroupReading | undefined {
    return this.last?.reading;
  }
}
