/**
 * Who this guest is: DMI product_uuid (libvirt sets it to the domain UUID),
 * hostname, kernel, OS and virtualization facts. Read once at start: none of
 * it changes while the agent runs.
 */
import { hostname, release } from 'node:os';
import si from 'systeminformation';
import { readTrimmed } from './sysfs/read';
import { TreePaths } from './sysfs/paths';

export interface SystemFacts {
  hostname: string;
  kernel: string;
  os: string;
  productUuid: string;
  virtualization: string;
  manufacturer: string;
  product: string;
}

/** product_uuid as libvirt prints domain UUIDs: lower case. */
export function readProductUuid(paths: TreePaths): string {
  return (readTrimmed(paths.productUuid) ?? '').toLowerCase();
}

export async function readSystemFacts(paths: TreePaths): Promise<SystemFacts> {
  // systeminformation reads the live system; with a sysroot only the
  // identity comes from the tree, so tests can give a tree its own UUID.
  const [osInfo, system] = await Promise.all([
    si.osInfo().catch(() => undefined),
    si.system().catch(() => undefined),
  ]);
  return {
    hostname: hostname(),
    kernel: release(),
    os: osInfo ? `${osInfo.distro} ${osInfo.release}`.trim() : '',
    productUuid: readProductUuid(paths),
    virtualization: system?.virtual ? system.virtualHost || 'virtual machine' : '',
    manufacturer: system?.manufacturer ?? '',
    product: system?.model ?? '',
  };
}
