/**
 * Who this guest is: DMI product_uuid (libvirt sets it to the domain UUID),
 * hostname, kernel, OS and virtualization facts. Read once at start: none of
 * it changes while the agent runs. Each is one small file or a call the
 * runtime already has, so the agent carries no system-information library.
 */
import { hostname, release } from 'node:os';
import { join } from 'node:path';
import { readTrimmed } from './sysfs/read';
import { TreePaths } from './sysfs/paths';
import { readDmiTable } from './sysfs/dmi-table';
import { readVirtualization } from './proc/virtualization';
import { readSysinfo } from './proc/sysinfo';

export interface SystemFacts {
  hostname: string;
  kernel: string;
  os: string;
  productUuid: string;
  virtualization: string;
  manufacturer: string;
  product: string;
  /** The kernel's boot id: new at every boot, so the host can tell a reboot from an agent restart. */
  bootId: string;
}

/** product_uuid as libvirt prints domain UUIDs: lower case. */
export function readProductUuid(paths: TreePaths): string {
  return (readTrimmed(paths.productUuid) ?? '').toLowerCase();
}

/** "NAME VERSION_ID" from os-release(5), e.g. "Debian GNU/Linux 12"; /usr/lib/os-release is the fallback the spec names. */
export function readOsName(root: string): string {
  const text = readTrimmed(join(root, 'etc/os-release')) ?? readTrimmed(join(root, 'usr/lib/os-release')) ?? '';
  const field = (key: string) => {
    const m = new RegExp(`^${key}=(.*)$`, 'm').exec(text);
    return m ? m[1]!.trim().replace(/^(["'])(.*)\1$/, '$2') : '';
  };
  return `${field('NAME')} ${field('VERSION_ID')}`.trim();
}

export async function readSystemFacts(paths: TreePaths): Promise<SystemFacts> {
  // Hostname and kernel are the running system's; the rest comes from the
  // tree, so tests can give a tree its own identity.
  const dmi = (name: string) => readTrimmed(join(paths.root, 'sys/class/dmi/id', name)) ?? '';
  const live = paths.root === '/';
  const virt = readVirtualization(paths.root, live ? readDmiTable(paths.root) : undefined, '', readSysinfo(paths.root));
  return {
    hostname: hostname(),
    kernel: release(),
    os: readOsName(paths.root),
    productUuid: readProductUuid(paths),
    virtualization: virt.vendor ?? '',
    manufacturer: dmi('sys_vendor'),
    product: dmi('product_name'),
    bootId: readTrimmed(join(paths.root, 'proc/sys/kernel/random/boot_id')) ?? '',
  };
}
