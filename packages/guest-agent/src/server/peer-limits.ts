/**
 * What the agent remembers about each peer (remote address), across its
 * connections: how many it holds, its request-count bucket and its work
 * bucket. Reconnecting therefore refills nothing, and one peer cannot hold
 * every connection slot. Bounded: an entry that means nothing any more (no
 * connection, buckets full) is forgotten; when MAX_TRACKED_PEERS are still
 * remembered, a new peer is refused.
 */
import { MAX_CONNECTIONS_PER_PEER, MAX_REQUESTS_PER_SECOND, MAX_TRACKED_PEERS, PEER_WORK_BURST_MS, PEER_WORK_MS_PER_SECOND, REQUEST_BURST, TokenBucket } from '@vcpuctl/proto';

export class Peer {
  connections = 0;
  readonly requests = new TokenBucket(MAX_REQUESTS_PER_SECOND, REQUEST_BURST);
  /** Milliseconds of the agent's time. */
  readonly work = new TokenBucket(PEER_WORK_MS_PER_SECOND, PEER_WORK_BURST_MS);

  constructor(readonly address: string) {}

  get forgettable(): boolean {
    return this.connections === 0 && this.requests.isFull && this.work.isFull;
  }
}

export type Admission = { ok: true; peer: Peer } | { ok: false; status: number; why: string };

export class PeerLimits {
  private readonly peers = new Map<string, Peer>();

  constructor(
    private readonly perPeerCap = MAX_CONNECTIONS_PER_PEER,
    private readonly maxTracked = MAX_TRACKED_PEERS,
  ) {}

  /** Whether `address` may open one more connection, or why not (an HTTP status and a reason). */
  check(address: string): Admission {
    let peer = this.peers.get(address);
    if (!peer) {
      if (this.peers.size >= this.maxTracked) this.forget();
      if (this.peers.size >= this.maxTracked) return { ok: false, status: 503, why: `${this.maxTracked} peers already tracked` };
      peer = new Peer(address);
      this.peers.set(address, peer);
    }
    if (peer.connections >= this.perPeerCap) {
      return { ok: false, status: 503, why: `this peer already holds ${this.perPeerCap} connections` };
    }
    if (peer.requests.msUntil(1) > 0) {
      return { ok: false, status: 429, why: 'this peer is over its request rate' };
    }
    return { ok: true, peer };
  }

  /** Counts a connection that was admitted and opened. */
  attach(peer: Peer): void {
    peer.connections++;
  }

  release(peer: Peer): void {
    peer.connections = Math.max(0, peer.connections - 1);
  }

  get tracked(): number {
    return this.peers.size;
  }

  private forget(): void {
    for (const [address, peer] of this.peers) if (peer.forgettable) this.peers.delete(address);
  }
}
