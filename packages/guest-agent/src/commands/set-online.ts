import type { Handler } from '../server/dispatch';
import { MAX_CPU_NUMBER, VcpuctlError, v1 } from '@vcpuctl/proto';

/**
 * A CPU number as it came off the wire, refused unless it can name a CPU.
 * The field is a 64-bit varint decoded to a number, so 2^32 + 1 arrives as
 * itself (not as CPU 1) and anything past MAX_CPU_NUMBER is refused here,
 * before any CPU is looked at.
 */
function cpuFromWire(value: unknown): number {
  // protobufjs hands a 64-bit field over as a number or a Long; both print
  // their exact decimal value.
  const text = String(value ?? 0);
  const cpu = /^\d+$/.test(text) ? BigInt(text) : -1n;
  if (cpu < 0n || cpu > BigInt(MAX_CPU_NUMBER)) {
    throw new VcpuctlError('PROTOCOL', `CPU number ${text} is out of range (0..${MAX_CPU_NUMBER})`);
  }
  return Number(cpu);
}

/** Online/offline CPUs, guest-set-vcpus style: per-CPU results, stops at the first kernel refusal. */
export const setOnline: Handler = async (ctx, env) => {
  const cpus = (env.setOnlineRequest?.cpus ?? []).map((c) => ({ cpu: cpuFromWire(c.cpu), online: !!c.online }));
  const { results, processed } = await ctx.agent.setOnline(cpus, ctx.conn.peer);
  return {
    setOnlineReply: {
      results: results.map((r) => ({ ...r, outcome: v1.CpuResult.Outcome[r.outcome] })),
      processed,
      snapshot: await ctx.snapshot(),
    },
  };
};
