/**
 * virsh's error lines mapped to vcpuctl's codes, in one place. The texts are
 * those libvirt 9.0 prints (LC_ALL=C), seen on the rig.
 */
import { VcpuctlError, ErrorCode } from '@vcpuctl/proto';

const RULES: [RegExp, ErrorCode][] = [
  [/failed to get domain|Domain not found|no domain with matching/i, 'DOMAIN_NOT_FOUND'],
  [/failed to connect to the hypervisor|unexpected .* URI path|no connection driver available|Failed to connect socket/i, 'LIBVIRT_UNREACHABLE'],
  [/requested vcpus is greater than max allowable/i, 'OVER_MAXIMUM'],
  [/Timed out during operation/i, 'TIMEOUT'],
  [/guest agent is not (responding|configured|connected)|Guest agent not available/i, 'AGENT_UNREACHABLE'],
  [/domain is not running|Unable to read from monitor|monitor.*closed/i, 'DOMAIN_NOT_RUNNING'],
];

/**
 * virsh's headline errors, whose reason is on the next "error:" line (a bad
 * URI, a refused socket, a missing driver: "failed to connect to the
 * hypervisor" alone does not say which).
 */
const HEADLINES = /^failed to connect to the hypervisor$/i;

/** The first "error: ..." line of virsh's stderr, without the prefix, with its reason when it is a headline. */
export function firstErrorLine(stderr: string): string | undefined {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const errors = lines.filter((l) => l.startsWith('error:')).map((l) => l.replace(/^error:\s*/, ''));
  const first = errors[0] ?? lines[0]?.replace(/^error:\s*/, '');
  if (first !== undefined && HEADLINES.test(first)) {
    const reason = errors.slice(1).find((l) => l !== first);
    if (reason) return `${first}: ${reason}`;
  }
  return first;
}

export function virshError(stderr: string, context: string): VcpuctlError {
  const line = firstErrorLine(stderr) ?? 'virsh failed without a message';
  for (const [re, code] of RULES) if (re.test(line)) return new VcpuctlError(code, `${context}: ${line}`, { virsh: line });
  return new VcpuctlError('LIBVIRT_FAILED', `${context}: ${line}`, { virsh: line });
}

/** Output libvirt should never give (a parser's surprise): libvirt's data, named as such, not a vcpuctl bug. */
export function unexpectedOutput(what: string, detail: string): VcpuctlError {
  const shown = detail.replace(/\s+/g, ' ').trim();
  return new VcpuctlError('LIBVIRT_FAILED', `unexpected output from libvirt (${what}): ${shown.length > 200 ? `${shown.slice(0, 200)}...` : shown}`);
}
