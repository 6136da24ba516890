/**
 * The changing calls of libvirt's RPC (rpc-procedures.ts, used by
 * rpc-writer.ts) as bytes, against an in-process fake daemon: each call's
 * procedure number and arguments laid out as remote_protocol.x declares them,
 * libvirt's lookup order (id, UUID, name) as virsh's, a refused setvcpus
 * classified by its number for that call, and calls made in one tick written
 * to the stream at once. The real daemon's side is test/libvirt/set-rpc.test.ts.
 */
import { strict as assert } from 'node:assert';
import { Duplex } from 'node:stream';
import { LibvirtRpc, XdrReader, XdrWriter } from '@vcpuctl/host';
import { CALL_RULES, forCall, rpcError } from '@vcpuctl/host/dist/libvirt/rpc-errors';
import { REMOTE, REMOTE_PROC, VIR_ERR, VIR_FROM } from '@vcpuctl/host/dist/libvirt/rpc-protocol';

interface Call {
  procedure: number;
  args: Buffer;
}

const UUID = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const UUID_TEXT = '00112233-4455-6677-8899-aabbccddeeff';

function domain(w: XdrWriter, id = 7): XdrWriter {
  return w.string('dom').fixed(UUID).int(id);
}

function errorPayload(code: number, from: number, text: string): Buffer {
  return new XdrWriter().int(code).int(from).optionalString(text).int(2).uint(0).uint(0).uint(0).uint(0).int(0).int(0).uint(0).bytes();
}

/**
 * A daemon that answers the handshake, finds only the domain "dom" (by name,
 * by UUID, or as id 7), and takes every other call; `refuse` answers one
 * procedure with an error. Records each call after the handshake, and each
 * chunk the client wrote.
 */
function fakeDaemon(refuse?: { procedure: number; error: Buffer }) {
  const calls: Call[] = [];
  const writes: number[] = [];
  let buffered: Buffer = Buffer.alloc(0);
  const stream: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      writes.push(chunk.length);
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= buffered.readUInt32BE(0)) {
        const len = buffered.readUInt32BE(0);
        const msg = buffered.subarray(4, len);
        buffered = buffered.subarray(len);
        const r = new XdrReader(msg);
        const [program, version, procedure] = [r.uint(), r.uint(), r.int()];
        r.int();
        const serial = r.uint();
        const args = Buffer.from(msg.subarray(24));
        if (procedure !== REMOTE_PROC.AUTH_LIST && procedure !== REMOTE_PROC.CONNECT_OPEN) calls.push({ procedure, args });
        let status = 0;
        let payload: Buffer = Buffer.alloc(0);
        if (procedure === REMOTE_PROC.AUTH_LIST) payload = new XdrWriter().uint(1).int(REMOTE.AUTH_NONE).bytes();
        const found = domain(new XdrWriter()).bytes();
        const notFound = errorPayload(VIR_ERR.NO_DOMAIN, VIR_FROM.QEMU, 'Domain not found');
        if (procedure === REMOTE_PROC.DOMAIN_LOOKUP_BY_NAME) [status, payload] = args.equals(new XdrWriter().string('dom').bytes()) ? [0, found] : [1, notFound];
        if (procedure === REMOTE_PROC.DOMAIN_LOOKUP_BY_UUID) [status, payload] = args.equals(UUID) ? [0, found] : [1, notFound];
        if (procedure === REMOTE_PROC.DOMAIN_LOOKUP_BY_ID) [status, payload] = args.readInt32BE(0) === 7 ? [0, found] : [1, notFound];
        if (refuse && procedure === refuse.procedure) [status, payload] = [1, refuse.error];
        const header = new XdrWriter().uint(program).uint(version).int(procedure).int(1).uint(serial).int(status).bytes();
        stream.push(Buffer.concat([new XdrWriter().uint(4 + header.length + payload.length).bytes(), header, payload]));
      }
      cb();
    },
  });
  const transport = { stream, ref: () => undefined, unref: () => undefined, describe: 'fake daemon' };
  return { transport, calls, writes };
}

describe("libvirt RPC: vcpuctl's changes, as bytes", () => {
  it("setvcpus, metadata, start/shutdown/destroy and attach/detach carry remote_protocol.x's arguments", async () => {
    const d = fakeDaemon();
    const rpc = await LibvirtRpc.open(d.transport, 'qemu:///system');
    const dom = await rpc.lookup('dom');
    assert.deepEqual([dom.name, dom.uuid, dom.id], ['dom', UUID, 7]);
    await rpc.setVcpus(dom, 3, { live: true, config: true });
    await rpc.setVcpus(dom, 8, { live: false, config: true, maximum: true });
    await rpc.setMetadataElement(dom, '<intent online="3"/>', 'vcpuctl', 'https://vcpuctl.dev/xmlns/intent/1', { live: true, config: false });
    await rpc.lifecycle(dom, 'start');
    await rpc.lifecycle(dom, 'shutdown');
    await rpc.lifecycle(dom, 'destroy');
    await rpc.device(dom, 'attach', '<channel/>', { live: false, config: true });
    await rpc.device(dom, 'detach', '<channel/>', { live: true, config: false });
    const dm = () => domain(new XdrWriter());
    assert.deepEqual(d.calls, [
      { procedure: REMOTE_PROC.DOMAIN_LOOKUP_BY_NAME, args: new XdrWriter().string('dom').bytes() },
      // remote_domain_set_vcpus_flags_args: dom, nvcpus, flags (AFFECT_LIVE | AFFECT_CONFIG; then VCPU_MAXIMUM | AFFECT_CONFIG)
      { procedure: REMOTE_PROC.DOMAIN_SET_VCPUS_FLAGS, args: dm().uint(3).uint(3).bytes() },
      { procedure: REMOTE_PROC.DOMAIN_SET_VCPUS_FLAGS, args: dm().uint(8).uint(6).bytes() },
      // remote_domain_set_metadata_args: dom, type (ELEMENT), metadata, key, uri (remote_string: optional), flags
      { procedure: REMOTE_PROC.DOMAIN_SET_METADATA, args: dm().int(2).optionalString('<intent online="3"/>').optionalString('vcpuctl').optionalString('https://vcpuctl.dev/xmlns/intent/1').uint(1).bytes() },
      { procedure: REMOTE_PROC.DOMAIN_CREATE, args: dm().bytes() },
      { procedure: REMOTE_PROC.DOMAIN_SHUTDOWN, args: dm().bytes() },
      { procedure: REMOTE_PROC.DOMAIN_DESTROY, args: dm().bytes() },
      { procedure: REMOTE_PROC.DOMAIN_ATTACH_DEVICE_FLAGS, args: dm().string('<channel/>').uint(2).bytes() },
      { procedure: REMOTE_PROC.DOMAIN_DETACH_DEVICE_FLAGS, args: dm().string('<channel/>').uint(1).bytes() },
    ]);
  });

  it("finds a domain as virsh does: a number as an id, then a UUID, then a name; not found in virsh's words", async () => {
    const d = fakeDaemon();
    const rpc = await LibvirtRpc.open(d.transport, 'qemu:///system');
    assert.equal((await rpc.lookup('7')).name, 'dom');
    assert.equal((await rpc.lookup(UUID_TEXT.toUpperCase())).name, 'dom');
    d.calls.length = 0;
    await assert.rejects(rpc.lookup('12'), (e: Error & { code?: string }) => e.code === 'DOMAIN_NOT_FOUND' && e.message === "failed to get domain '12': Domain not found");
    assert.deepEqual(
      d.calls.map((c) => c.procedure),
      [REMOTE_PROC.DOMAIN_LOOKUP_BY_ID, REMOTE_PROC.DOMAIN_LOOKUP_BY_NAME],
      'a number that is no id may be a name',
    );
  });

  it("setvcpus refused with INVALID_ARG from QEMU is OVER_MAXIMUM, libvirt's message and numbers kept; the same number elsewhere is not", async () => {
    const text = 'invalid argument: requested vcpus is greater than max allowable vcpus for the live domain: 3 > 2';
    const d = fakeDaemon({ procedure: REMOTE_PROC.DOMAIN_SET_VCPUS_FLAGS, error: errorPayload(VIR_ERR.INVALID_ARG, VIR_FROM.QEMU, text) });
    const rpc = await LibvirtRpc.open(d.transport, 'qemu:///system');
    const dom = await rpc.lookup('dom');
    await assert.rejects(rpc.setVcpus(dom, 3, { live: true, config: false }), (e: Error & { code?: string; details?: { libvirt?: { name?: string } } }) => {
      assert.equal(e.code, 'OVER_MAXIMUM');
      assert.equal(e.message, `cannot set the number of vCPUs of domain dom to 3: ${text}`);
      assert.equal(e.details?.libvirt?.name, 'VIR_ERR_INVALID_ARG');
      return true;
    });
    const general = rpcError({ code: VIR_ERR.INVALID_ARG, domain: VIR_FROM.QEMU, message: text, level: 2 }, 'x');
    assert.equal(general.code, 'LIBVIRT_FAILED', 'outside setvcpus the number says too little');
    for (const rule of CALL_RULES) assert.equal((forCall(rpcError({ code: VIR_ERR[rule.error], domain: VIR_FROM[rule.from], message: 'm', level: 2 }, 'x'), rule.call) as { code: string }).code, rule.code);
  });

  it('calls made in one tick reach the stream as one write', async () => {
    const d = fakeDaemon();
    const rpc = await LibvirtRpc.open(d.transport, 'qemu:///system');
    const dom = await rpc.lookup('dom');
    d.writes.length = 0;
    await Promise.all([1, 2, 3, 4, 5].map((n) => rpc.setVcpus(dom, n, { live: true, config: false })));
    assert.equal(d.writes.length, 1);
    assert.equal(d.calls.filter((c) => c.procedure === REMOTE_PROC.DOMAIN_SET_VCPUS_FLAGS).length, 5);
  });
});
