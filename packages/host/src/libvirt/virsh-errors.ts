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

/** The first "error: ..." line of virsh's stderr, without the prefix. */
export function firstErrorLine(stderr: string): string | undefined {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const err = lines.find((l) => l.startsWith('error:'));
  return (err ?? lines[0])?.replace(/^error:\s*/, '');
}

export function virshError(stderr: string, context: string): VcpuctlError {
  const line = firstErrorLine(stderr) ?? 'virsh failed without a message';
  for (const [re, code] of RULES) if (re.test(line)) return new VcpuctlError(code, `${context}: ${line}`, { virsh: line });
  return new VcpuctlError('LIBVIRT_FAILED', `${context}: ${line}`, { virsh: line });
}
