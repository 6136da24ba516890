/**
 * The guest's word on its CPUs, checked on the host (issue 15): two reads of
 * the hypervisor's per-vCPU run time a window apart (core/vcpu-claims.ts
 * judges them), the guest's claims taken at the second. Used where a claim
 * is about to be believed: `set` confirming a guest-side offline, `verify`
 * when the guest says some CPUs are offline.
 */
import { cpuListCount, parseCpuList, v1 } from '@vcpuctl/proto';
import { Context } from './context';
import { Finding } from './verdict';
import { RECOMMENDED_WINDOW_MS, VcpuClaimCheck, checkVcpuClaims } from './vcpu-claims';

/** What the guest claims now: its present CPUs split into online and offline. */
export function claimsOf(snapshot: v1.Snapshot.$Properties): { online: number[]; offline: number[] } {
  const online = parseCpuList(snapshot.online ?? '');
  const on = new Set(online);
  return { online, offline: parseCpuList(snapshot.present ?? '').filter((c) => !on.has(c)) };
}

/** Whether the guest claims any present CPU offline (only then is there a claim to check). */
export function claimsOffline(snapshot: v1.Snapshot.$Properties | undefined): boolean {
  return !!snapshot && cpuListCount(snapshot.present ?? '') > cpuListCount(snapshot.online ?? '');
}

/**
 * Reads the accounting, waits the window, reads it again and asks `guestNow`
 * for the claims at that moment.
 */
export async function checkClaims(ctx: Context, domain: string, guestNow: () => Promise<v1.Snapshot.$Properties | undefined>, opts: { hotAdded?: number[]; windowMs?: number } = {}): Promise<VcpuClaimCheck> {
  try {
    const before = await ctx.driver.vcpuTimes(domain);
    await new Promise((r) => setTimeout(r, opts.windowMs ?? RECOMMENDED_WINDOW_MS));
    const after = await ctx.driver.vcpuTimes(domain);
    const snapshot = await guestNow();
    if (!snapshot) return { checked: false, reason: 'the guest could not be asked again at the end of the window' };
    return checkVcpuClaims(before, after, claimsOf(snapshot), { hotAdded: opts.hotAdded });
  } catch (err) {
    return { checked: false, reason: `the hypervisor's accounting could not be read: ${(err as Error).message}` };
  }
}

/** The check's findings in the verdict's terms. */
export function claimFindings(domain: string, check: VcpuClaimCheck): Finding[] {
  if (!check.checked) return [];
  return check.findings.map((f): Finding =>
    f.kind === 'GUEST_CLAIM_CONTRADICTED'
      ? {
          kind: 'GUEST_CLAIM_CONTRADICTED',
          severity: 'error',
          message: `vCPU ${f.cpu}, reported offline by the guest, ran ${Math.round(f.ranMs)} ms in the last ${(f.windowMs / 1000).toFixed(1)} s (libvirt's per-vCPU accounting): an offline CPU does not run`,
          advice: `do not trust the guest's CPU view: its agent was replaced or is lying about CPU ${f.cpu}; the tenant is using the vCPU. Remove it from the host side (\`vcpuctl set ${domain} N --strategy unplug\`, or a lower --config count and a restart)`,
        }
      : {
          kind: 'HOTADDED_NEVER_RAN',
          severity: 'warning',
          message: `vCPU ${f.cpu}, reported online by the guest, has not run at all since it was plugged (libvirt's per-vCPU accounting)`,
          advice: "a CPU brought online runs the kernel's start-up on it: the guest's claim is doubtful (on KVM a quick bring-up can stay under one 10 ms tick); check inside the guest",
        },
  );
}

/** One line for the report's timeline. */
export function claimLine(check: VcpuClaimCheck): string {
  if (!check.checked) return `host check of the guest's CPU claims: cannot check (${check.reason})`;
  const ran = [...check.ranMs].map(([id, ms]) => `vCPU ${id} ${Math.round(ms)} ms`).join(', ');
  return `host check of the guest's CPU claims over ${(check.windowMs / 1000).toFixed(1)} s: ${ran}; ${check.findings.length ? `${check.findings.length} contradicted` : 'none contradicted'}`;
}
