/**
 * qemu-guest-agent's answers, as `virsh qemu-agent-command` prints them.
 * They come from inside the guest, so they are untrusted: bounded in size,
 * checked field by field, and anything malformed is a PROTOCOL error.
 */
import { MAX_CPUS_PER_REQUEST, VcpuctlError } from '@vcpuctl/proto';
import { GuestAgentVcpu } from './driver';

/**
 * Largest guest-get-vcpus answer read. Each entry is about 60 bytes of JSON
 * ({"online":true,"can-offline":true,"logical-id":8191}); MAX_CPUS_PER_REQUEST
 * (8192, the largest NR_CPUS) of them is under 0.5 MiB, so 1 MiB refuses no
 * real guest and bounds a compromised one.
 */
export const MAX_GUEST_AGENT_REPLY_BYTES = 1024 * 1024;

function parse(text: string, what: string): unknown {
  if (text.length > MAX_GUEST_AGENT_REPLY_BYTES) throw new VcpuctlError('TOO_BIG', `qemu-guest-agent's ${what} answer is larger than ${MAX_GUEST_AGENT_REPLY_BYTES} bytes`);
  try {
    return (JSON.parse(text) as { return?: unknown }).return;
  } catch {
    throw new VcpuctlError('PROTOCOL', `qemu-guest-agent's ${what} answer is not JSON`);
  }
}

export function parseGuestVcpus(text: string): GuestAgentVcpu[] {
  const list = parse(text, 'guest-get-vcpus');
  if (!Array.isArray(list)) throw new VcpuctlError('PROTOCOL', 'qemu-guest-agent answered guest-get-vcpus without a list');
  if (list.length > MAX_CPUS_PER_REQUEST) throw new VcpuctlError('TOO_BIG', `qemu-guest-agent lists ${list.length} vCPUs; no kernel has more than ${MAX_CPUS_PER_REQUEST}`);
  const seen = new Set<number>();
  return list
    .map((e: unknown) => {
      const o = (e ?? {}) as Record<string, unknown>;
      const id = o['logical-id'];
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= MAX_CPUS_PER_REQUEST || seen.has(id)) {
        throw new VcpuctlError('PROTOCOL', `qemu-guest-agent listed a vCPU with a bad logical-id (${JSON.stringify(id)})`);
      }
      seen.add(id);
      if (typeof o.online !== 'boolean') throw new VcpuctlError('PROTOCOL', `qemu-guest-agent gave vCPU ${id} no online flag`);
      // qemu-ga omits can-offline for CPUs whose online file it cannot read (cpu0 on x86 has none).
      return { logicalId: id, online: o.online, canOffline: o['can-offline'] === true };
    })
    .sort((a, b) => a.logicalId - b.logicalId);
}

/** guest-set-vcpus returns how many entries it carried out. */
export function parseSetVcpus(text: string, asked: number): number {
  const n = parse(text, 'guest-set-vcpus');
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > asked) throw new VcpuctlError('PROTOCOL', `qemu-guest-agent answered guest-set-vcpus with ${JSON.stringify(n)}`);
  return n;
}
