/**
 * Builds a guest's cgroup file system under a root, beside the CPU tree of
 * cpu-tree-builder.ts: the mount table (<root>/proc/self/mountinfo) and the
 * cpuset hierarchy's directories and files, as the kernel lays them out.
 *
 * Kernel behaviour mirrored (Linux 6.x, kernel/cgroup/cpuset.c):
 * - v2: a cgroup has cpuset files only when its parent's cgroup.subtree_control
 *   names cpuset; cpuset.cpus is what was written ('' when nothing was), and
 *   cpuset.cpus.effective is cpuset.cpus within the parent's effective set, or
 *   the parent's whole effective set when nothing was written or nothing of it
 *   is online; the root's effective set is the online CPUs. A CPU coming
 *   online widens every effective set again, up to its cpuset.cpus.
 * - v1 (systemd's hybrid layout: cgroup2 at /sys/fs/cgroup/unified without
 *   controllers, the cpuset hierarchy at /sys/fs/cgroup/cpuset): every cgroup
 *   has cpuset.cpus and cpuset.effective_cpus; the root follows the online
 *   CPUs, a cgroup below loses an offlined CPU for good and never gains one.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { formatKernelCpuList, parseCpuList } from '@vcpuctl/proto';

interface Node {
  /** v2: what was written to cpuset.cpus ('' for nothing); v1: the cpuset itself. */
  cpus: number[];
  /** v2: its cgroup.subtree_control names cpuset, so its children have cpuset files. */
  subtree: boolean;
}

export interface CgroupTreeOptions {
  /** How the mount table is given: mountinfo (the default), /proc/mounts only, or none at all. */
  table?: 'mountinfo' | 'mounts' | 'none';
  /** v2 only: the controllers the root offers (without cpuset, no hierarchy has it). */
  controllers?: string[];
}

const OTHER_MOUNTS = [
  '22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
  '23 1 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw',
  '25 1 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev rw,size=4035288k,nr_inodes=1008822,mode=755',
  '1 0 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro',
];

export class CgroupTree {
  /** The hierarchy's directory under the root. */
  readonly dir: string;
  readonly mountPoint: string;
  private readonly nodes = new Map<string, Node>();
  private online: number[];

  constructor(
    readonly root: string,
    readonly version: 1 | 2,
    online: string,
    private readonly opts: CgroupTreeOptions = {},
  ) {
    this.mountPoint = version === 2 ? '/sys/fs/cgroup' : '/sys/fs/cgroup/cpuset';
    this.dir = join(root, this.mountPoint);
    this.online = parseCpuList(online);
    this.nodes.set('/', { cpus: version === 1 ? this.online : [], subtree: true });
    this.writeMountTable();
    this.write();
  }

  private writeMountTable(): void {
    const v2 = ['30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot'];
    const v1 = [
      '30 23 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,size=4096k,nr_inodes=1024,mode=755',
      '31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw,nsdelegate',
      '32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:6 - cgroup cgroup rw,xattr,name=systemd',
      '33 30 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup rw,memory',
      '34 30 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,cpuset',
      '35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct',
    ];
    const table = [...OTHER_MOUNTS, ...(this.version === 2 ? v2 : v1)];
    const proc = join(this.root, 'proc');
    if (this.opts.table === 'none') return;
    if (this.opts.table === 'mounts') {
      // /proc/mounts: "SOURCE MOUNTPOINT FSTYPE OPTIONS 0 0", super options merged into the options.
      const lines = table.map((l) => {
        const f = l.split(' ');
        const dash = f.indexOf('-');
        return `${f[dash + 2]} ${f[4]} ${f[dash + 1]} ${f[5]},${f[dash + 3]} 0 0`;
      });
      mkdirSync(proc, { recursive: true });
      writeFileSync(join(proc, 'mounts'), `${lines.join('\n')}\n`);
      return;
    }
    mkdirSync(join(proc, 'self'), { recursive: true });
    writeFileSync(join(proc, 'self/mountinfo'), `${table.join('\n')}\n`);
  }

  /**
   * A cgroup at `path` (its parents made as needed); `cpus` is what is
   * written to its cpuset.cpus (v2: undefined writes nothing; v1: undefined
   * copies the parent's, as docker and libvirt do). `subtree: false` (v2):
   * it does not enable cpuset for its children, which then have no cpuset files.
   */
  add(path: string, cpus?: string, opts: { subtree?: boolean } = {}): this {
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const p = `/${parts.slice(0, i).join('/')}`;
      const mine = i === parts.length;
      if (this.nodes.has(p)) {
        if (mine && opts.subtree !== undefined) this.nodes.get(p)!.subtree = opts.subtree;
        continue;
      }
      const inherited = this.version === 1 ? this.effective(this.parentOf(p)) : [];
      this.nodes.set(p, { cpus: mine && cpus !== undefined ? parseCpuList(cpus) : inherited, subtree: mine ? (opts.subtree ?? true) : true });
    }
    this.write();
    return this;
  }

  /** What `systemctl set-property UNIT AllowedCPUs=`, `docker update --cpuset-cpus` and friends write. */
  setCpus(path: string, cpus: string): void {
    this.nodes.get(path)!.cpus = parseCpuList(cpus);
    this.write();
  }

  /** The kernel's cpuset update after CPUs came online or went offline. */
  setOnline(online: string): void {
    const now = parseCpuList(online);
    if (this.version === 1) {
      const gone = new Set(this.online.filter((c) => !now.includes(c)));
      for (const [path, n] of this.nodes) n.cpus = path === '/' ? now : n.cpus.filter((c) => !gone.has(c));
    }
    this.online = now;
    this.write();
  }

  /** Many sibling cgroups at once (for the walk's bounds), each written as `add` would. */
  addMany(parent: string, names: string[], cpus?: string): void {
    this.add(parent);
    for (const name of names) this.nodes.set(`${parent === '/' ? '' : parent}/${name}`, { cpus: cpus === undefined ? [] : parseCpuList(cpus), subtree: true });
    this.write();
  }

  private parentOf(path: string): string {
    const i = path.lastIndexOf('/');
    return i <= 0 ? '/' : path.slice(0, i);
  }

  /** The effective CPU set, as kernel/cgroup/cpuset.c computes it. */
  effective(path: string): number[] {
    if (path === '/') return this.online;
    const n = this.nodes.get(path)!;
    const parent = this.effective(this.parentOf(path));
    if (this.version === 1) return n.cpus.filter((c) => parent.includes(c));
    const mine = n.cpus.filter((c) => parent.includes(c));
    return mine.length ? mine : parent;
  }

  /** v2: whether the cgroup has cpuset files (every ancestor enables the controller for its children). */
  private hasCpuset(path: string): boolean {
    return path === '/' || (this.nodes.get(this.parentOf(path))!.subtree && this.hasCpuset(this.parentOf(path)));
  }

  /** Writes every file from the model, as the kernel would show it now. */
  write(): void {
    rmSync(this.dir, { recursive: true, force: true });
    const parents = new Set([...this.nodes.keys()].filter((p) => p !== '/').map((p) => this.parentOf(p)));
    const put = (path: string, text: string) => {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, `${text}\n`);
    };
    for (const [path, n] of this.nodes) {
      const dir = path === '/' ? this.dir : join(this.dir, path);
      mkdirSync(dir, { recursive: true });
      put(join(dir, 'cgroup.procs'), '');
      const eff = formatKernelCpuList(this.effective(path));
      if (this.version === 1) {
        put(join(dir, 'cpuset.cpus'), formatKernelCpuList(n.cpus));
        put(join(dir, 'cpuset.effective_cpus'), eff);
        put(join(dir, 'cpuset.mems'), '0');
        continue;
      }
      const cpuset = this.hasCpuset(path);
      put(join(dir, 'cgroup.subtree_control'), cpuset && n.subtree && parents.has(path) ? 'cpuset cpu memory pids' : 'cpu memory pids');
      if (path === '/') {
        put(join(dir, 'cgroup.controllers'), (this.opts.controllers ?? ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc']).join(' '));
        if ((this.opts.controllers ?? ['cpuset']).includes('cpuset')) put(join(dir, 'cpuset.cpus.effective'), eff);
        continue;
      }
      put(join(dir, 'cgroup.controllers'), cpuset ? 'cpuset cpu memory pids' : 'cpu memory pids');
      if (!cpuset) continue;
      put(join(dir, 'cpuset.cpus'), formatKernelCpuList(n.cpus));
      put(join(dir, 'cpuset.cpus.effective'), eff);
    }
    if (this.version === 1) {
      // systemd's hybrid layout: the unified hierarchy is there, with no controller.
      put(join(this.root, 'sys/fs/cgroup/unified/cgroup.controllers'), '');
    }
  }
}
