/**
 * Every number vcpuctl takes from libvirt, in one place: the RPC's framing,
 * programs, procedures and bounds, the flags and enums its calls carry, the
 * state and reason tables, and the error numbers vcpuctl classifies. Each
 * group is named after libvirt's prefix and each key is libvirt's name
 * without it (REMOTE_PROC.CONNECT_OPEN is REMOTE_PROC_CONNECT_OPEN), so
 * test/unit/rpc-protocol.test.ts looks every one up in libvirt 9.0's own
 * remote_protocol.x, qemu_protocol.x, virnetprotocol.x and public headers
 * (test/fixtures/libvirt/) and a wrong number fails the unit tests. libvirt
 * appends to these and never renumbers, so 9.0's values hold for newer daemons.
 */

/** src/rpc/virnetprotocol.x: the framing every program shares. */
export const VIR_NET = {
  /** The largest message, its length word not counted (32 MiB): no reply is larger. */
  MESSAGE_MAX: 33554432,
  /** virNetMessageHeader: six words. */
  MESSAGE_HEADER_MAX: 24,
  /** The length word before each message, counted in its own value. */
  MESSAGE_LEN_MAX: 4,
  /** The longest string (4 MiB). */
  MESSAGE_STRING_MAX: 4194304,
  /** virNetMessageType. */
  CALL: 0,
  REPLY: 1,
  MESSAGE: 2,
  STREAM: 3,
  /** virNetMessageStatus. */
  OK: 0,
  ERROR: 1,
} as const;

/** src/remote/remote_protocol.x: the remote program, its auth types and bounds. */
export const REMOTE = {
  PROGRAM: 0x20008086,
  PROTOCOL_VERSION: 1,
  /** remote_auth_type. */
  AUTH_NONE: 0,
  AUTH_POLKIT: 2,
  AUTH_TYPE_LIST_MAX: 20,
  /** Domains in one list (ConnectListAllDomains, GetAllDomainStats). */
  DOMAIN_LIST_MAX: 16384,
  /** Typed parameters in one domain's stats record. */
  CONNECT_GET_ALL_DOMAIN_STATS_MAX: 262144,
} as const;

/** remote_procedure: the calls vcpuctl makes, and the handshake's. */
export const REMOTE_PROC = {
  CONNECT_OPEN: 1,
  CONNECT_CLOSE: 2,
  /** virDomainCreate: `virsh start`. */
  DOMAIN_CREATE: 9,
  DOMAIN_DESTROY: 12,
  DOMAIN_GET_XML_DESC: 14,
  DOMAIN_LOOKUP_BY_ID: 22,
  DOMAIN_LOOKUP_BY_NAME: 23,
  DOMAIN_LOOKUP_BY_UUID: 24,
  DOMAIN_SHUTDOWN: 33,
  /** virConnectSupportsFeature: asking for VIR_DRV_FEATURE.PROGRAM_KEEPALIVE makes the daemon start pinging this client. */
  CONNECT_SUPPORTS_FEATURE: 60,
  AUTH_LIST: 66,
  AUTH_POLKIT: 70,
  DOMAIN_ATTACH_DEVICE_FLAGS: 160,
  DOMAIN_DETACH_DEVICE_FLAGS: 161,
  DOMAIN_SET_VCPUS_FLAGS: 199,
  DOMAIN_GET_STATE: 212,
  DOMAIN_SET_METADATA: 264,
  CONNECT_LIST_ALL_DOMAINS: 273,
  CONNECT_GET_ALL_DOMAIN_STATS: 344,
  /** Domain events with a callback id per registration (what virsh event uses against a 9.0 daemon). */
  CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY: 316,
  CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY: 317,
  /** The event messages the daemon sends (type MESSAGE), one procedure per event kind. */
  DOMAIN_EVENT_CALLBACK_LIFECYCLE: 318,
  DOMAIN_EVENT_CALLBACK_DEVICE_REMOVED: 333,
  DOMAIN_EVENT_CALLBACK_AGENT_LIFECYCLE: 348,
  DOMAIN_EVENT_CALLBACK_DEVICE_ADDED: 354,
  DOMAIN_EVENT_CALLBACK_DEVICE_REMOVAL_FAILED: 367,
  DOMAIN_EVENT_CALLBACK_METADATA_CHANGE: 379,
} as const;

/**
 * src/rpc/virkeepaliveprotocol.x: the keepalive program, spoken on the same
 * connection (type MESSAGE, serial 0, no payload).
 */
export const KEEPALIVE = {
  PROGRAM: 0x6b656570,
  PROTOCOL_VERSION: 1,
} as const;

export const KEEPALIVE_PROC = {
  PING: 1,
  PONG: 2,
} as const;

/** src/libvirt_internal.h virDrvFeature. */
export const VIR_DRV_FEATURE = {
  PROGRAM_KEEPALIVE: 10,
} as const;

/** libvirt-domain.h virDomainEventID: the events vcpuctl registers for. */
export const VIR_DOMAIN_EVENT_ID = {
  LIFECYCLE: 0,
  DEVICE_REMOVED: 15,
  AGENT_LIFECYCLE: 18,
  DEVICE_ADDED: 19,
  DEVICE_REMOVAL_FAILED: 22,
  METADATA_CHANGE: 23,
} as const;

/** src/remote/qemu_protocol.x: the QEMU program (qemu-monitor-command). */
export const QEMU = {
  PROGRAM: 0x20008087,
  PROTOCOL_VERSION: 1,
} as const;

export const QEMU_PROC = {
  DOMAIN_MONITOR_COMMAND: 1,
  /** virDomainQemuAgentCommand: `virsh qemu-agent-command`. */
  DOMAIN_AGENT_COMMAND: 3,
} as const;

/** libvirt-host.h: a UUID's bytes. */
export const VIR_UUID_BUFLEN = 16;

/** libvirt-common.h: virTypedParameterType, and the longest parameter name (79 bytes and a NUL). */
export const VIR_TYPED_PARAM = {
  INT: 1,
  UINT: 2,
  LLONG: 3,
  ULLONG: 4,
  DOUBLE: 5,
  BOOLEAN: 6,
  STRING: 7,
  FIELD_LENGTH: 80,
} as const;

/** libvirt-domain.h virDomainXMLFlags: INACTIVE is `virsh dumpxml --inactive`. */
export const VIR_DOMAIN_XML = {
  INACTIVE: 2,
} as const;

/** libvirt-domain.h virDomainModificationImpact: `--live`, `--config` (neither is CURRENT). */
export const VIR_DOMAIN_AFFECT = {
  CURRENT: 0,
  LIVE: 1,
  CONFIG: 2,
} as const;

/** libvirt-domain.h virDomainVcpuFlags: MAXIMUM is `virsh setvcpus --maximum` (with AFFECT_CONFIG). */
export const VIR_DOMAIN_VCPU = {
  MAXIMUM: 4,
} as const;

/** libvirt-domain.h virDomainMetadataType: ELEMENT is one namespaced element of <metadata> (`virsh metadata --uri --key`). */
export const VIR_DOMAIN_METADATA = {
  ELEMENT: 2,
} as const;

/** libvirt-domain.h virDomainStatsTypes: `virsh domstats --state --vcpu`. */
export const VIR_DOMAIN_STATS = {
  STATE: 1,
  VCPU: 8,
} as const;

/** libvirt-domain.h virDomainState. */
export const VIR_DOMAIN = {
  NOSTATE: 0,
  RUNNING: 1,
  BLOCKED: 2,
  PAUSED: 3,
  SHUTDOWN: 4,
  SHUTOFF: 5,
  CRASHED: 6,
  PMSUSPENDED: 7,
} as const;

/**
 * virsh's words for each virDomainState (the index is the state's number) and
 * for each of its reasons (the index is the reason's number in the state's
 * enum: virDomainRunningReason, virDomainPausedReason, ...), as
 * `virsh domstate --reason` prints them (tools/virsh-domain-monitor.c), so the
 * RPC reader names a state exactly as virsh does.
 */
export const DOMAIN_STATE_WORDS: readonly { state: string; reasons: readonly string[] }[] = [
  { state: 'no state', reasons: ['unknown'] },
  { state: 'running', reasons: ['unknown', 'booted', 'migrated', 'restored', 'from snapshot', 'unpaused', 'migration canceled', 'save canceled', 'event wakeup', 'crashed', 'post-copy', 'post-copy failed'] },
  { state: 'idle', reasons: ['unknown'] },
  // 'api error' is VIR_DOMAIN_PAUSED_API_ERROR, added in libvirt 9.2 (after the 9.0 copy the test reads).
  {
    state: 'paused',
    reasons: ['unknown', 'user', 'migrating', 'saving', 'dumping', 'I/O error', 'watchdog', 'from snapshot', 'shutting down', 'creating snapshot', 'crashed', 'starting up', 'post-copy', 'post-copy failed', 'api error'],
  },
  { state: 'in shutdown', reasons: ['unknown', 'user'] },
  { state: 'shut off', reasons: ['unknown', 'shutdown', 'destroyed', 'crashed', 'migrated', 'saved', 'failed', 'from snapshot', 'daemon'] },
  { state: 'crashed', reasons: ['unknown', 'panicked'] },
  { state: 'pmsuspended', reasons: ['unknown'] },
];

/** virterror.h virErrorNumber: the numbers rpc-errors.ts classifies. */
export const VIR_ERR = {
  NO_CONNECT: 5,
  INVALID_ARG: 8,
  SYSTEM_ERROR: 38,
  RPC: 39,
  NO_DOMAIN: 42,
  AUTH_FAILED: 45,
  OPERATION_INVALID: 55,
  OPERATION_TIMEOUT: 68,
  ARGUMENT_UNSUPPORTED: 74,
  AUTH_CANCELLED: 79,
  AGENT_UNRESPONSIVE: 86,
  AUTH_UNAVAILABLE: 94,
  AGENT_UNSYNCED: 97,
} as const;

/** virterror.h virErrorDomain: the parts of libvirt that raise them, where a number alone says too little. */
export const VIR_FROM = {
  RPC: 7,
  QEMU: 10,
  DOMAIN: 20,
} as const;
