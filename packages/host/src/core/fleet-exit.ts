/**
 * The exit status of a fleet call (`status --all`, `verify --all`): the
 * worst problem found, ranked below (first = worst), so a script sees one
 * code whatever the order the hosts answered in. `status --all` counts only
 * what stopped it reading (hosts, domains); `verify --all` also counts each
 * checked domain's verdict, with the code `verify DOMAIN` would exit with.
 * Shut-off domains are listed, not checked, and count for nothing (in
 * `verify --all`, a crashed one counts as DOMAIN_NOT_RUNNING). `set` on
 * several domains counts each domain's own error, the code `set DOM N`
 * would have exited with. Every error code is ranked.
 */
import { ErrorCode, VcpuctlError } from '@vcpuctl/proto/errors';

export const FLEET_EXIT_RANK: readonly ErrorCode[] = [
  'LIBVIRT_UNREACHABLE', // a whole host is missing from the result
  'LIBVIRT_FAILED', // a domain listed but not read
  'DOMAIN_NOT_FOUND', // a domain gone between listing and reading
  'AUTH_FAILED',
  'LOCKED',
  'DOMAIN_NOT_RUNNING', // crashed
  'IDENTITY_MISMATCH',
  'STALE_LIBVIRT',
  'MISMATCH',
  'AGENT_UNREACHABLE', // checked from the host only
  // What `set` on several domains adds: a change started and not finished
  // as asked first, then what refused a domain with nothing changed, so the
  // status never depends on the order the domains finished in.
  'PARTIAL', // some CPUs changed, some not
  'TIMEOUT', // a change whose end was not seen
  'INTERNAL',
  'PROTOCOL',
  'TOO_BIG',
  'RATE_LIMITED',
  'GUEST_DATA',
  'GUEST_ERROR', // the guest's agent refused in words of its own
  'CPU_REFUSED',
  'FORBIDDEN',
  'OVER_MAXIMUM', // refused before anything was touched
  'USAGE', // a strategy that cannot reach the count, refused before anything was touched
];

function rank(code: ErrorCode): number {
  const i = FLEET_EXIT_RANK.indexOf(code);
  return i < 0 ? FLEET_EXIT_RANK.length : i;
}

/** The worst of the problems found, or undefined when there is none (exit 0). */
export function worstProblem(codes: readonly ErrorCode[]): ErrorCode | undefined {
  let worst: ErrorCode | undefined;
  for (const c of codes) if (worst === undefined || rank(c) < rank(worst)) worst = c;
  return worst;
}

export function fleetError(codes: readonly ErrorCode[], message: string): VcpuctlError | undefined {
  const worst = worstProblem(codes);
  return worst ? new VcpuctlError(worst, message) : undefined;
}
