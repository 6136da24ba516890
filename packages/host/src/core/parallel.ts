/** Guest attempts at once: a few slow guests overlap, without opening hundreds of sockets at once. */
export const DEFAULT_PARALLEL = 8;
/** More than this many at once is a mistake (each may hold a socket and a virsh process). */
export const MAX_PARALLEL = 256;

/**
 * Changes at once, over all connections. Each change mostly waits on its
 * guest (seconds), so a few overlap well; more would have many guests
 * onlining CPUs on the same host at the same moment, and would spread a
 * mistaken count over much of the fleet before the first failure shows.
 */
export const DEFAULT_SET_PARALLEL = 4;

/** Runs async work with at most `limit` at a time, results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
