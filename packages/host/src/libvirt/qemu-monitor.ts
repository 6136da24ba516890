/** QEMU's view of its vCPUs from query-hotpluggable-cpus (QMP, via virsh qemu-monitor-command). */
import { QemuView } from './driver';
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
