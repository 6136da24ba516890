/**
 * The native RPC reader against the real libvirtd: for domains in every state
 * vcpuctl meets (running with a channel and recorded intent, paused, defined
 * only, destroyed), it must give exactly the snapshots virsh's batch gives,
 * and the listing in virsh's order.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INTENT_NAMESPACE, LibvirtRpc, LibvirtDriver, intentElement, nativeTarget, unixTransport } from '@vcpuctl/host';
import { bareDomainXml, removeDomain, removeLeftovers, setupHost, URI, virsh } from '../helpers/libvirt';

const PREFIX = 'vcpuctl-rpc';

function withChannel(name: string): string {
  return bareDomainXml(name, 1, 3).replace('</devices>', "<controller type='virtio-serial' index='0'/><channel type='unix'><source mode='bind'/><target type='virtio' name='org.vcpuctl.agent.0'/></channel></devices>");
}

describe('libvirt RPC reader against a real libvirtd', function () {
  this.timeout(120_000);
  const tag = `${PREFIX}-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const names = { channel: `${tag}-chan`, paused: `${tag}-paused`, defined: `${tag}-defined`, destroyed: `${tag}-destroyed` };
  let dir: string;

  before(function () {
    this.timeout(10 * 60_000);
    setupHost();
    removeLeftovers(PREFIX);
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-rpc-'));
    const define = (name: string, xml: string) => {
      writeFileSync(join(dir, `${name}.xml`), xml);
      virsh('define', join(dir, `${name}.xml`));
    };
    define(names.channel, withChannel(names.channel));
    define(names.paused, bareDomainXml(names.paused, 2, 2));
    define(names.defined, bareDomainXml(names.defined, 1, 4));
    define(names.destroyed, bareDomainXml(names.destroyed, 1, 2));
    for (const n of [names.channel, names.paused, names.destroyed]) virsh('start', n);
    virsh('suspend', names.paused);
    virsh('destroy', names.destroyed);
    virsh('metadata', names.channel, '--uri', INTENT_NAMESPACE, '--key', 'vcpuctl', '--set', intentElement({ online: 1, cpus: '0', operation: 'set', strategy: 'auto', at: '2026-11-28T00:00:00.000Z' }), '--live');
  });

  after(() => {
    for (const n of Object.values(names)) removeDomain(n);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('gives the same snapshots as virsh, for every state, by name and by UUID; unknown names are left out', async () => {
    const uuid = virsh('domuuid', names.channel).trim();
    const asked = [...Object.values(names), `${tag}-nonexistent`, uuid];
    const native = new LibvirtDriver(URI);
    const viaVirsh = new LibvirtDriver(URI, 'virsh', { rpc: false });
    const [a, b] = [await native.inspectMany(asked), await viaVirsh.inspectMany(asked)];
    assert.equal(native.spawns, 0, 'the native reader spawned virsh');
    assert.equal(viaVirsh.spawns, 1);
    assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
    assert.equal(a.size, 5, 'four domains by name and one by UUID');
    for (const k of b.keys()) assert.deepEqual(a.get(k), b.get(k), k);
    const chan = a.get(names.channel)!;
    assert.equal(chan.domain.state, 'running');
    assert.equal(chan.domain.channels!.live[0]!.name, 'org.vcpuctl.agent.0');
    assert.ok(chan.domain.intent, 'the recorded intent is read from the live XML');
    assert.ok(chan.qemu && chan.qemu.plugged === 1);
    assert.deepEqual([a.get(names.paused)!.domain.state, a.get(names.paused)!.domain.reason], ['paused', 'user']);
    assert.deepEqual([a.get(names.destroyed)!.domain.state, a.get(names.destroyed)!.domain.reason], ['shut off', 'destroyed']);
    assert.equal(a.get(names.defined)!.domain.config.maximum, 4);
    await native.close();
  });

  it('lists the domains in virsh order (running by id, then the others by name)', async () => {
    const native = new LibvirtDriver(URI);
    const viaVirsh = new LibvirtDriver(URI, 'virsh', { rpc: false });
    const mine = (l: string[]) => l.filter((n) => n.startsWith(tag));
    assert.deepEqual(mine(await native.listDomains()), mine(await viaVirsh.listDomains()));
    assert.equal(mine(await native.listDomains()).length, 4);
    await native.close();
  });

  it('a socket that does not exist falls back to virsh, whose error is the one reported', async () => {
    const uri = 'qemu+unix:///system?socket=/nonexistent/libvirt-sock';
    assert.deepEqual(nativeTarget(uri), { kind: 'unix', name: 'qemu:///system', socket: '/nonexistent/libvirt-sock' });
    const d = new LibvirtDriver(uri);
    await assert.rejects(d.listDomains(), (e: { code: string; message: string }) => e.code === 'LIBVIRT_UNREACHABLE' && /nonexistent/.test(e.message));
    assert.equal(d.spawns, 1, 'virsh was asked after the socket failed');
  });

  it("a libvirt error reply keeps libvirt's message (classified by its number: rpc-errors.test.ts)", async () => {
    const t = nativeTarget(URI)!;
    assert.ok(t.kind === 'unix');
    const rpc = await LibvirtRpc.open(unixTransport(t.socket), t.name);
    try {
      await assert.rejects(rpc.xml({ name: `${tag}-gone`, uuid: Buffer.alloc(16, 0xab), id: -1 }, true), (e: { code: string; message: string }) => e.code === 'DOMAIN_NOT_FOUND' && /Domain not found/.test(e.message));
    } finally {
      await rpc.close();
    }
  });
});
