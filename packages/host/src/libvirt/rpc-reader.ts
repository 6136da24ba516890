/**
 * Fleet reads over libvirt's own RPC: one connection, every read pipelined on
 * it (the daemon works on several at once), no process per domain or per
 * batch. Used by the virsh driver for the reads that scale with the number of
 * domains; writes stay with virsh. The connection is opened on first use and
 * kept for the process (watch polls through it); a dropped one is opened again.
 */
import { VcpuctlError } from '@vcpuctl/proto';
import { DomainSnapshot, VcpuTimes } from './driver';
import { LibvirtRpc, RpcDomain, uuidText } from './rpc-procedures';
import { NativeTarget, transportFor } from './rpc-transport';
import { buildSnapshot, hasLiveSide, QMP_CHARDEVS, QMP_HOTPLUGGABLE } from './snapshot';
import { stamped, VCPU_STATS_GROUPS, vcpuTimesOf } from './vcpu-stats';

/** The daemon's socket could not be opened or would not let vcpuctl in: the caller uses virsh instead. */
export class NativeUnavailable extends Error {}

export class RpcReader {
  private connection: Promise<LibvirtRpc> | undefined;

  constructor(private readonly target: NativeTarget) {}

  private rpc(): Promise<LibvirtRpc> {
    if (!this.connection) {
      const opening = LibvirtRpc.open(transportFor(this.target), this.target.name).catch((err: Error) => {
        if (this.connection === opening) this.connection = undefined;
        throw new NativeUnavailable(err.message);
      });
      this.connection = opening;
    }
    return this.connection;
  }

  /** Runs a read; a connection that failed under it is dropped so the next read opens a new one. */
  private async with<T>(read: (rpc: LibvirtRpc) => Promise<T>): Promise<T> {
    const conn = this.rpc();
    const rpc = await conn;
    try {
      return await read(rpc);
    } catch (err) {
      if ((err as { code?: string }).code === 'LIBVIRT_UNREACHABLE' && this.connection === conn) this.connection = undefined;
      throw err;
    }
  }

  async listDomains(): Promise<string[]> {
    // virsh's order: running domains by id, then the others by name.
    const all = await this.with((rpc) => rpc.listAllDomains());
    const running = all.filter((d) => d.id >= 0).sort((a, b) => a.id - b.id);
    const others = all.filter((d) => d.id < 0).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return [...running, ...others].map((d) => d.name);
  }

  /** Snapshots of the named domains (name or UUID); one that cannot be read is left out. */
  async inspectMany(names: string[]): Promise<Map<string, DomainSnapshot>> {
    return this.with(async (rpc) => {
      const all = await rpc.listAllDomains();
      const byKey = new Map<string, RpcDomain>();
      for (const d of all) {
        byKey.set(d.name, d);
        byKey.set(uuidText(d.uuid), d);
      }
      const out = new Map<string, DomainSnapshot>();
      await Promise.all(names.map(async (name) => {
        const d = byKey.get(name) ?? byKey.get(name.toLowerCase());
        if (!d) return;
        const snap = await readOne(rpc, d).catch(() => undefined);
        if (snap) out.set(name, snap);
      }));
      return out;
    });
  }

  /** The domain's per-vCPU run time (by name or UUID), in one stats call: no process, no QMP. */
  async vcpuTimes(name: string): Promise<VcpuTimes> {
    return this.with(async (rpc) => {
      const d = (await rpc.listAllDomains()).find((x) => x.name === name || uuidText(x.uuid) === name.toLowerCase());
      if (!d) throw new VcpuctlError('DOMAIN_NOT_FOUND', `cannot find domain ${name}`);
      const { value: records, atNs } = await stamped(() => rpc.domainStats([d], VCPU_STATS_GROUPS));
      const params = records.find((r) => r.domain.name === d.name)?.params ?? [];
      return vcpuTimesOf(new Map(params.map((p) => [p.field, p.value])), atNs, name);
    });
  }

  async close(): Promise<void> {
    const conn = this.connection;
    this.connection = undefined;
    if (conn) await (await conn.catch(() => undefined))?.close();
  }
}

/** The same facts as virsh's inspect batch: state, both XMLs, QEMU's vCPUs and (when there are channels) chardevs. */
async function readOne(rpc: LibvirtRpc, d: RpcDomain): Promise<DomainSnapshot> {
  const [st, configXml, liveXml] = await Promise.all([rpc.state(d), rpc.xml(d, true), d.id >= 0 ? rpc.xml(d, false).catch(() => '') : Promise.resolve('')]);
  // The monitor calls fail harmlessly on a domain that stopped meanwhile, as in virsh's batch.
  const [hotpluggable, chardevs] = hasLiveSide(st.state) && liveXml
    ? await Promise.all([
      rpc.qemuMonitor(d, QMP_HOTPLUGGABLE).catch(() => ''),
      /<channel\b/.test(liveXml) ? rpc.qemuMonitor(d, QMP_CHARDEVS).catch(() => '') : Promise.resolve(''),
    ])
    : ['', ''];
  return buildSnapshot({ ...st, liveXml, configXml, hotpluggable, chardevs });
}
