/**
 * The checks that need no guest: from the domain XML (live when it runs,
 * else the persistent config) and libvirt's state reason. Each judges the
 * vCPUs a hot-add would plug (check.ts plugIds): every one up to the maximum
 * for `doctor`, the plan's own for `set --dry-run`.
 */
import { DomainRisksXml } from '../../libvirt/domain-risks-xml';
import { hasLiveSide } from '../../libvirt/snapshot';
import { DoctorCheck, DoctorInputs, plugIds, plural, vcpusText } from './check';

function noXml(c: Pick<DoctorCheck, 'id' | 'title'>, i: DoctorInputs): DoctorCheck {
  return { ...c, status: 'not checked', detail: `the domain XML could not be read: ${i.xmlError ?? 'the driver cannot read it'}` };
}

const NOTHING_TO_PLUG = (i: DoctorInputs) => (i.target === undefined ? 'no vCPU left to hot-add (no headroom)' : `this plan plugs no vCPU (${i.target} is not above the ${i.xml!.enabled.length} enabled)`);

/** current == maximum: a hot-add is impossible until the maximum is raised (a restart). */
export function headroomCheck(i: DoctorInputs): DoctorCheck {
  const c = { id: 'headroom', title: 'maximum headroom' } as const;
  const x = i.xml;
  if (!x) return noXml(c, i);
  const fix = `raise the maximum: \`vcpuctl set-max ${i.domain} M --restart\` (M the most vCPUs it should ever have; shuts the guest down and starts it again)`;
  if (i.target !== undefined) {
    return i.target <= x.maximum
      ? { ...c, status: 'ok', detail: `${i.target} is within the maximum of ${x.maximum}` }
      : { ...c, status: 'risk', detail: `${i.target} is above the maximum of ${x.maximum}: no hot-add can reach it`, fix };
  }
  if (x.current < x.maximum) return { ...c, status: 'ok', detail: `${x.current} of a maximum of ${x.maximum}: room for ${plural(x.maximum - x.current, 'more vCPU')}` };
  return { ...c, status: 'risk', detail: `${x.current} of a maximum of ${x.maximum}: no vCPU can be hot-added`, fix };
}

/** <vcpupin> for some vCPUs but not for those a hot-add plugs: the new ones run wherever <vcpu cpuset> (or any host CPU) allows. */
export function pinCheck(i: DoctorInputs): DoctorCheck {
  const c = { id: 'vcpupin', title: 'vCPU pinning' } as const;
  const x = i.xml;
  if (!x) return noXml(c, i);
  const emulator = x.emulatorpin !== undefined ? `; <emulatorpin cpuset='${x.emulatorpin}'> keeps QEMU's own threads there` : '';
  const plug = plugIds(x, i.target);
  if (x.pins.length === 0)
    return { ...c, status: 'ok', detail: `no <vcpupin>: every vCPU runs ${x.vcpuCpuset ? `on <vcpu cpuset='${x.vcpuCpuset}'>` : 'on any host CPU'}${x.placement === 'auto' ? ' (placement auto: numad decides)' : ''}${emulator}` };
  if (plug.length === 0) return { ...c, status: 'ok', detail: `${NOTHING_TO_PLUG(i)}${emulator}` };
  const pinned = new Map(x.pins.map((p) => [p.vcpu, p.cpuset]));
  const unpinned = plug.filter((v) => !pinned.has(v));
  if (unpinned.length === 0) return { ...c, status: 'ok', detail: `each vCPU a hot-add plugs has its own <vcpupin> (${plug.map((v) => `vCPU ${v} on ${pinned.get(v)}`).join(', ')})${emulator}` };
  const where = x.vcpuCpuset ? `on <vcpu cpuset='${x.vcpuCpuset}'>` : 'on any host CPU';
  return {
    ...c,
    status: 'risk',
    detail: `${vcpusText(unpinned)} would run unpinned (${where}): <vcpupin> covers ${vcpusText([...pinned.keys()].sort((a, b) => a - b))} only${emulator}`,
    fix: `pin them in the persistent config before the hot-add (\`virsh vcpupin ${i.domain} VCPU HOSTCPUS --config\` ${unpinned.length === 1 ? `with VCPU ${unpinned[0]}` : `for each VCPU of ${unpinned.join(', ')}`}), and live once plugged (\`virsh vcpupin ${i.domain} VCPU HOSTCPUS --live\`)`,
  };
}

/**
 * <numa> cells: a vCPU a hot-add plugs in no cell (QEMU puts it on node 0),
 * or in another cell than the cells' sizes in id order give it (the cells
 * interleave ids, e.g. libvirt filled a vCPU that was in no cell into cell 0):
 * the guest's nodes grow in an order nobody planned.
 */
export function numaCheck(i: DoctorInputs): DoctorCheck {
  const c = { id: 'numa', title: 'NUMA cells' } as const;
  const x = i.xml;
  if (!x) return noXml(c, i);
  if (x.numaCells.length === 0) return { ...c, status: 'ok', detail: 'no <numa> cells: the guest has one node' };
  const plug = plugIds(x, i.target);
  if (plug.length === 0) return { ...c, status: 'ok', detail: NOTHING_TO_PLUG(i) };
  const cellOf = new Map<number, number>();
  for (const cell of x.numaCells) for (const v of cell.cpus) if (!cellOf.has(v)) cellOf.set(v, cell.id);
  // The expected layout: cells in id order, each a contiguous run of its size.
  const expected = new Map<number, number>();
  let next = 0;
  for (const cell of [...x.numaCells].sort((a, b) => a.id - b.id)) for (let k = 0; k < cell.cpus.length; k++) expected.set(next++, cell.id);
  const none = plug.filter((v) => !cellOf.has(v));
  const odd = plug.filter((v) => cellOf.has(v) && expected.has(v) && expected.get(v) !== cellOf.get(v));
  const placed = plug.map((v) => `vCPU ${v} → ${cellOf.has(v) ? `cell ${cellOf.get(v)}` : 'no cell'}`).join(', ');
  if (none.length === 0 && odd.length === 0) return { ...c, status: 'ok', detail: `each vCPU a hot-add plugs lands in the cell its place in the order gives it (${placed})` };
  const why = [
    none.length ? `${vcpusText(none)} in no cell: QEMU puts ${none.length === 1 ? 'it' : 'them'} on node 0` : '',
    odd.length ? `${odd.map((v) => `vCPU ${v} lands in cell ${cellOf.get(v)}, where the cells' sizes in order put it in cell ${expected.get(v)}`).join('; ')} (the cells interleave vCPU ids)` : '',
  ]
    .filter(Boolean)
    .join('; ');
  return {
    ...c,
    status: 'risk',
    detail: why,
    fix: `give each <numa><cell> a contiguous run of vCPU ids covering every vCPU up to the maximum (e.g. cells '0-1' and '2-3'), in the persistent config (\`virsh edit ${i.domain}\`), and restart; or hot-add in steps that fill one cell at a time`,
  };
}

/** vCPUs per socket, as QEMU is started: libvirt's -smp without <topology> is sockets=maximum,cores=1,threads=1. */
function perSocket(x: DomainRisksXml): number {
  const t = x.topology;
  return t ? t.dies * t.cores * t.threads : 1;
}

/** A hot-added vCPU that lands in a socket no enabled vCPU is in: a new socket, which per-socket licences count. */
export function topologyCheck(i: DoctorInputs): DoctorCheck {
  const c = { id: 'topology', title: 'CPU topology' } as const;
  const x = i.xml;
  if (!x) return noXml(c, i);
  const t = x.topology;
  const shape = t
    ? `${t.sockets} socket${t.sockets === 1 ? '' : 's'} × ${t.dies > 1 ? `${t.dies} dies × ` : ''}${plural(t.cores, 'core')} × ${plural(t.threads, 'thread')}`
    : `no <topology>: libvirt starts QEMU with one socket per vCPU (sockets=${x.maximum}, cores=1, threads=1)`;
  const plug = plugIds(x, i.target);
  if (plug.length === 0) return { ...c, status: 'ok', detail: `${NOTHING_TO_PLUG(i)}; ${shape}` };
  const per = perSocket(x);
  const socketOf = (v: number) => Math.floor(v / per);
  const sockets = new Set(x.enabled.map(socketOf));
  const fresh = plug.filter((v) => !sockets.has(socketOf(v)));
  if (fresh.length === 0) return { ...c, status: 'ok', detail: `the hot-added vCPUs join a socket the guest already has (${shape})` };
  return {
    ...c,
    status: 'risk',
    detail: `${vcpusText(fresh)} would ${fresh.length === 1 ? 'add a socket' : 'each add a socket'} (${fresh.map((v) => `vCPU ${v} → socket ${socketOf(v)}`).join(', ')}; ${shape}): software licensed per socket counts every one`,
    fix: `put every vCPU up to the maximum in the sockets the guest starts with, e.g. <cpu><topology sockets='1' dies='1' cores='${x.maximum}' threads='1'/> (sockets × dies × cores × threads = the maximum ${x.maximum}), in the persistent config (\`virsh edit ${i.domain}\`), and restart`,
  };
}

/**
 * Migrated since boot, from libvirt's state reason: `booted` says the
 * domain was started here and has not arrived by migration since (that would
 * make it `migrated`); `migrated`, `restored` and `from snapshot` say it runs
 * on a state brought from elsewhere. Any other reason (unpaused, ...) has
 * replaced the one that said, and libvirt keeps no history: not checked.
 */
export function migratedCheck(i: DoctorInputs): DoctorCheck {
  const c = { id: 'migrated', title: 'migrated since boot' } as const;
  const { state, reason } = i.host.domain;
  if (!hasLiveSide(state)) return { ...c, status: 'not checked', detail: `the domain is ${state}: nothing runs to have been migrated` };
  if (state === 'running' && reason === 'booted') return { ...c, status: 'ok', detail: "libvirt's state reason is booted: started on this host, not migrated in since" };
  if (reason === 'migrated' || reason === 'restored' || reason === 'from snapshot') {
    return {
      ...c,
      status: 'risk',
      detail: `libvirt's state reason is ${reason}: the guest runs on a state ${reason === 'migrated' ? 'migrated in from another host' : 'restored from a saved image'}, not booted here; onlining a vCPU hot-added after that can fail in the guest (EIO)`,
      fix: `restart the guest on this host before resizing (\`virsh shutdown ${i.domain}\`, then \`virsh start ${i.domain}\`), or resize it cold (\`virsh setvcpus ${i.domain} N --config\`, applied at the next start)`,
    };
  }
  return { ...c, status: 'not checked', detail: `libvirt's state reason is ${state} (${reason || 'none'}), which no longer says how the domain started, and libvirt keeps no migration history` };
}
