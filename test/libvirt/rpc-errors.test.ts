/**
 * The real libvirtd's error replies through the RPC client, classified by
 * libvirt's number (rpc-errors.ts), for the calls the RPC path makes: the
 * reads, the domain stats, the QEMU monitor, and a call the daemon does not
 * know. The domain is defined and never started (no guest boots).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LibvirtRpc, RpcClient, nativeTarget, unixTransport } from '@vcpuctl/host';
import { REMOTE } from '@vcpuctl/host/dist/libvirt/rpc-protocol';
import { bareDomainXml, removeDomain, removeLeftovers, setupHost, URI, virsh } from '../helpers/libvirt';

const PREFIX = 'vcpuctl-rpcerr';

interface Rejection {
  code: string;
  message: string;
  details?: { libvirt?: { code: number; domain: number; name?: string; from?: string } };
}

function socketOf(): string {
  const t = nativeTarget(URI);
  assert.ok(t && t.kind === 'unix', `${URI} is read through a local socket`);
  return t.socket;
}

describe("libvirt's error replies by number, from a real libvirtd", function () {
  this.timeout(120_000);
  const tag = `${PREFIX}-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const stopped = `${tag}-stopped`;
  let dir: string;
  let rpc: LibvirtRpc;

  before(async function () {
    this.timeout(10 * 60_000);
    setupHost();
    removeLeftovers(PREFIX);
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-rpcerr-'));
    writeFileSync(join(dir, 'stopped.xml'), bareDomainXml(stopped, 1, 2));
    virsh('define', join(dir, 'stopped.xml'));
    rpc = await LibvirtRpc.open(unixTransport(socketOf()), 'qemu:///system');
  });

  after(async () => {
    await rpc?.close();
    removeDomain(stopped);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a domain that does not exist is DOMAIN_NOT_FOUND, VIR_ERR_NO_DOMAIN (42) from VIR_FROM_QEMU, for every read that names it', async () => {
    const gone = { name: `${tag}-gone`, uuid: Buffer.alloc(16, 0xab), id: -1 };
    const reads: [string, () => Promise<unknown>][] = [
      [`cannot read the XML of domain ${gone.name}`, () => rpc.xml(gone, true)],
      [`cannot get the state of domain ${gone.name}`, () => rpc.state(gone)],
      [`qemu-monitor-command on ${gone.name}`, () => rpc.qemuMonitor(gone, '{"execute":"query-status"}')],
    ];
    for (const [context, read] of reads) {
      await assert.rejects(read(), (e: Rejection) => {
        assert.equal(e.code, 'DOMAIN_NOT_FOUND', context);
        assert.deepEqual(e.details, { libvirt: { code: 42, domain: 10, name: 'VIR_ERR_NO_DOMAIN', from: 'VIR_FROM_QEMU' } });
        assert.equal(e.message, `${context}: Domain not found: no domain with matching uuid 'abababab-abab-abab-abab-abababababab' (${gone.name})`, "libvirt's message, as libvirt words it");
        return true;
      });
    }
    assert.deepEqual(await rpc.domainStats([gone], 1), [], 'the stats of a domain that does not exist are no record, not an error (libvirt skips it)');
  });

  it("the QEMU monitor of a domain that is not running is DOMAIN_NOT_RUNNING, VIR_ERR_OPERATION_INVALID (55) from VIR_FROM_DOMAIN, in virsh's words", async () => {
    const d = (await rpc.listAllDomains()).find((x) => x.name === stopped);
    assert.ok(d);
    const viaVirsh = spawnSync('virsh', ['-c', URI, 'qemu-monitor-command', stopped, '{"execute":"query-status"}'], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
    assert.notEqual(viaVirsh.status, 0);
    await assert.rejects(rpc.qemuMonitor(d, '{"execute":"query-status"}'), (e: Rejection) => {
      assert.equal(e.code, 'DOMAIN_NOT_RUNNING');
      assert.deepEqual(e.details, { libvirt: { code: 55, domain: 20, name: 'VIR_ERR_OPERATION_INVALID', from: 'VIR_FROM_DOMAIN' } });
      assert.equal(`error: ${e.message.replace(`qemu-monitor-command on ${stopped}: `, '')}`, viaVirsh.stderr.trim(), 'the same words virsh prints');
      return true;
    });
  });

  it('a procedure the daemon does not know is LIBVIRT_UNREACHABLE, VIR_ERR_RPC (39) from VIR_FROM_RPC', async () => {
    const client = new RpcClient(unixTransport(socketOf()));
    try {
      await assert.rejects(client.call(REMOTE.PROGRAM, REMOTE.PROTOCOL_VERSION, 99999, Buffer.alloc(0), 'an unknown call'), (e: Rejection) => {
        assert.equal(e.code, 'LIBVIRT_UNREACHABLE');
        assert.deepEqual(e.details, { libvirt: { code: 39, domain: 7, name: 'VIR_ERR_RPC', from: 'VIR_FROM_RPC' } });
        assert.match(e.message, /^an unknown call: .*99999/);
        return true;
      });
    } finally {
      client.close();
    }
  });
});
