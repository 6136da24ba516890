/**
 * The checks that need the guest: qemu-guest-agent's command list
 * (guest-info), the guest kernel's CPU hotplug support and its udev rules
 * that online CPUs (from the snapshot vcpuctl-agent sends). A check that
 * cannot be made says `not checked` and why, never `ok`.
 */
import { cpuListCount, v1 } from '@vcpuctl/proto';
import { DoctorCheck, DoctorInputs, plural } from './check';

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

/** Rules named in a check's detail at most; `doctor --json` has the agent's snapshot for the rest. */
const MAX_NAMED_RULES = 3;

/**
 * An auto-online udev rule (SUBSYSTEM=="cpu", ... ATTR{online}="1"), from the
 * rules vcpuctl-agent reads in the guest (after udev's override rule). One
 * that matches more than "add" (no ACTION, "change", "offline") onlines a
 * CPU offlined on purpose at once: it fights a guest-side offline. An
 * add-only one onlines every hot-added CPU, including one the host wants
 * offline, and races an offline made at boot. Without any, hot-added CPUs
 * stay offline unless vcpuctl-agent onlines them (its auto-online, which
 * keeps wanted-offline CPUs offline). qemu-ga neither reads the rules nor
 * onlines anything: a risk either way.
 */
export function udevCheck(i: DoctorInputs): DoctorCheck {
  const c = { id: 'udev-auto-online', title: 'udev auto-online rule' } as const;
  const { guest } = i;
  const snap = guest.snapshot;
  if (!guest.reachable || !snap) return { ...c, status: 'not checked', detail: `no guest view: ${guest.error ?? 'the guest was not reached'}` };
  if (guest.via === 'qemu-ga') {
    return {
      ...c,
      status: 'risk',
      detail:
        "the guest is reached through qemu-guest-agent only, which neither onlines hot-added vCPUs nor shows the guest's udev rules: without an auto-online rule a vCPU hot-added outside vcpuctl (virsh setvcpus) stays offline, and with one, a guest-side offline is fought",
      fix: `run vcpuctl-agent in the guest (\`vcpuctl-agent run --channel\`, then \`vcpuctl agent attach ${i.domain}\`): it onlines hot-added vCPUs, keeps the ones the host wants offline, and reports the udev rules`,
    };
  }
  const read = typeof snap.udevRead === 'string' ? v1.UdevRead[snap.udevRead as keyof typeof v1.UdevRead] : (snap.udevRead ?? 0);
  if (read === v1.UdevRead.UDEV_READ_UNKNOWN) return { ...c, status: 'not checked', detail: "this vcpuctl-agent does not report the guest's udev rules (an older version): upgrade it" };
  const rules = snap.udevRules ?? [];
  const partial = read === v1.UdevRead.UDEV_OVER_LIMIT;
  if (rules.length) {
    const fighting = rules.filter((r) => r.fightsOffline);
    const shown = (fighting.length ? fighting : rules).slice(0, MAX_NAMED_RULES);
    const named = shown.map((r) => `${r.file}:${r.line} (on ${r.actions}): ${r.text}`).join('; ');
    const more = rules.length > shown.length ? `; ${rules.length - shown.length} more` : '';
    const files = [...new Set(rules.map((r) => (r.file ?? '').split('/').pop() ?? ''))];
    const mask = files.map((f) => `\`ln -s /dev/null /etc/udev/rules.d/${f}\``).join(', ');
    return {
      ...c,
      status: 'risk',
      detail: fighting.length
        ? `${plural(fighting.length, 'udev rule')} in the guest online${fighting.length === 1 ? 's' : ''} CPUs on events besides "add" (an offline, \`udevadm trigger\`): a guest-side offline is undone at once: ${named}${more}`
        : `${plural(rules.length, 'udev rule')} in the guest online${rules.length === 1 ? 's' : ''} every hot-added CPU, also one the host wants offline, and race${rules.length === 1 ? 's' : ''} an offline made at boot: ${named}${more}`,
      fix: `mask the file with an override of the same name in /etc/udev/rules.d (${mask}; an edited copy there also wins), or, to keep it for hot-adds only, guard it in that copy (\`ACTION!="add", GOTO="cpu_online_end"\` before it and \`LABEL="cpu_online_end"\` after), then \`udevadm control --reload\`${guest.autoOnline ? '; vcpuctl-agent onlines hot-added CPUs itself and keeps the wanted-offline ones' : ''}`,
    };
  }
  if (partial) return { ...c, status: 'not checked', detail: 'no rule onlining CPUs among those read, but the agent stopped at one of its bounds on rules files (see its log): there may be one' };
  if (guest.autoOnline) return { ...c, status: 'ok', detail: 'no udev rule in the guest onlines CPUs; vcpuctl-agent onlines hot-added CPUs itself and keeps the ones the host wants offline' };
  return {
    ...c,
    status: 'risk',
    detail: 'no udev rule in the guest onlines CPUs, and vcpuctl-agent runs with --no-auto-online: hot-added vCPUs stay offline until onlined (vcpuctl set does it; a plain virsh setvcpus does not)',
    fix: `run vcpuctl-agent without --no-auto-online, or online hot-added vCPUs with \`vcpuctl online ${i.domain} CPU...\``,
  };
}
