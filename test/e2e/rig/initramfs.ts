/**
 * The test guest's initramfs: a static busybox, the virtio/9p/net modules of
 * the host's Debian kernel, and an init that mounts the host's root read-only
 * over 9p, chroots into it and runs the script named on the kernel command
 * line (vcpuctl.run=PATH). Built once per kernel and cached.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** In load order: each needs the ones before it (modprobe --show-depends). */
export const MODULES = [
  'netfs',
  'fscache',
  '9pnet',
  '9p',
  'virtio_ring',
  'virtio',
  '9pnet_virtio',
  'virtio_pci_modern_dev',
  'virtio_pci_legacy_dev',
  'virtio_pci',
  'failover',
  'net_failover',
  'virtio_net',
  'button',
  'evdev',
  // virtio-serial ports (/dev/vportNpM, named in /sys/class/virtio-ports): the agent's channel.
  'virtio_console',
];

const INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /newroot /etc/acpi/PWRF /var/run
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in ${MODULES.join(' ')}; do insmod /modules/$m.ko || echo "rig: insmod $m failed"; done
# The power button (virsh shutdown) powers off, as a distribution's acpid would.
printf '#!/bin/sh\\npoweroff -f\\n' > /etc/acpi/PWRF/00000080
chmod +x /etc/acpi/PWRF/00000080
acpid -c /etc/acpi -l /dev/null
hostname "$(sed -n 's/.*vcpuctl\\.hostname=\\([^ ]*\\).*/\\1/p' /proc/cmdline)"
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 hostroot /newroot || echo "rig: 9p mount failed"
mount --bind /proc /newroot/proc
mount --bind /sys /newroot/sys
mount --bind /dev /newroot/dev
# Writable scratch on /run only: the host's /tmp stays visible (read-only), since
# the checkout under test may live there. Guest programs get TMPDIR=/run.
mount -t tmpfs tmpfs /newroot/run
run=$(sed -n 's/.*vcpuctl\\.run=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
echo "rig: guest up, running $run"
chroot /newroot /bin/sh "$run" &
while true; do sleep 3600; done
`;

export function kernelVersion(): string {
  const vers = readdirSync('/lib/modules').filter((v) => existsSync(`/boot/vmlinuz-${v}`) && existsSync(`/lib/modules/${v}/kernel/fs/9p/9p.ko`));
  if (vers.length === 0) throw new Error('no Debian kernel with modules found (apt-get install linux-image-amd64)');
  return vers.sort().at(-1)!;
}

function modulePath(kver: string, mod: string): string {
  const out = execFileSync('modprobe', ['-S', kver, '--show-depends', mod], { encoding: 'utf8' });
  const line = out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('insmod '))
    .at(-1);
  if (!line) throw new Error(`modprobe found no ${mod} for ${kver}`);
  return line.split(' ')[1]!;
}

/** Returns { kernel, initrd }; the initrd is cached in `cacheDir` per kernel version. */
export function buildInitramfs(cacheDir: string): { kernel: string; initrd: string; kver: string } {
  const kver = kernelVersion();
  // The name carries a digest of the init script, so a changed rig never boots a stale cached image.
  const digest = createHash('sha256').update(INIT).update(MODULES.join(',')).update('busybox-cpio').digest('hex').slice(0, 12);
  const initrd = join(cacheDir, `vcpuctl-rig-initramfs-${kver}-${digest}.cpio.gz`);
  const kernel = `/boot/vmlinuz-${kver}`;
  if (existsSync(initrd)) return { kernel, initrd, kver };
  mkdirSync(cacheDir, { recursive: true });
  const stage = mkdtempSync(join(cacheDir, 'stage-'));
  try {
    mkdirSync(join(stage, 'bin'));
    mkdirSync(join(stage, 'modules'));
    copyFileSync('/bin/busybox', join(stage, 'bin/busybox'));
    chmodSync(join(stage, 'bin/busybox'), 0o755);
    for (const m of MODULES) copyFileSync(modulePath(kver, m), join(stage, 'modules', `${m}.ko`));
    writeFileSync(join(stage, 'init'), INIT, { mode: 0o755 });
    const tmp = `${initrd}.${process.pid}.tmp`;
    execFileSync('sh', ['-c', `cd "${stage}" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 > "${tmp}"`]);
    renameSync(tmp, initrd);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  return { kernel, initrd, kver };
}
