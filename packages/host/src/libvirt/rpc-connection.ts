/**
 * One RPC connection to libvirt per driver, shared by its reads and writes
 * (rpc-reader.ts, rpc-writer.ts): opened on first use, kept for the process
 * (watch polls through it), opened again when it dropped.
 *
 * The backend is chosen once, when the connection first opens: a daemon that
 * cannot be reached natively then (no socket, a refused auth type, ssh that
 * will not run virt-ssh-helper) is NativeUnavailable, and the driver uses
 * virsh from then on. Once it has opened, libvirt stays the backend: a
 * connection that cannot be opened again (libvirtd restarting) is
 * LIBVIRT_UNREACHABLE, which callers wait on (core/host-after.ts), not a
 * silent switch to virsh in the middle of an operation.
 */
import { VcpuctlError } from '@vcpuctl/proto';
import { LibvirtRpc } from './rpc-procedures';
import { NativeTarget, transportFor } from './rpc-transport';

/** The daemon's socket could not be opened or would not let vcpuctl in: the caller uses virsh instead. */
export class NativeUnavailable extends Error {}

export class RpcConnection {
  private connection: Promise<LibvirtRpc> | undefined;

  private opened = false;

  constructor(private readonly target: NativeTarget) {}

  /** Whether a connection has opened once: the RPC is this driver's backend. */
  get chosen(): boolean {
    return this.opened;
  }

  private rpc(): Promise<LibvirtRpc> {
    if (!this.connection) {
      const opening = LibvirtRpc.open(transportFor(this.target), this.target.name).then(
        (rpc) => {
          this.opened = true;
          // A connection that closed while idle (libvirtd restarted, keepalive gave up) is not handed out again.
          rpc.onFailure(() => {
            if (this.connection === opening) this.connection = undefined;
          });
          return rpc;
        },
        (err: Error) => {
          if (this.connection === opening) this.connection = undefined;
          if (!this.opened) throw new NativeUnavailable(err.message);
          throw err instanceof VcpuctlError ? err : new VcpuctlError('LIBVIRT_UNREACHABLE', `cannot reach libvirt again (${this.target.name}): ${err.message}`);
        },
      );
      this.connection = opening;
    }
    return this.connection;
  }

  /** Runs calls on the connection; one that failed under them is dropped so the next use opens a new one. */
  async with<T>(use: (rpc: LibvirtRpc) => Promise<T>): Promise<T> {
    const conn = this.rpc();
    const rpc = await conn;
    try {
      return await use(rpc);
    } catch (err) {
      if ((err as { code?: string }).code === 'LIBVIRT_UNREACHABLE' && this.connection === conn) this.connection = undefined;
      throw err;
    }
  }

  async close(): Promise<void> {
    const conn = this.connection;
    this.connection = undefined;
    if (conn) await (await conn.catch(() => undefined))?.close();
  }
}
