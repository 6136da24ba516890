/** Human-readable renderings for the terminal. */
import { ChannelResult } from '../commands/agent-attach';
import { StatusResult } from '../commands/status';
import { formatKernelCpuList, v1 } from '@vcpuctl/proto';
import { Verdict, cgroupLabel, cgroupUsability } from '../core/verdict';
import { guestCpus } from '../core/describe';
import { describeIntent } from '../core/intent';

export function verdictText(v: Verdict): string {
  if (v.findings.length === 0) return 'verdict: host and guest agree';
  return ['verdict: ' + (v.ok ? 'ok, with notes' : 'MISMATCH'), ...v.findings.map((f) => `  ${f.kind} (${f.severity}): ${f.message}\n    what to do: ${f.advice}`)].join('\n');
}

/** One line naming how the guest was reached, for the commands' text output. */
export function reachedText(g: { reachable: boolean; via?: string } | undefined): string {
  return g?.via ? `guest reached via ${g.via}${g.reachable ? '' : ' (not answering)'}` : 'guest not reached';
}

/** Rows of restricted cgroups shown under a guest; the rest are counted (`--json` has every one). */
const MAX_CGROUP_ROWS = 20;

/** Which of the guest's online CPUs its workloads can use, when some cgroup keeps them off some (see CPUS_NOT_USABLE). */
function usableLines(g: v1.Snapshot.$Properties): string[] {
  if (g.cgroupRead === v1.CgroupRead.CGROUP_UNREADABLE) return ["    cgroups: the agent could not read the guest's cpuset hierarchy"];
  const u = cgroupUsability(g);
  const list = g.restricted ?? [];
  if (!u || (!list.length && !u.partial)) return [];
  const lines = [
    `    usable by every workload: ${formatKernelCpuList(u.usable) || 'none'} (${u.usable.length} of ${u.online} online CPUs${u.partial ? '; at most: the agent stopped at its bound on cgroups' : ''}; cgroup v${g.cgroupVersion ?? '?'})`,
  ];
  for (const r of list.slice(0, MAX_CGROUP_ROWS)) {
    const label = cgroupLabel(r);
    lines.push(`      ${label}${label !== r.path ? ` (${r.path})` : ''}: runs on ${r.cpus || 'none'}, lacks ${r.lacks}`);
  }
  if (list.length > MAX_CGROUP_ROWS) lines.push(`      and ${list.length - MAX_CGROUP_ROWS} more cgroups`);
  return lines;
}

export function statusText(s: StatusResult): string {
  const d = s.host.domain;
  const lines = [`domain ${d.name} (${d.uuid}): ${d.state}${d.reason ? ` (${d.reason})` : ''}`, `  host: ${s.hostName} (${s.uri})`];
  if (d.live) lines.push(`  libvirt live:   ${d.live.current} of maximum ${d.live.maximum}`);
  lines.push(`  libvirt config: ${d.config.current} of maximum ${d.config.maximum}`);
  const list = d.live?.vcpus ?? d.config.vcpus;
  if (list.length) lines.push(`  vcpus: ${list.map((v) => `${v.id}:${v.enabled ? 'on' : 'off'}${v.hotpluggable ? '/hotpluggable' : ''}${v.order ? `/order ${v.order}` : ''}`).join(' ')}`);
  lines.push(`  intent: ${d.intent ? describeIntent(d.intent) : 'none recorded (vcpuctl set records one)'}`);
  if (d.live && d.configIntent && d.configIntent !== d.intent && describeIntent(d.configIntent) !== (d.intent && describeIntent(d.intent))) {
    lines.push(`  intent for the next start: ${describeIntent(d.configIntent)}`);
  }
  if (s.host.qemu) lines.push(`  QEMU: ${s.host.qemu.plugged} of ${s.host.qemu.slots.length} slots plugged`);
  if (s.guest.reachable && s.guest.snapshot) {
    const g = s.guest.snapshot;
    lines.push(`  guest${s.guest.hostname ? ` ${s.guest.hostname}` : ''} (via ${s.guest.via}${s.guest.through ? `, ${s.guest.through}` : ''}): ${guestCpus(g)}`);
    lines.push(...usableLines(g));
    if (g.lscpu)
      lines.push(
        ...g.lscpu
          .trimEnd()
          .split('\n')
          .map((l) => `    ${l}`),
      );
  } else {
    lines.push(`  guest${s.guest.via ? ` (via ${s.guest.via})` : ''}: ${s.guest.error}`);
  }
  lines.push(verdictText(s.verdict));
  return lines.join('\n');
}

export function channelText(r: ChannelResult): string {
  const guest = r.guest === undefined ? [] : [`  guest:             ${r.guest === 'open' ? 'port open (an agent is serving it)' : 'port not open yet (is `vcpuctl-agent run --channel` running in the guest?)'}`];
  return [`${r.domain}: channel ${r.channel}`, `  running domain:    ${r.live}`, `  persistent config: ${r.config}`, ...guest, ...(r.note ? [`  note: ${r.note}`] : [])].join('\n');
}
