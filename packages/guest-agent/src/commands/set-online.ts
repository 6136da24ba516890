import type { Handler } from '../server/dispatch';
import { v1 } from '@vcpuctl/proto';

/** Online/offline CPUs, guest-set-vcpus style: per-CPU results, stops at the first kernel refusal. */
export const setOnline: Handler = async ({ agent, conn }, env) => {
  const cpus = (env.setOnlineRequest?.cpus ?? []).map((c) => ({ cpu: c.cpu ?? 0, online: !!c.online }));
  const { results, processed } = await agent.setOnline(cpus, conn.peer);
  return {
    setOnlineReply: {
      results: results.map((r) => ({ ...r, outcome: v1.CpuResult.Outcome[r.outcome] })),
      processed,
      snapshot: agent.snapshot(),
    },
  };
};
