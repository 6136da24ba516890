/**
 * One domain's snapshot from libvirt's raw answers, whichever way they were
 * read (virsh's batch or the native RPC), so both give the same snapshot.
 */
import { DomainSnapshot, QemuView } from './driver';
import { parseDomainXml } from './domain-xml';
import { parseChardevs, parseHotpluggableCpus, withChardevState } from './qemu-monitor';

export interface RawDomainReads {
  /** virsh's words: running, shut off, ... */
  state: string;
  reason: string;
  /** The live XML; empty or absent when not running. */
  liveXml?: string;
  configXml: string;
  /** QMP query-hotpluggable-cpus' reply; absent or not JSON when not asked or failed. */
  hotpluggable?: string;
  /** QMP query-chardev's reply, likewise. */
  chardevs?: string;
}

/** The QEMU commands that read a running domain's vCPUs and channels. */
export const QMP_HOTPLUGGABLE = '{"execute":"query-hotpluggable-cpus"}';
export const QMP_CHARDEVS = '{"execute":"query-chardev"}';

/** States in which the domain has a live side (live XML, a QEMU to ask). */
export function hasLiveSide(state: string): boolean {
  return state === 'running' || state === 'paused';
}

export function buildSnapshot(raw: RawDomainReads): DomainSnapshot {
  const { state, reason } = raw;
  const config = parseDomainXml(raw.configXml);
  const live = hasLiveSide(state) && raw.liveXml?.trim() ? parseDomainXml(raw.liveXml) : undefined;
  let qemu: QemuView | undefined;
  if (live && raw.hotpluggable?.trim().startsWith('{')) {
    try {
      qemu = parseHotpluggableCpus(raw.hotpluggable);
    } catch {
      qemu = undefined;
    }
  }
  let liveChannels = live ? live.channels : [];
  if (liveChannels.length && raw.chardevs?.trim().startsWith('{')) {
    try {
      liveChannels = withChardevState(liveChannels, parseChardevs(raw.chardevs));
    } catch {
      // libvirt's own state attribute stays
    }
  }
  return {
    domain: {
      name: config.name,
      uuid: config.uuid,
      state,
      reason,
      live: live?.vcpu,
      config: config.vcpu,
      type: config.type,
      channels: { live: liveChannels, config: config.channels, liveController: !!live?.virtioSerial },
      intent: live ? live.intent : config.intent,
      configIntent: config.intent,
      ...(live?.runId !== undefined ? { runId: live.runId } : {}),
    },
    qemu,
  };
}
