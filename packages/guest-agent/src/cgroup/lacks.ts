/** Which online CPUs a cgroup's CPU set leaves out. */
import { CpuRange } from '@vcpuctl/proto';

/**
 * The online CPUs (sorted, as the kernel's list parses) outside `cpus` (sorted,
 * merged runs): one pass over both, so a guest of 8192 CPUs and thousands of
 * cgroups costs the lists' lengths per cgroup, never their product.
 */
export function lackingCpus(online: readonly number[], cpus: readonly CpuRange[]): number[] {
  const out: number[] = [];
  let r = 0;
  for (const cpu of online) {
    while (r < cpus.length && cpus[r]![1] < cpu) r++;
    const run = cpus[r];
    if (!run || cpu < run[0]) out.push(cpu);
  }
  return out;
}
