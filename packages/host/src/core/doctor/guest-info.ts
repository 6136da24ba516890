/**
 * qemu-guest-agent's guest-info answer: which commands this qemu-ga offers
 * and whether each is enabled (`--block-rpcs`/`--allow-rpcs` disable
 * commands; they stay listed with `"enabled": false`). It comes from inside
 * the guest: bounded in size, checked field by field, and anything malformed
 * is a PROTOCOL error.
 */
import { VcpuctlError } from '@vcpuctl/proto';
import { MAX_GUEST_AGENT_REPLY_BYTES } from '../../libvirt/guest-agent';

/**
 * Most commands read from one answer. qemu-ga 7.2 offers about 50; 1024
 * leaves room for any future version and bounds a compromised guest.
 */
export const MAX_GUEST_INFO_COMMANDS = 1024;

/** Longest command name kept (qemu-ga's longest, guest-get-memory-block-info, has 27 characters). */
export const MAX_GUEST_COMMAND_NAME_CHARS = 64;

export interface GuestInfo {
  /** qemu-ga's version, as it says it (at most 64 printable characters). */
  version: string;
  /** Command name → enabled. */
  commands: Map<string, boolean>;
}

export function parseGuestInfo(text: string): GuestInfo {
  if (text.length > MAX_GUEST_AGENT_REPLY_BYTES) throw new VcpuctlError('TOO_BIG', `qemu-guest-agent's guest-info answer is larger than ${MAX_GUEST_AGENT_REPLY_BYTES} bytes`);
  let ret: unknown;
  try {
    ret = (JSON.parse(text) as { return?: unknown }).return;
  } catch {
    throw new VcpuctlError('PROTOCOL', "qemu-guest-agent's guest-info answer is not JSON");
  }
  const r = (typeof ret === 'object' && ret !== null ? ret : {}) as Record<string, unknown>;
  const list = r.supported_commands;
  if (!Array.isArray(list)) throw new VcpuctlError('PROTOCOL', 'qemu-guest-agent answered guest-info without a supported_commands list');
  if (list.length > MAX_GUEST_INFO_COMMANDS) throw new VcpuctlError('TOO_BIG', `qemu-guest-agent lists ${list.length} commands; at most ${MAX_GUEST_INFO_COMMANDS} are read`);
  const commands = new Map<string, boolean>();
  for (const e of list) {
    const o = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
    const name = o.name;
    if (typeof name !== 'string' || name.length > MAX_GUEST_COMMAND_NAME_CHARS || !/^[a-z][a-z0-9-]*$/.test(name)) {
      throw new VcpuctlError('PROTOCOL', `qemu-guest-agent listed a command with a bad name (${JSON.stringify(name)?.slice(0, 80)})`);
    }
    if (typeof o.enabled !== 'boolean') throw new VcpuctlError('PROTOCOL', `qemu-guest-agent gave command ${name} no enabled flag`);
    commands.set(name, o.enabled);
  }
  const version = typeof r.version === 'string' && /^[\x20-\x7e]{1,64}$/.test(r.version) ? r.version : 'unknown';
  return { version, commands };
}
