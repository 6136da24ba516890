/** QEMU's view of its vCPUs from query-hotpluggable-cpus (QMP, via virsh qemu-monitor-command). */
import { QemuView } from './driver';

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
