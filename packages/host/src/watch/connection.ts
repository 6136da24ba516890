/**
 * What watch knows about one connection as a whole: its URI, the host it
 * names, and whether libvirt answers there now. A fleet watch keeps one per
 * connection; a host that does not answer is a state, not an error.
 */
import { hostname } from 'node:os';

export interface ConnectionState {
  uri: string;
  /** The host the URI names; this machine's name for a local URI (qemu:///system, test:///default). */
  host: string;
  /** undefined until the first attempt has answered or failed. */
  up: boolean | undefined;
  /** Why libvirt did not answer, while it does not. */
  error?: string;
  /** When `up` last changed (ms since the epoch). */
  sinceMs: number;
  /** While down: when the next attempt is made (ms since the epoch). */
  retryAtMs?: number;
}

/** The host part of a libvirt URI (`qemu+ssh://root@h1:22/system` -> `h1`); this machine's name when it has none. */
export function hostOfUri(uri: string, local = hostname()): string {
  // libvirt URIs are URL-shaped (RFC 3986); a URI the URL parser refuses still names no host vcpuctl can use.
  let host = '';
  try {
    host = new URL(uri).hostname;
  } catch {
    host = /^[a-z0-9+.-]+:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)/i.exec(uri)?.[1] ?? '';
  }
  host = host.replace(/^\[(.*)\]$/, '$1');
  return host || local;
}
