/**
 * libvirt's error replies over the RPC, classified by libvirt's own number
 * (virErrorNumber) and, where one number has several causes, the part of
 * libvirt that raised it (virErrorDomain): one table to vcpuctl's codes, and
 * nothing here reads the message, which the daemon may write in its own
 * locale. The message stays in the error's text, in libvirt's words, and the
 * numbers go in its details. virsh prints only text, so the virsh path keeps
 * its English rules (virsh-errors.ts).
 */
import { ErrorCode, VcpuctlError } from '@vcpuctl/proto';
import { VIR_ERR, VIR_FROM } from './rpc-protocol';
import { XdrReader } from './rpc-xdr';

/** remote_error (virNetMessageError in virnetprotocol.x), as far as vcpuctl reads it. */
export interface RemoteError {
  /** virErrorNumber. */
  code: number;
  /** virErrorDomain. */
  domain: number;
  message: string | undefined;
  /** virErrorLevel: 1 warning, 2 error. */
  level: number;
}

/** Reads the error that follows a reply header with status VIR_NET_ERROR. */
export function readRemoteError(r: XdrReader): RemoteError {
  const code = r.int();
  const domain = r.int();
  const message = r.optional(() => r.string());
  const level = r.int();
  // dom, str1-3, int1-2 and net follow: the message already holds what they say.
  return { code, domain, message, level };
}

export interface ErrorRule {
  error: keyof typeof VIR_ERR;
  /** Only when raised by this part of libvirt; a rule with `from` wins over one without. */
  from?: keyof typeof VIR_FROM;
  code: ErrorCode;
}

/**
 * The table. Every number not in it is LIBVIRT_FAILED, with libvirt's message.
 * Where the number alone says too little, libvirt 9.0's sources were read for
 * who raises it, on the calls the RPC makes (reads, domain stats, the QEMU
 * monitor, the handshake):
 * - OPERATION_INVALID from the domain layer (conf/) is virDomainObjCheckActive,
 *   "domain is not running". conf/ raises it for other causes only on calls
 *   vcpuctl makes through virsh or not at all (start, define, rename, a config
 *   change of a transient domain, memory hotplug, migration). From a driver
 *   (VIR_FROM_QEMU) the same number has dozens of causes: LIBVIRT_FAILED.
 * - SYSTEM_ERROR from the RPC layer is a socket libvirt could not use (the
 *   proxy daemon's own connection to virtqemud); from elsewhere it is any
 *   failed system call.
 * Not told by number, so left to virsh's text where virsh runs: setvcpus over
 * the maximum is INVALID_ARG from VIR_FROM_QEMU, as is every refused flag
 * (virCheckFlags), and vcpuctl refuses an over-maximum count itself before it
 * asks (core/set-plan.ts); a monitor that closed under a call (the domain
 * stopped) is OPERATION_FAILED or SYSTEM_ERROR from VIR_FROM_QEMU, as are most
 * QEMU failures.
 */
export const ERROR_RULES: readonly ErrorRule[] = [
  { error: 'NO_DOMAIN', code: 'DOMAIN_NOT_FOUND' },
  { error: 'OPERATION_INVALID', from: 'DOMAIN', code: 'DOMAIN_NOT_RUNNING' },
  { error: 'OPERATION_TIMEOUT', code: 'TIMEOUT' },
  { error: 'AGENT_UNRESPONSIVE', code: 'AGENT_UNREACHABLE' },
  { error: 'AGENT_UNSYNCED', code: 'AGENT_UNREACHABLE' },
  // The daemon could not open the URI's driver, or refused vcpuctl in.
  { error: 'NO_CONNECT', code: 'LIBVIRT_UNREACHABLE' },
  { error: 'AUTH_FAILED', code: 'LIBVIRT_UNREACHABLE' },
  { error: 'AUTH_CANCELLED', code: 'LIBVIRT_UNREACHABLE' },
  { error: 'AUTH_UNAVAILABLE', code: 'LIBVIRT_UNREACHABLE' },
  { error: 'SYSTEM_ERROR', from: 'RPC', code: 'LIBVIRT_UNREACHABLE' },
  // The daemon did not take the call as sent: unknown program or procedure, authentication required.
  { error: 'RPC', code: 'LIBVIRT_UNREACHABLE' },
];

/** A call whose own arguments leave one meaning to a number that has many elsewhere. */
export type RpcCall = 'set vcpus' | 'agent command';

export interface CallRule extends ErrorRule {
  call: RpcCall;
  from: keyof typeof VIR_FROM;
}

/**
 * Rows that hold for one call only, over the table above. libvirt 9.0's
 * qemuDomainSetVcpusFlags raises INVALID_ARG for a count over the live or the
 * persistent maximum ("requested vcpus is greater than max allowable vcpus
 * for the live domain: 4 > 3"), for a count of 0, and for a flag it refuses
 * (virCheckFlags). vcpuctl sends only flags it accepts and never 0
 * (core/set-plan.ts checks the count first), so on this call it is the
 * over-maximum refusal, as virsh's text says on the virsh path.
 *
 * qemuDomainQemuAgentCommand checks qemuDomainAgentAvailable first: no
 * qemu-ga channel is ARGUMENT_UNSUPPORTED ("QEMU guest agent is not
 * configured"), an active domain that is not running (paused) is OPERATION_INVALID, both from
 * VIR_FROM_QEMU (a channel with no agent behind it is AGENT_UNRESPONSIVE,
 * in the table above).
 */
export const CALL_RULES: readonly CallRule[] = [
  { call: 'set vcpus', error: 'INVALID_ARG', from: 'QEMU', code: 'OVER_MAXIMUM' },
  { call: 'agent command', error: 'ARGUMENT_UNSUPPORTED', from: 'QEMU', code: 'AGENT_UNREACHABLE' },
  { call: 'agent command', error: 'OPERATION_INVALID', from: 'QEMU', code: 'DOMAIN_NOT_RUNNING' },
];

/** The error of `call` classified by its own rows: libvirt's message and numbers kept, only the code changes. */
export function forCall(err: unknown, call: RpcCall): unknown {
  if (!(err instanceof VcpuctlError)) return err;
  const libvirt = (err.details as { libvirt?: { code: number; domain: number } } | undefined)?.libvirt;
  const row = libvirt && CALL_RULES.find((r) => r.call === call && VIR_ERR[r.error] === libvirt.code && VIR_FROM[r.from] === libvirt.domain);
  return row ? new VcpuctlError(row.code, err.message, err.details) : err;
}

function nameOf<T extends Record<string, number>>(table: T, prefix: string, n: number): string | undefined {
  const key = Object.keys(table).find((k) => table[k] === n);
  return key === undefined ? undefined : `${prefix}${key}`;
}

export function ruleFor(code: number, domain: number): ErrorRule | undefined {
  const matching = ERROR_RULES.filter((r) => VIR_ERR[r.error] === code && (r.from === undefined || VIR_FROM[r.from] === domain));
  return matching.find((r) => r.from !== undefined) ?? matching[0];
}

/** The VcpuctlError for an error reply to `context` ("cannot read the XML of domain x"). */
export function rpcError(e: RemoteError, context: string): VcpuctlError {
  const text = e.message ?? 'libvirt reported an error without a message';
  const libvirt = { code: e.code, domain: e.domain, name: nameOf(VIR_ERR, 'VIR_ERR_', e.code), from: nameOf(VIR_FROM, 'VIR_FROM_', e.domain) };
  return new VcpuctlError(ruleFor(e.code, e.domain)?.code ?? 'LIBVIRT_FAILED', `${context}: ${text}`, { libvirt });
}
