/**
 * libvirt's domain events over the driver's RPC connection: the EventStream
 * watch used to get from a `virsh event` child (virsh-events.ts), with the
 * same handlers and the same promises. Events are registered on the
 * connection (rpc-events.ts decodes them into virsh's words), keepalive runs
 * on it, and when it is lost (libvirtd restarted, its socket cut, keepalive
 * unanswered) the loss is reported as the child's exit was, the connection
 * opened again after a pause, the events registered again on it, and
 * `reconnected` said so the caller re-reads what it may have missed.
 */
import { VcpuctlError } from '@vcpuctl/proto';
import { NativeUnavailable, RpcConnection } from './rpc-connection';
import { WATCHED_EVENT_IDS } from './rpc-events';
import { EventSubscription } from './rpc-procedures';
import { EventStream, EventStreamHandlers, RETRY_MAX_MS, RETRY_MIN_MS, HEALTHY_MS } from './virsh-events';

/**
 * `fallback` starts the virsh child instead, when the RPC could not be opened
 * the first time (the backend is chosen once: rpc-connection.ts).
 */
export function rpcEventStream(conn: RpcConnection, handlers: EventStreamHandlers, fallback: () => EventStream): EventStream {
  let closed = false;
  let first = true;
  let retryMs = RETRY_MIN_MS;
  let timer: NodeJS.Timeout | undefined;
  let subscription: EventSubscription | undefined;
  let delegate: EventStream | undefined;

  const lose = (why: string) => {
    if (closed) return;
    handlers.lost(why, retryMs);
    timer = setTimeout(() => void attempt(), retryMs);
    retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
  };

  const attempt = async () => {
    if (closed) return;
    const startedAt = Date.now();
    const wasFirst = first;
    first = false;
    let sub: EventSubscription;
    let failure: Promise<Error>;
    try {
      ({ sub, failure } = await conn.with(async (rpc) => {
        await rpc.startKeepalive();
        const s = await rpc.subscribeDomainEvents(WATCHED_EVENT_IDS, (e) => !closed && handlers.event(e));
        return { sub: s, failure: new Promise<Error>((resolve) => rpc.onFailure(resolve)) };
      }));
    } catch (err) {
      if (err instanceof NativeUnavailable) {
        if (!closed) delegate = fallback();
        return;
      }
      return lose(err instanceof VcpuctlError ? err.message : `cannot register libvirt events: ${(err as Error).message}`);
    }
    if (closed) return void sub.close();
    subscription = sub;
    void failure.then((err) => {
      if (subscription === sub) subscription = undefined;
      if (closed) return;
      if (Date.now() - startedAt > HEALTHY_MS) retryMs = RETRY_MIN_MS;
      lose(err.message);
    });
    if (!wasFirst) handlers.reconnected();
  };

  void attempt();
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      void subscription?.close();
      subscription = undefined;
      delegate?.close();
    },
  };
}
