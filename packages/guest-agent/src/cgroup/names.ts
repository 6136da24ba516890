/**
 * A cgroup's path in the words of what made it: the systemd unit or slice,
 * the docker, podman, containerd or CRI-O container, the Kubernetes pod.
 * Those are the names the fix is done with (`systemctl set-property UNIT`,
 * `docker update ID`, the kubelet's CPU manager); a path matching none is
 * named by the path alone.
 *
 * Layouts recognised, with the systemd cgroup driver and with cgroupfs:
 *   /system.slice/foo.service                         systemd unit
 *   /system.slice/docker-ID.scope, /docker/ID          docker
 *   /machine.slice/libpod-ID.scope, /libpod_parent/libpod-ID   podman
 *   /system.slice/cri-containerd-ID.scope, crio-ID.scope        containerd, CRI-O
 *   /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podUID.slice/cri-containerd-ID.scope
 *   /kubepods/burstable/podUID/ID                       Kubernetes pod and container
 */

export type CgroupKind = 'OTHER' | 'SYSTEMD_UNIT' | 'SYSTEMD_SLICE' | 'DOCKER' | 'PODMAN' | 'CONTAINERD' | 'CRIO' | 'KUBEPODS';

export interface CgroupName {
  kind: CgroupKind;
  /** The unit or slice name, or the container's full id; '' for OTHER and for a pod or QoS level. */
  name: string;
  /** KUBEPODS: the pod's UID ('' above the pod level). */
  pod: string;
}

/** A container id as docker, podman, containerd and CRI-O write it: 64 hex digits. */
const CONTAINER_ID = /^[0-9a-f]{64}$/;

/** Transient scopes container engines create with the systemd cgroup driver. */
const ENGINE_SCOPES: readonly [RegExp, CgroupKind][] = [
  [/^docker-([0-9a-f]{64})\.scope$/, 'DOCKER'],
  [/^libpod-([0-9a-f]{64})\.scope$/, 'PODMAN'],
  [/^cri-containerd-([0-9a-f]{64})\.scope$/, 'CONTAINERD'],
  [/^crio-([0-9a-f]{64})\.scope$/, 'CRIO'],
];

/**
 * systemd's unit name grammar (unit-name.c): letters, digits, ":-_.\" and
 * one "@", at most 255 characters; only these types have a cgroup.
 */
const UNIT_NAME = /^[A-Za-z0-9:_.\\@-]+\.(service|scope|socket|mount|swap|slice)$/;
const UNIT_NAME_MAX_CHARS = 255;

/** The kubelet's pod cgroup: kubepods[-QOS]-podUID.slice (UID's dashes as "_"), or podUID under cgroupfs. */
const POD_SLICE = /^kubepods(?:-[a-z]+)?-pod([0-9a-f_]{1,64})\.slice$/;
const POD_DIR = /^pod([0-9a-f-]{1,64})$/;

function isKubepods(component: string): boolean {
  return component === 'kubepods' || component === 'kubepods.slice' || /^kubepods-[a-z]+\.slice$/.test(component);
}

/** The container a path's last component names, by engine. */
function container(component: string, parent: string | undefined): { kind: CgroupKind; id: string } | undefined {
  for (const [re, kind] of ENGINE_SCOPES) {
    const m = re.exec(component);
    if (m) return { kind, id: m[1]! };
  }
  if (parent === 'docker' && CONTAINER_ID.test(component)) return { kind: 'DOCKER', id: component };
  const libpod = /^libpod-([0-9a-f]{64})$/.exec(component);
  if (parent === 'libpod_parent' && libpod) return { kind: 'PODMAN', id: libpod[1]! };
  return undefined;
}

/** Names a cgroup from its path below the hierarchy's root ("/" is the root). */
export function nameCgroup(path: string): CgroupName {
  const parts = path.split('/').filter(Boolean);
  const last = parts[parts.length - 1];
  if (last === undefined) return { kind: 'OTHER', name: '', pod: '' };
  const parent = parts[parts.length - 2];
  if (parts.some(isKubepods)) {
    let pod = '';
    for (const p of parts) {
      const m = POD_SLICE.exec(p) ?? POD_DIR.exec(p);
      if (m) pod = m[1]!.replace(/_/g, '-');
    }
    // A pod's containers are cgroups below its own (engine scopes, or bare ids with cgroupfs).
    const inPod = pod !== '' && !POD_SLICE.test(last) && !POD_DIR.test(last);
    const c = inPod ? (container(last, undefined) ?? (CONTAINER_ID.test(last) ? { kind: 'KUBEPODS' as const, id: last } : undefined)) : undefined;
    return { kind: 'KUBEPODS', name: c?.id ?? '', pod };
  }
  const c = container(last, parent);
  if (c) return { kind: c.kind, name: c.id, pod: '' };
  const unit = last.length <= UNIT_NAME_MAX_CHARS ? UNIT_NAME.exec(last) : null;
  if (unit) return { kind: unit[1] === 'slice' ? 'SYSTEMD_SLICE' : 'SYSTEMD_UNIT', name: last, pod: '' };
  return { kind: 'OTHER', name: '', pod: '' };
}
