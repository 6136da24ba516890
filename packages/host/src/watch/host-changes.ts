/** What changed between two host snapshots of one domain, in words (pure, unit-tested). */
import { DomainSnapshot } from '../libvirt/driver';
import { describeIntent } from '../core/intent';

/** States with a QEMU process behind them: leaving them is a stop. */
const ALIVE = new Set(['running', 'paused', 'in shutdown', 'pmsuspended', 'blocked', 'idle']);

export function hostChanges(before: DomainSnapshot | undefined, after: DomainSnapshot): string[] {
  const out: string[] = [];
  const a = after.domain;
  if (!before) return out;
  const b = before.domain;
  const wasRunning = ALIVE.has(b.state);
  const isRunning = ALIVE.has(a.state);
  if (!wasRunning && isRunning) out.push(`domain started${a.reason ? ` (${a.reason})` : ''}`);
  else if (wasRunning && !isRunning) out.push(`domain stopped: ${a.state}${a.reason ? ` (${a.reason})` : ''}`);
  else if (b.state !== a.state) out.push(`domain ${a.state}${a.reason ? ` (${a.reason})` : ''}`);
  if (b.live && a.live && b.live.current !== a.live.current) out.push(`libvirt live count ${b.live.current} -> ${a.live.current}`);
  if (b.live && a.live && b.live.maximum !== a.live.maximum) out.push(`libvirt live maximum ${b.live.maximum} -> ${a.live.maximum}`);
  if (b.config.current !== a.config.current) out.push(`libvirt config count ${b.config.current} -> ${a.config.current}`);
  if (b.config.maximum !== a.config.maximum) out.push(`libvirt config maximum ${b.config.maximum} -> ${a.config.maximum}`);
  if (before.qemu && after.qemu && before.qemu.plugged !== after.qemu.plugged) out.push(`QEMU plugged ${before.qemu.plugged} -> ${after.qemu.plugged}`);
  const bi = b.intent ? describeIntent(b.intent) : undefined;
  const ai = a.intent ? describeIntent(a.intent) : undefined;
  if (bi !== ai) out.push(ai ? `intent recorded: ${ai}` : 'intent removed');
  return out;
}
