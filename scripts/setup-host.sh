#!/usr/bin/env bash
# Makes this machine a libvirt/QEMU host for vcpuctl's real tests and demo:
# installs the Debian packages when missing (QEMU, libvirt, a kernel,
# busybox and qemu-guest-agent for the test guests, and the few tools the tests call: lscpu,
# openssl, modprobe, prometheus, rpmbuild, man and groff; Cockpit and chromium for the Cockpit page's test) and starts the daemons (there may be no systemd).
# Idempotent: quick when everything is already there.
set -euo pipefail
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v libvirtd >/dev/null || [ -x /usr/sbin/libvirtd ] || need+=(libvirt-daemon-system)
command -v virsh >/dev/null || need+=(libvirt-clients)
ls /boot/vmlinuz-* >/dev/null 2>&1 || need+=(linux-image-amd64)
[ -x /bin/busybox ] || need+=(busybox-static)
# The test guests run the host's own qemu-ga (root shared over 9p) for the qemu-guest-agent fallback tests.
[ -x /usr/sbin/qemu-ga ] || need+=(qemu-guest-agent)
command -v lscpu >/dev/null || need+=(util-linux)
command -v modprobe >/dev/null || need+=(kmod)
command -v gzip >/dev/null || need+=(gzip)
command -v openssl >/dev/null || need+=(openssl)
command -v pgrep >/dev/null || need+=(procps)
command -v mkfifo >/dev/null || need+=(coreutils)
command -v systemd-analyze >/dev/null || need+=(systemd)
# A real Prometheus scrapes `vcpuctl exporter` in the e2e suite (started on loopback by the test itself).
command -v prometheus >/dev/null || need+=(prometheus)
# qemu+ssh:// tests run an sshd of their own on loopback (test/helpers/sshd.ts), with ssh and ssh-keygen as the client.
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
# `npm run package` builds the .rpm files with rpmbuild, and the package tests install them with rpm --root.
command -v rpmbuild >/dev/null || need+=(rpm)
# The host package's test renders its man page with man and groff (warnings are failures).
command -v man >/dev/null || need+=(man-db)
command -v groff >/dev/null || need+=(groff-base)
# The Cockpit test's login user gets administrative access through sudo, as Cockpit's superuser does.
command -v sudo >/dev/null || need+=(sudo)
# The Cockpit page's e2e test serves it with Debian's Cockpit (cockpit-ws with --local-session, no systemd)
# and drives the system chromium headless through playwright-core (no browser download).
[ -x /usr/lib/cockpit/cockpit-ws ] || need+=(cockpit-ws)
command -v cockpit-bridge >/dev/null || need+=(cockpit-bridge)
[ -f /usr/share/cockpit/shell/manifest.json ] || need+=(cockpit-system)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup-host: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" qemu-system-x86 libvirt-daemon-system libvirt-clients linux-image-amd64 busybox-static >/dev/null
fi
pgrep -x virtlogd >/dev/null || /usr/sbin/virtlogd -d
pgrep -x libvirtd >/dev/null || /usr/sbin/libvirtd -d
for _ in $(seq 1 50); do
  virsh -c qemu:///system version >/dev/null 2>&1 && exit 0
  sleep 0.2
done
echo "setup-host: libvirtd did not answer on qemu:///system within 10 s" >&2
exit 1
