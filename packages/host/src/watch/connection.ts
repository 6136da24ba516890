/**
 * What watch knows about one connection as a whole: its URI, the host it
 * names, and whether libvirt answers there now. A fleet watch keeps one per
 * connection; a host that does not answer is a state, not an error. The
 * host a URI names is libvirt/ssh-uri.ts's hostOfUri, as in reports.
 */
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
