/** QEMU's view of its vCPUs (query-hotpluggable-cpus) and of its channels (query-chardev), via virsh qemu-monitor-command. */
import { ChannelEntry, QemuView } from './driver';
import { unexpectedOutput } from './virsh-errors';

interface HotpluggableCpu {
  props?: { 'socket-id'?: number; 'core-id'?: number; 'thread-id'?: number };
  'qom-path'?: string;
}

/** A topology id as QEMU gives it: a small whole number, or absent. */
function id(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw unexpectedOutput('query-hotpluggable-cpus', `topology id ${JSON.stringify(v)}`);
  return v;
}

export function parseHotpluggableCpus(json: string): QemuView {
  let parsed: { return?: unknown };
  try {
    parsed = JSON.parse(json) as { return?: unknown };
  } catch (err) {
    throw unexpectedOutput('query-hotpluggable-cpus', `not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray(parsed.return)) throw unexpectedOutput('query-hotpluggable-cpus', 'no list returned');
  const slots = (parsed.return as unknown[])
    .map((raw) => {
      const c = (typeof raw === 'object' && raw !== null ? raw : {}) as HotpluggableCpu;
      const props = typeof c.props === 'object' && c.props !== null ? c.props : {};
      return {
        socketId: id(props['socket-id']),
        coreId: id(props['core-id']),
        threadId: id(props['thread-id']),
        plugged: typeof c['qom-path'] === 'string',
        qomPath: typeof c['qom-path'] === 'string' ? c['qom-path'] : undefined,
      };
    })
    .sort((a, b) => (a.socketId ?? 0) - (b.socketId ?? 0) || (a.coreId ?? 0) - (b.coreId ?? 0) || (a.threadId ?? 0) - (b.threadId ?? 0));
  return { slots, plugged: slots.filter((s) => s.plugged).length };
}

/**
 * Each chardev's two ends from query-chardev: "frontend-open" is whether the
 * guest has the virtio-serial port open; a server socket's filename starts
 * with "disconnected:" while no host client holds it.
 */
export function parseChardevs(json: string): Map<string, { guestOpen: boolean; hostClient: boolean }> {
  let parsed: { return?: { label?: unknown; filename?: unknown; 'frontend-open'?: unknown }[] };
  try {
    parsed = JSON.parse(json) as typeof parsed;
  } catch (err) {
    throw unexpectedOutput('query-chardev', `not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray(parsed.return)) throw unexpectedOutput('query-chardev', 'no list returned');
  const out = new Map<string, { guestOpen: boolean; hostClient: boolean }>();
  for (const c of parsed.return) {
    if (typeof c !== 'object' || c === null || typeof c.label !== 'string') continue;
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
