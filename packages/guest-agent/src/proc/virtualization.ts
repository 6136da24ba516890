/**
 * "Hypervisor vendor", "Virtualization type" and "Hypervisor", found the way
 * util-linux lscpu finds them (sys-utils/lscpu-virt.c), from files, in its
 * order; the first source that answers wins:
 *
 *  1. /proc/sys/kernel/osrelease naming Microsoft: WSL, a container;
 *  2. live system only: the SMBIOS table /sys/firmware/dmi/tables/DMI
 *     (innotek GmbH, Hitachi LPAR, Parallels), all full virtualization;
 *  3. POWER: /proc/iSeries, then the device tree (PowerNV is bare metal,
 *     PowerVM's partition-name and hmc-managed?, QEMU's qemu,pseries);
 *  4. /proc/xen: a Xen domain, para-virtualized unless it is dom0;
 *  5. /proc/bus/pci/devices: the graphics device of Xen, VMware or VirtualBox;
 *  6. /proc/sysinfo (s390): PR/SM, or the control program (z/VM, KVM);
 *  7. /proc/vz without /proc/bc: an OpenVZ container;
 *  8. a model name saying UML;
 *  9. /proc/self/status with a numeric VxID: a Linux-VServer container.
 *
 * What is not read: on the live system lscpu asks the CPUID instruction
 * first (x86 leaf 0x40000000: "KVMKVMKVM", "Microsoft Hv", ...) and, as
 * root, VMware's I/O backdoor; neither is a file. Without --sysroot lscpu
 * may therefore name a hypervisor this reader cannot, and /sys/hypervisor
 * matters to lscpu only after CPUID said Xen. The "hypervisor" cpuinfo flag
 * is not a source in lscpu either: it says that there is a hypervisor, not
 * which.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DmiSystem } from '../sysfs/dmi-table';
import { Sysinfo } from './sysinfo';

export type VirtType = 'none' | 'para' | 'full' | 'container';

export interface Virtualization {
  /** lscpu's vendor names ("KVM", "Xen", "IBM", "Oracle", ...). */
  vendor?: string;
  type?: VirtType;
  /** s390 only: the control program's name and version, e.g. "z/VM 7.3.0". */
  hypervisor?: string;
}

/** /proc/sysinfo is about 4 KiB, /proc/bus/pci/devices some 150 bytes a device; more is not those files. */
const MAX_PROC_FILE_BYTES = 256 * 1024;

function readText(path: string): string | undefined {
  try {
    const text = readFileSync(path, 'latin1');
    return text.length > MAX_PROC_FILE_BYTES ? text.slice(0, MAX_PROC_FILE_BYTES) : text;
  } catch {
    return undefined;
  }
}

/** First whitespace-separated word, as fscanf("%255s") reads it. */
function firstWord(text: string | undefined): string | undefined {
  return text?.trim().split(/\s+/)[0];
}

function fromDmi(dmi: DmiSystem | undefined): Virtualization | undefined {
  if (!dmi) return undefined;
  if (dmi.manufacturer === 'innotek GmbH') return { vendor: 'Innotek GmbH', type: 'full' };
  if (dmi.manufacturer?.includes('HITACHI') && dmi.product?.includes('LPAR')) return { vendor: 'Hitachi', type: 'full' };
  if (dmi.biosVendor === 'Parallels') return { vendor: 'Parallels', type: 'full' };
  return undefined;
}

/** The device tree's compatible property: NUL-separated strings, of which lscpu reads the first 255 bytes. */
function devtreeCompatible(proc: string, value: string): boolean {
  try {
    const buf = readFileSync(join(proc, 'device-tree/compatible')).subarray(0, 255);
    return buf.toString('latin1').split('\0').includes(value);
  } catch {
    return false;
  }
}

function fromPowerPc(proc: string): Virtualization | undefined {
  const dt = (name: string) => join(proc, 'device-tree', name);
  if (existsSync(join(proc, 'iSeries'))) return { vendor: 'OS/400', type: 'para' };
  if (devtreeCompatible(proc, 'ibm,powernv')) return undefined; // bare metal
  if (existsSync(dt('ibm,partition-name')) && existsSync(dt('hmc-managed?')) && !existsSync(dt('chosen/qemu,graphic-width'))) {
    // A partition named "full" owns the whole machine.
    const full = firstWord(readText(dt('ibm,partition-name'))?.replace(/\0/g, ' ')) === 'full';
    return { vendor: 'pHyp', type: full ? 'none' : 'para' };
  }
  if (devtreeCompatible(proc, 'qemu,pseries')) return { vendor: 'KVM', type: 'para' };
  return undefined;
}

/** Vendor and device ids of the emulated graphics each of these hypervisors gives its guests. */
const PCI_GRAPHICS: [vendor: number, device: number, name: string][] = [
  [0x5853, 0x0001, 'Xen'],
  [0x15ad, 0x0710, 'VMware'],
  [0x80ee, 0xbeef, 'Oracle'],
];

function fromPci(proc: string): Virtualization | undefined {
  const text = readText(join(proc, 'bus/pci/devices'));
  if (!text) return undefined;
  for (const line of text.split('\n')) {
    // "BBDD\tVVVVDDDD\t...": bus and devfn, then vendor and device in hex (drivers/pci/proc.c).
    const m = /^[0-9a-f]{4}\t([0-9a-f]{4})([0-9a-f]{4})\t/i.exec(line);
    if (!m) break; // lscpu stops at the first line not of this shape
    const vendor = Number.parseInt(m[1]!, 16);
    const device = Number.parseInt(m[2]!, 16);
    const hit = PCI_GRAPHICS.find(([v, d]) => v === vendor && d === device);
    if (hit) return { vendor: hit[2], type: 'full' };
  }
  return undefined;
}

function fromSysinfo(sysinfo: Sysinfo | undefined): Virtualization | undefined {
  if (!sysinfo) return undefined;
  if (sysinfo.controlProgram === undefined) return { vendor: 'IBM', type: 'full', hypervisor: 'PR/SM' };
  return { vendor: sysinfo.controlProgramIsKvm ? 'KVM' : 'IBM', type: 'full', hypervisor: sysinfo.controlProgram };
}

function fromVServer(proc: string): Virtualization | undefined {
  const text = readText(join(proc, 'self/status'));
  const m = text ? /^VxID\s*:\s*(.*?)\s*$/m.exec(text) : null;
  return m && /^\d+$/.test(m[1]!) ? { vendor: 'Linux-VServer', type: 'container' } : undefined;
}

/**
 * @param root the tree's root ("/" for the live system)
 * @param dmi the SMBIOS table, read by the caller for the live system only (lscpu ignores it under --sysroot)
 * @param modelName the cpuinfo model name of the first CPU type
 * @param sysinfo /proc/sysinfo, where the tree has one (s390)
 */
export function readVirtualization(root: string, dmi: DmiSystem | undefined, modelName: string, sysinfo: Sysinfo | undefined): Virtualization {
  const proc = join(root, 'proc');
  if (readText(join(proc, 'sys/kernel/osrelease'))?.split('\n')[0]?.includes('Microsoft')) {
    return { vendor: 'Windows Subsystem for Linux', type: 'container' };
  }
  const found =
    fromDmi(dmi) ??
    fromPowerPc(proc) ??
    (existsSync(join(proc, 'xen')) ? ({ vendor: 'Xen', type: firstWord(readText(join(proc, 'xen/capabilities'))) === 'control_d' ? 'none' : 'para' } as Virtualization) : undefined) ??
    fromPci(proc) ??
    fromSysinfo(sysinfo) ??
    (existsSync(join(proc, 'vz')) && !existsSync(join(proc, 'bc')) ? ({ vendor: 'Parallels', type: 'container' } as Virtualization) : undefined) ??
    (modelName.includes('UML') ? ({ vendor: 'User-mode Linux', type: 'para' } as Virtualization) : undefined) ??
    fromVServer(proc);
  return found ?? {};
}
