/** QEMU's view of its vCPUs (query-hotpluggable-cpus) and of its channels (query-chardev), via virsh qemu-monitor-command. */
import { ChannelEntry, QemuView } from './driver';

interface HotpluggableCpu {
  props?: { 'socket-id'?: number; 'core-id'?: number; 'thread-id'?: number };
  'qom-path'?: string;
}

export function parseHotpluggableCpus(json: string): QemuView {
  const parsed = JSON.parse(json) as { return?: HotpluggableCpu[] };
  if (!Array.isArray(parsed.return)) throw new Error('query-hotpluggable-cpus returned no list');
  const slots = parsed.return
    .map((c) => ({
      socketId: c.props?.['socket-id'],
      coreId: c.props?.['core-id'],
      threadId: c.props?.['thread-id'],
      plugged: typeof c['qom-path'] === 'string',
      qomPath: c['qom-path'],
    }))
    .sort((a, b) => (a.socketId ?? 0) - (b.socketId ?? 0) || (a.coreId ?? 0) - (b.coreId ?? 0) || (a.threadId ?? 0) - (b.threadId ?? 0));
  return { slots, plugged: slots.filter((s) => s.plugged).length };
}

/**
 * Each chardev's two ends from query-chardev: "frontend-open" is whether the
 * guest has the virtio-serial port open; a server socket's filename starts
 * with "disconnected:" while no host client holds it.
 */
export function parseChardevs(json: string): Map<string, { guestOpen: boolean; hostClient: boolean }> {
  const parsed = JSON.parse(json) as { return?: { label?: unknown; filename?: unknown; 'frontend-open'?: unknown }[] };
  if (!Array.isArray(parsed.return)) throw new Error('query-chardev returned no list');
  const out = new Map<string, { guestOpen: boolean; hostClient: boolean }>();
  for (const c of parsed.return) {
    if (typeof c.label !== 'string') continue;
    out.set(c.label, { guestOpen: c['frontend-open'] === true, hostClient: typeof c.filename === 'string' && !c.filename.startsWith('disconnected:') });
  }
  return out;
}

/** The live channels with QEMU's answer in place of libvirt's (libvirt learns a hot-plugged channel's state only from a later event). */
export function withChardevState(channels: ChannelEntry[], chardevs: Map<string, { guestOpen: boolean; hostClient: boolean }>): ChannelEntry[] {
  return channels.map((c) => {
    const q = c.alias ? chardevs.get(`char${c.alias}`) : undefined;
    return q ? { ...c, state: q.guestOpen ? 'connected' : 'disconnected', hostClient: q.hostClient } : c;
  });
}
