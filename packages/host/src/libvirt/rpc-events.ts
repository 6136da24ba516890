/**
 * libvirt's domain events as the RPC carries them (remote_protocol.x's
 * remote_domain_event_callback_*_msg), decoded into exactly the DomainEvent
 * that `virsh event --all --loop` gives through event-line.ts: virsh's event
 * name, the domain's name, and virsh's words for the rest (its
 * tools/virsh-domain-event.c in libvirt 9.0), so watch cannot tell the two
 * sources apart. Pure: bytes in, an event (or a thrown unexpectedOutput) out.
 */
import { DomainEvent } from './event-line';
import { REMOTE_PROC, VIR_DOMAIN_EVENT_ID } from './rpc-protocol';
import { XdrReader } from './rpc-xdr';
import { unexpectedOutput } from './virsh-errors';

/**
 * The events watch registers for: what it acts on (a state change, an agent
 * channel coming up, devices coming and going) and the intent metadata vcpuctl
 * itself records. virsh's --all also gave reboot, tunable, block jobs and the
 * like, which watch only turned into a re-read that changed nothing.
 */
export const WATCHED_EVENT_IDS: readonly number[] = [
  VIR_DOMAIN_EVENT_ID.LIFECYCLE,
  VIR_DOMAIN_EVENT_ID.AGENT_LIFECYCLE,
  VIR_DOMAIN_EVENT_ID.DEVICE_ADDED,
  VIR_DOMAIN_EVENT_ID.DEVICE_REMOVED,
  VIR_DOMAIN_EVENT_ID.DEVICE_REMOVAL_FAILED,
  VIR_DOMAIN_EVENT_ID.METADATA_CHANGE,
];

/**
 * A domain name in an event: libvirt's own names are short, but the bound is
 * what the line parser allowed for a whole virsh line (MAX_EVENT_LINE_CHARS),
 * so nothing the virsh path would have dropped gets through here. Aliases and
 * namespace URIs are bounded the same way.
 */
export const MAX_EVENT_STRING_BYTES = 4096;

/**
 * virsh's words for virDomainEventType (the index) and, per type, for its
 * detail enum (virDomainEventStartedDetailType, ...): VIR_ENUM_IMPL tables of
 * tools/virsh-domain-event.c; a number past a table is virsh's "unknown".
 * test/unit/rpc-events.test.ts checks each table's length against
 * libvirt-domain.h's *_LAST.
 */
export const LIFECYCLE_WORDS: readonly { event: string; details: readonly string[] }[] = [
  { event: 'Defined', details: ['Added', 'Updated', 'Renamed', 'Snapshot'] },
  { event: 'Undefined', details: ['Removed', 'Renamed'] },
  { event: 'Started', details: ['Booted', 'Migrated', 'Restored', 'Snapshot', 'Event wakeup'] },
  { event: 'Suspended', details: ['Paused', 'Migrated', 'I/O Error', 'Watchdog', 'Restored', 'Snapshot', 'API error', 'Post-copy', 'Post-copy Error'] },
  { event: 'Resumed', details: ['Unpaused', 'Migrated', 'Snapshot', 'Post-copy', 'Post-copy Error'] },
  { event: 'Stopped', details: ['Shutdown', 'Destroyed', 'Crashed', 'Migrated', 'Saved', 'Failed', 'Snapshot'] },
  { event: 'Shutdown', details: ['Finished', 'Finished after guest request', 'Finished after host request'] },
  { event: 'PMSuspended', details: ['Memory', 'Disk'] },
  { event: 'Crashed', details: ['Panicked', 'Crashloaded'] },
];

/** virConnectDomainEventAgentLifecycleState and ...Reason, as virsh words them; past the table virsh says "unsupported value". */
export const AGENT_STATE_WORDS: readonly string[] = ['unknown', 'connected', 'disconnected'];
export const AGENT_REASON_WORDS: readonly string[] = ['unknown', 'domain started', 'channel event'];
/** virDomainMetadataType. */
export const METADATA_TYPE_WORDS: readonly string[] = ['description', 'title', 'element'];

const UNSUPPORTED = 'unsupported value';

export function lifecycleWords(event: number, detail: number): string {
  const e = LIFECYCLE_WORDS[event];
  return `${e?.event ?? 'unknown'} ${e?.details[detail] ?? 'unknown'}`;
}

/** An event message: the registration it answers (callbackID) and the event. */
export interface RpcDomainEvent {
  callbackId: number;
  event: DomainEvent;
}

function name(r: XdrReader): string {
  return r.string(MAX_EVENT_STRING_BYTES);
}

/** remote_nonnull_domain: its name is what virsh prints; uuid and id are read past. */
function domainName(r: XdrReader): string {
  const n = name(r);
  r.fixed(16);
  r.int();
  return n;
}

/**
 * Decodes one event message (its procedure and payload). Events of other
 * procedures, and those virsh's lines could not carry, give undefined; a payload that does not parse throws
 * unexpectedOutput (the connection is then closed and re-opened).
 */
export function decodeDomainEvent(procedure: number, r: XdrReader, atMs = Date.now()): RpcDomainEvent | undefined {
  const event = (kind: string, domain: string, detail: string) => ({ kind, domain, detail, atMs });
  let out: RpcDomainEvent;
  switch (procedure) {
    case REMOTE_PROC.DOMAIN_EVENT_CALLBACK_LIFECYCLE: {
      const callbackId = r.int();
      const domain = domainName(r);
      out = { callbackId, event: event('lifecycle', domain, lifecycleWords(r.int(), r.int())) };
      break;
    }
    case REMOTE_PROC.DOMAIN_EVENT_CALLBACK_AGENT_LIFECYCLE: {
      const callbackId = r.int();
      const domain = domainName(r);
      const [state, reason] = [r.int(), r.int()];
      out = { callbackId, event: event('agent-lifecycle', domain, `state: '${AGENT_STATE_WORDS[state] ?? UNSUPPORTED}' reason: '${AGENT_REASON_WORDS[reason] ?? UNSUPPORTED}'`) };
      break;
    }
    case REMOTE_PROC.DOMAIN_EVENT_CALLBACK_DEVICE_ADDED:
    case REMOTE_PROC.DOMAIN_EVENT_CALLBACK_DEVICE_REMOVED:
    case REMOTE_PROC.DOMAIN_EVENT_CALLBACK_DEVICE_REMOVAL_FAILED: {
      const kind = procedure === REMOTE_PROC.DOMAIN_EVENT_CALLBACK_DEVICE_ADDED ? 'device-added' : procedure === REMOTE_PROC.DOMAIN_EVENT_CALLBACK_DEVICE_REMOVED ? 'device-removed' : 'device-removal-failed';
      // device-removed alone wraps the older message (remote_domain_event_device_removed_msg) after its callbackID: the same words.
      const callbackId = r.int();
      const domain = domainName(r);
      out = { callbackId, event: event(kind, domain, name(r)) };
      break;
    }
    case REMOTE_PROC.DOMAIN_EVENT_CALLBACK_METADATA_CHANGE: {
      const callbackId = r.int();
      const domain = domainName(r);
      const type = r.int();
      // virsh prints a missing URI as libvirt's NULLSTR does.
      const uri = r.optional(() => name(r)) ?? '<null>';
      out = { callbackId, event: event('metadata-change', domain, `type ${METADATA_TYPE_WORDS[type] ?? UNSUPPORTED}, uri ${uri}`) };
      break;
    }
    default:
      return undefined;
  }
  if (r.remaining !== 0) throw unexpectedOutput('libvirt RPC', `${r.remaining} bytes after a ${out.event.kind} event`);
  // virsh's line parser trims the detail, and a name or detail with a line break never parsed as an event: dropped the same way.
  out.event.detail = out.event.detail.trim();
  if (/[\n\r]/.test(out.event.domain + out.event.detail)) return undefined;
  return out;
}
