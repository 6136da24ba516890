import { Command, Option } from 'commander';
import { lscpuParse } from '../lscpu/parse-format';
import { lscpuSummary, renderSummary } from '../lscpu/summary';
import { treePaths } from '../sysfs/paths';
import { readSystemFacts } from '../system-facts';
import { readTree, toSnapshot } from '../snapshot';
import { CgroupReader } from '../cgroup/reader';

export function snapshotCommand(): Command {
  return new Command('snapshot')
    .description("print this guest's CPU view once and exit (as lscpu, lscpu --parse, or the agent's full JSON snapshot)")
    .option('--sysroot <dir>', 'read DIR/sys and DIR/proc instead of the live system (as lscpu --sysroot)', '/')
    .addOption(new Option('--format <format>', 'output format').choices(['lscpu', 'parse', 'json']).default('lscpu'))
    .action(async (opts: { sysroot: string; format: 'lscpu' | 'parse' | 'json' }) => {
      const paths = treePaths(opts.sysroot);
      const reading = readTree(paths);
      if (opts.format === 'lscpu') {
        process.stdout.write(renderSummary(lscpuSummary(reading)));
      } else if (opts.format === 'parse') {
        process.stdout.write(lscpuParse(reading.tree, reading.cpuTypes));
      } else {
        const cgroups = new CgroupReader(paths.root).read(reading.tree.onlineSet);
        const snapshot = toSnapshot(reading, await readSystemFacts(paths), undefined, cgroups);
        process.stdout.write(`${JSON.stringify(snapshot, null, 2)}\n`);
      }
    });
}
