/**
 * The one error type of vcpuctl, shared by the controller and the agent.
 *
 * Each code is stable (scripts match on it, reports store it) and maps once,
 * here, to a CLI exit code and, where it ends a connection, a WebSocket close
 * code. Add codes at the end; never renumber an exit code.
 */

interface ErrorSpec {
  /** Process exit status of the CLIs. */
  readonly exit: number;
  /** WebSocket close status when the error ends a connection. */
  readonly close: number;
  /** One line for `--help` and the README. */
  readonly summary: string;
}

// 1000-2999 are reserved by RFC 6455; 4000-4999 are free for applications.
export const ERROR_CODES = {
  INTERNAL: { exit: 1, close: 1011, summary: 'internal error (a bug): see the message and the logs' },
  USAGE: { exit: 2, close: 1008, summary: 'bad arguments or options' },
  MISMATCH: { exit: 3, close: 1000, summary: 'verification found host and guest disagreeing' },
  DOMAIN_NOT_FOUND: { exit: 4, close: 1000, summary: 'no libvirt domain by that name or UUID' },
  LIBVIRT_UNREACHABLE: { exit: 5, close: 1000, summary: 'libvirt could not be reached at the given URI' },
  AGENT_UNREACHABLE: { exit: 6, close: 1000, summary: 'the guest agent could not be reached' },
  AUTH_FAILED: { exit: 7, close: 4001, summary: 'the agent refused the token' },
  OVER_MAXIMUM: { exit: 8, close: 1000, summary: 'requested vCPUs exceed the domain maximum' },
  CPU_REFUSED: { exit: 9, close: 4009, summary: 'a CPU cannot be changed as asked (not offlinable, last online, absent)' },
  TIMEOUT: { exit: 10, close: 1000, summary: 'a wait ran out before the state was reached' },
  DOMAIN_NOT_RUNNING: { exit: 11, close: 1000, summary: 'the domain is not running, or crashed during the operation' },
  LOCKED: { exit: 12, close: 1000, summary: 'another vcpuctl is changing this domain' },
  PROTOCOL: { exit: 13, close: 1002, summary: 'malformed, oversized or unexpected protocol message' },
  PARTIAL: { exit: 14, close: 1000, summary: 'some CPUs changed and some did not: see the per-CPU results' },
  STALE_LIBVIRT: { exit: 15, close: 1000, summary: "libvirt's vCPU state is stale; hotplug refused until resolved" },
  IDENTITY_MISMATCH: { exit: 16, close: 1000, summary: 'the agent answering is not in this domain (product_uuid differs)' },
  LIBVIRT_FAILED: { exit: 17, close: 1000, summary: 'a libvirt operation failed' },
  FORBIDDEN: { exit: 18, close: 4003, summary: "the agent's policy does not allow this request (e.g. --read-only)" },
  TOO_BIG: { exit: 13, close: 1009, summary: 'a protocol message exceeded its size limit' },
  RATE_LIMITED: { exit: 13, close: 1008, summary: 'the peer sent requests faster than allowed' },
  GUEST_DATA: { exit: 19, close: 1011, summary: "the guest's /sys or /proc holds data no Linux kernel writes (a damaged or hand-made tree, not a vcpuctl bug)" },
  GUEST_ERROR: { exit: 20, close: 1000, summary: "the guest's agent answered with an error of its own (its code and words are shown, never taken as the host's)" },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class VcpuctlError extends Error {
  readonly code: ErrorCode;
  /** Structured facts for reports and --json (e.g. the current maximum). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'VcpuctlError';
    this.code = code;
    this.details = details;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }

  get closeCode(): number {
    return ERROR_CODES[this.code].close;
  }
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}

/** Anything thrown becomes a VcpuctlError; unknown throwables are INTERNAL. */
export function toVcpuctlError(err: unknown): VcpuctlError {
  if (err instanceof VcpuctlError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new VcpuctlError('INTERNAL', message);
}

/** The exit-code table, for --help and the README. */
export function exitCodeTable(): string {
  const rows = new Map<number, string[]>();
  for (const [code, spec] of Object.entries(ERROR_CODES)) {
    const list = rows.get(spec.exit) ?? [];
    list.push(`${code}: ${spec.summary}`);
    rows.set(spec.exit, list);
  }
  return [...rows.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([exit, lines]) => `  ${String(exit).padStart(2)}  ${lines.join('; ')}`)
    .join('\n');
}
