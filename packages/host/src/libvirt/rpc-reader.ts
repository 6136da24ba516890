/**
 * Fleet reads over libvirt's own RPC: one connection, every read pipelined on
 * it (the daemon works on several at once), no process per domain or per
 * batch. The connection is rpc-connection.ts's, shared with the writes
 * (rpc-writer.ts).
 */
import { VcpuctlError } from '@vcpuctl/proto';
import { DomainSnapshot, VcpuTimes } from './driver';
import { LibvirtRpc, RpcDomain, uuidText } from './rpc-procedures';
import { RpcConnection } from './rpc-connection';
import { buildSnapshot, hasLiveSide, QMP_CHARDEVS, QMP_HOTPLUGGABLE } from './snapshot';
import { stamped, VCPU_STATS_GROUPS, vcpuTimesOf } from './vcpu-stats';

export class RpcReader {
  constructor(private readonly conn: RpcConnection) {}

  private with<T>(read: (rpc: LibvirtRpc) => Promise<T>): Promise<T> {
    return this.conn.with(read);
  }

  /** One domain by name, UUID or id (as virsh finds it): what virsh's inspect batch reads. */
  async inspect(name: string): Promise<DomainSnapshot> {
    return this.with(async (rpc) => readOne(rpc, await rpc.lookup(name), true));
  }

  /** The domain XML as `virsh dumpxml [--inactive]` prints it. */
  async domainXml(name: string, which: 'live' | 'config'): Promise<string> {
    return this.with(async (rpc) => rpc.xml(await rpc.lookup(name), which === 'config'));
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
      await Promise.all(
        names.map(async (name) => {
          const d = byKey.get(name) ?? byKey.get(name.toLowerCase());
          if (!d) return;
          const snap = await readOne(rpc, d).catch(() => undefined);
          if (snap) out.set(name, snap);
        }),
      );
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
}

/**
 * The same facts as virsh's inspect batch: state, both XMLs, QEMU's vCPUs and
 * (when there are channels) chardevs. `asked` reads the live XML whatever the
 * id said: a domain looked up by name a moment before may have started since.
 */
async function readOne(rpc: LibvirtRpc, d: RpcDomain, asked = false): Promise<DomainSnapshot> {
  const [st, configXml, liveXml] = await Promise.all([rpc.state(d), rpc.xml(d, true), d.id >= 0 || asked ? rpc.xml(d, false).catch(() => '') : Promise.resolve('')]);
  // The monitor calls fail harmlessly on a domain that stopped meanwhile, as in virsh's batch.
  const [hotpluggable, chardevs] =
    hasLiveSide(st.state) && liveXml ? await Promise.all([rpc.qemuMonitor(d, QMP_HOTPLUGGABLE).catch(() => ''), /<channel\b/.test(liveXml) ? rpc.qemuMonitor(d, QMP_CHARDEVS).catch(() => '') : Promise.resolve('')]) : ['', ''];
  return buildSnapshot({ ...st, liveXml, configXml, hotpluggable, chardevs });
}
