/**
 * Finds a virtio-serial port by its name (the <target name='...'/> of the
 * domain's channel). udev, where there is one, links /dev/virtio-ports/NAME;
 * without udev (minimal guests, initramfs) the kernel still names each port
 * in /sys/class/virtio-ports/vportNpM/name, and the device node is
 * /dev/vportNpM. Both roots are parameters, so tests use plain trees.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PortRoots {
  /** Root under which sys/class/virtio-ports is read (the agent's --sysroot). */
  sysroot: string;
  /** Where device nodes live (/dev). */
  devRoot: string;
}

/** Port names are short (QEMU's are ids); anything longer in sysfs is not one we look for. */
const MAX_PORT_NAME_BYTES = 256;

/** The device path of the port named `name`, or undefined while there is none. */
export function findPort(name: string, roots: PortRoots): string | undefined {
  const linked = join(roots.devRoot, 'virtio-ports', name);
  if (existsSync(linked)) return linked;
  const classDir = join(roots.sysroot, 'sys/class/virtio-ports');
  let ports: string[];
  try {
    ports = readdirSync(classDir);
  } catch {
    return undefined; // no virtio_console driver (yet)
  }
  for (const port of ports.sort()) {
    let text: string;
    try {
      text = readFileSync(join(classDir, port, 'name'), 'latin1');
    } catch {
      continue; // a port being removed, or one without a name
    }
    if (text.length <= MAX_PORT_NAME_BYTES && text.trim() === name) return join(roots.devRoot, port);
  }
  return undefined;
}
