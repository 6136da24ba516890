import { join } from 'node:path';

/**
 * Where the kernel's CPU facts live under a root. Like `lscpu --sysroot`,
 * every reader takes the root as a parameter ("/" for the live system), so
 * tests run on dumped trees.
 */
export interface TreePaths {
  readonly root: string;
  readonly cpuDir: string;
  readonly nodeDir: string;
  readonly cpuinfo: string;
  readonly productUuid: string;
}

export function treePaths(root: string): TreePaths {
  return {
    root,
    cpuDir: join(root, 'sys/devices/system/cpu'),
    nodeDir: join(root, 'sys/devices/system/node'),
    cpuinfo: join(root, 'proc/cpuinfo'),
    productUuid: join(root, 'sys/class/dmi/id/product_uuid'),
  };
}

export function cpuPath(paths: TreePaths, cpu: number, ...rest: string[]): string {
  return join(paths.cpuDir, `cpu${cpu}`, ...rest);
}
