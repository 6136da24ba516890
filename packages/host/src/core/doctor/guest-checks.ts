/**
 * The checks that need the guest: qemu-guest-agent's command list
 * (guest-info), the guest kernel's CPU hotplug support (from the snapshot
 * vcpuctl-agent sends), and the udev rule nothing reports yet. A check that
 * cannot be made says `not checked` and why, never `ok`.
 */
import { cpuListCount } from '@vcpuctl/proto';
import { DoctorCheck, DoctorInputs } from './check';

/** The commands vcpuctl (and libvirt's `setvcpus --guest`) use to see and change the guest's CPUs. */
export const QEMU_GA_VCPU_COMMANDS = ['guest-get-vcpus', 'guest-set-vcpus'] as const;

/** guest-get-vcpus/guest-set-vcpus disabled (--block-rpcs, or left out of --allow-rpcs) or not offered by this qemu-ga. */
export function qemuGaCheck(i: DoctorInputs): DoctorCheck {
  const c = { id: 'qemu-ga-rpcs', title: 'qemu-ga vCPU commands' } as const;
  const g = i.guestInfo;
  if (g.kind === 'no-channel') return { ...c, status: 'ok', detail: 'no qemu-guest-agent channel: nothing relies on it' };
  if (g.kind === 'unread') return { ...c, status: 'not checked', detail: `qemu-guest-agent's guest-info could not be asked: ${g.why}` };
  const blocked = QEMU_GA_VCPU_COMMANDS.filter((n) => g.info.commands.get(n) === false);
  const missing = QEMU_GA_VCPU_COMMANDS.filter((n) => !g.info.commands.has(n));
  if (blocked.length === 0 && missing.length === 0) return { ...c, status: 'ok', detail: `qemu-ga ${g.info.version} has ${QEMU_GA_VCPU_COMMANDS.join(' and ')} enabled` };
  const why = [blocked.length ? `${blocked.join(' and ')} disabled (--block-rpcs, or not in --allow-rpcs)` : '', missing.length ? `${missing.join(' and ')} not offered by this qemu-ga` : ''].filter(Boolean).join('; ');
  return {
    ...c,
    status: 'risk',
    detail: `qemu-ga ${g.info.version}: ${why}: hot-added vCPUs cannot be onlined, nor vCPUs offlined, through it`,
    fix: `in the guest, take ${[...blocked, ...missing].join(' and ')} out of qemu-ga's block-rpcs (or add ${blocked.length + missing.length === 1 ? 'it' : 'them'} to allow-rpcs), in /etc/qemu/qemu-ga.conf or its service's --block-rpcs/--allow-rpcs, and restart qemu-guest-agent; or run vcpuctl-agent (\`vcpuctl agent attach ${i.domain}\`)`,
  };
}

/**
 * The guest kernel's CPU hotplug, from vcpuctl-agent's snapshot: `possible`
 * bounds the CPUs the kernel will ever use (x86 counts the hot-pluggable
 * ones in it only with CONFIG_HOTPLUG_CPU; nr_cpus=/possible_cpus= lower
 * it), and a kernel without CONFIG_HOTPLUG_CPU gives no CPU an online file.
 */
export function kernelHotplugCheck(i: DoctorInputs): DoctorCheck {
  const c = { id: 'kernel-hotplug', title: 'guest kernel CPU hotplug' } as const;
  const { guest } = i;
  const snap = guest.snapshot;
  if (!guest.reachable || !snap) return { ...c, status: 'not checked', detail: `no guest view: ${guest.error ?? 'the guest was not reached'}` };
  if (guest.via === 'qemu-ga' || !snap.possible) return { ...c, status: 'not checked', detail: "needs vcpuctl-agent: qemu-guest-agent does not show the kernel's possible CPUs or online files" };
  const maximum = i.xml?.maximum ?? i.host.domain.live?.maximum ?? i.host.domain.config.maximum;
  let possible: number;
  let present: number;
  try {
    possible = cpuListCount(snap.possible);
    present = snap.present ? cpuListCount(snap.present) : 0;
  } catch (err) {
    return { ...c, status: 'not checked', detail: `the agent's CPU lists do not parse: ${(err as Error).message}` };
  }
  const cpus = snap.cpus ?? [];
  const others = cpus.filter((p) => (p.index ?? 0) !== 0);
  const fix = 'boot a guest kernel built with CONFIG_HOTPLUG_CPU (and ACPI CPU hotplug), without nr_cpus= or possible_cpus= below the maximum';
  if (others.length > 0 && !others.some((p) => p.offlinable)) {
    return { ...c, status: 'risk', detail: `no CPU but cpu0 has an online file (${present} present): the kernel has no CPU hotplug (CONFIG_HOTPLUG_CPU off); hot-added vCPUs cannot be brought online`, fix };
  }
  if (possible < maximum) {
    return {
      ...c,
      status: 'risk',
      detail: `the guest kernel will use at most ${possible} CPUs (possible ${snap.possible}), the domain's maximum is ${maximum}: vCPUs past ${possible} are never seen (no CPU hotplug, or nr_cpus=/possible_cpus= at boot)`,
      fix,
    };
  }
  return { ...c, status: 'ok', detail: `possible ${snap.possible} covers the maximum of ${maximum}${others.length ? ', and CPUs have online files' : ''}` };
}

/**
 * An auto-online udev rule (SUBSYSTEM=="cpu", ACTION=="add", ... online=1)
 * onlines every hot-added CPU at once, and one matching "change"/"offline"
 * events fights an offline inside the guest; without any, on a guest with no
 * vcpuctl-agent, hot-added CPUs stay offline until someone onlines them.
 * The rules files are in the guest, and the agent's snapshot does not carry
 * them (that needs a protocol field): never reported as passed.
 */
export function udevCheck(i: DoctorInputs): DoctorCheck {
  const via = i.guest.reachable ? ` (the guest is reached through ${i.guest.via ?? 'its agent'})` : '';
  return {
    id: 'udev-auto-online',
    title: 'udev auto-online rule',
    status: 'not checked',
    detail: `needs the agent to report the guest's udev rules for CPUs (/etc/udev/rules.d, /usr/lib/udev/rules.d): its snapshot carries no such field yet${via}`,
  };
}
