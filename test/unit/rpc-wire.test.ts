/**
 * libvirt's RPC framing and XDR, as bytes: replies split anywhere or packed
 * together, out of order, errors, and what a broken peer may send (lengths past
 * the bounds). The stream is an in-memory pair; the daemon side of the real
 * protocol is tested in test/libvirt/rpc-reader.test.ts.
 */
import { strict as assert } from 'node:assert';
import { Duplex, PassThrough } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RPC_MESSAGE_MAX, RpcClient, XDR_STRING_MAX, XdrReader, XdrWriter, nativeTarget, stateWords } from '@vcpuctl/host';

/** A client whose outgoing bytes are collected and whose incoming bytes the test writes. */
function pair(): { client: RpcClient; sent: Buffer[]; reply: (b: Buffer) => void; refs: string[] } {
  const incoming = new PassThrough();
  const sent: Buffer[] = [];
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      sent.push(chunk);
      cb();
    },
  });
  incoming.on('data', (d: Buffer) => stream.push(d));
  const refs: string[] = [];
  const client = new RpcClient({ stream, ref: () => refs.push('ref'), unref: () => refs.push('unref'), describe: 'test stream' });
  return { client, sent, reply: (b) => incoming.write(b), refs };
}

function message(serial: number, status: number, payload: Buffer, type = 1): Buffer {
  const header = new XdrWriter().uint(0x20008086).uint(1).int(14).int(type).uint(serial).int(status).bytes();
  return Buffer.concat([new XdrWriter().uint(4 + header.length + payload.length).bytes(), header, payload]);
}

function remoteError(text: string): Buffer {
  return new XdrWriter().int(42).int(10).optionalString(text).int(2).uint(0).uint(0).uint(0).uint(0).int(0).int(0).uint(0).bytes();
}

describe('libvirt RPC wire format', () => {
  it('XDR round-trips words, padded strings and optionals', () => {
    const b = new XdrWriter()
      .int(-2)
      .uint(0xfffffffe)
      .string('abcde')
      .optionalString(undefined)
      .optionalString('xy')
      .fixed(Buffer.from([1, 2, 3]))
      .bytes();
    assert.equal(b.length, 4 + 4 + 4 + 8 + 4 + 4 + 4 + 4 + 4);
    const r = new XdrReader(b);
    assert.equal(r.int(), -2);
    assert.equal(r.uint(), 0xfffffffe);
    assert.equal(r.string(), 'abcde');
    assert.equal(
      r.optional(() => r.string()),
      undefined,
    );
    assert.equal(
      r.optional(() => r.string()),
      'xy',
    );
    assert.deepEqual([...r.fixed(3)], [1, 2, 3]);
    assert.equal(r.remaining, 0);
  });

  it('XDR refuses lengths past the data or past the bounds, and booleans other than 0/1', () => {
    assert.throws(() => new XdrReader(new XdrWriter().uint(10).bytes()).string(), /runs past the end/);
    assert.throws(() => new XdrReader(new XdrWriter().uint(XDR_STRING_MAX + 1).bytes()).string(), /at most/);
    assert.throws(() => new XdrReader(new XdrWriter().uint(2).bytes()).bool(), /boolean word 2/);
    assert.throws(() => new XdrReader(new XdrWriter().uint(1 << 20).bytes()).array(() => 0), /an array of 1048576 items/);
  });

  it('matches replies to calls by serial, whatever order and however the bytes are split', async () => {
    const { client, sent, reply, refs } = pair();
    const one = client.call(0x20008086, 1, 14, Buffer.alloc(0), 'one');
    const two = client.call(0x20008086, 1, 14, Buffer.alloc(0), 'two');
    assert.equal(sent.length, 0, 'calls are written at the end of the tick');
    await new Promise((r) => setImmediate(r));
    assert.equal(sent.length, 1, 'both calls of the tick in one write');
    assert.equal(sent[0]!.length, 2 * 28);
    assert.equal(sent[0]!.readUInt32BE(28 + 20), 2, 'the second call carries serial 2');
    const both = Buffer.concat([message(2, 0, new XdrWriter().string('second').bytes()), message(1, 0, new XdrWriter().string('first').bytes())]);
    for (let i = 0; i < both.length; i += 3) reply(both.subarray(i, i + 3));
    assert.equal((await one).string(), 'first');
    assert.equal((await two).string(), 'second');
    assert.deepEqual(refs, ['unref', 'ref', 'unref'], 'the stream keeps the process alive only while calls are pending');
  });

  it("an error reply rejects that call, classified by libvirt's number with libvirt's message kept; events are ignored", async () => {
    const { client, reply } = pair();
    const call = client.call(0x20008086, 1, 14, Buffer.alloc(0), 'cannot read domain x');
    reply(message(0, 0, Buffer.alloc(8), 2)); // an event (type MESSAGE): not a reply
    reply(message(1, 1, remoteError('Domaine introuvable')));
    await assert.rejects(call, (e: { code: string; message: string; details: unknown }) => {
      assert.equal(e.code, 'DOMAIN_NOT_FOUND', 'VIR_ERR_NO_DOMAIN, whatever language the daemon speaks');
      assert.equal(e.message, 'cannot read domain x: Domaine introuvable');
      assert.deepEqual(e.details, { libvirt: { code: 42, domain: 10, name: 'VIR_ERR_NO_DOMAIN', from: 'VIR_FROM_QEMU' } });
      return true;
    });
  });

  it("a length word past libvirt's message limit fails every pending call and closes the stream", async () => {
    const { client, reply } = pair();
    const call = client.call(0x20008086, 1, 14, Buffer.alloc(0), 'x');
    reply(new XdrWriter().uint(RPC_MESSAGE_MAX + 5).bytes());
    await assert.rejects(call, (e: { code: string; message: string }) => e.code === 'LIBVIRT_FAILED' && /message length/.test(e.message));
    await assert.rejects(client.call(0x20008086, 1, 14, Buffer.alloc(0), 'after'), /message length/);
  });

  it('names states and reasons as virsh domstate --reason does', () => {
    assert.deepEqual(stateWords(1, 1), { state: 'running', reason: 'booted' });
    assert.deepEqual(stateWords(5, 2), { state: 'shut off', reason: 'destroyed' });
    assert.deepEqual(stateWords(3, 1), { state: 'paused', reason: 'user' });
    assert.deepEqual(stateWords(6, 1), { state: 'crashed', reason: 'panicked' });
    assert.deepEqual(stateWords(99, 99), { state: 'no state', reason: 'unknown' });
  });

  it('reads natively local QEMU system URIs, on the daemon socket libvirt itself would pick, and qemu+ssh ones with only the parameters vcpuctl reproduces', () => {
    const run = mkdtempSync(join(tmpdir(), 'vcpuctl-run-'));
    try {
      assert.deepEqual(nativeTarget('qemu:///system', run), { kind: 'unix', name: 'qemu:///system', socket: `${run}/libvirt-sock` });
      writeFileSync(`${run}/virtqemud-sock`, '');
      assert.deepEqual(nativeTarget('qemu:///system', run), { kind: 'unix', name: 'qemu:///system', socket: `${run}/virtqemud-sock` }, 'the modular daemon first');
      assert.deepEqual(nativeTarget('qemu+unix:///system?socket=/x/y', run), { kind: 'unix', name: 'qemu:///system', socket: '/x/y' });
      const ssh = nativeTarget('qemu+ssh://root@127.0.0.1:2222/system?keyfile=/k&no_verify=1', run);
      assert.equal(ssh?.kind, 'ssh', 'ssh URIs go to virt-ssh-helper through the same ssh');
      assert.deepEqual(ssh?.kind === 'ssh' && [ssh.ssh.host, ssh.ssh.port, ssh.ssh.user, ssh.ssh.keyfile, ssh.ssh.noVerify], ['127.0.0.1', 2222, 'root', '/k', true]);
      for (const uri of [
        'qemu+ssh://h/system?netcat=/bin/nc',
        'qemu+ssh://h/system?socket=/x',
        'qemu+ssh:///system',
        'qemu+ssh://h/session',
        'qemu+libssh://h/system',
        'qemu+tls://h/system',
        'qemu:///session',
        'test:///default',
        'qemu:///system?mode=legacy',
        'qemu://host/system',
        'not a uri',
      ]) {
        assert.equal(nativeTarget(uri, run), undefined, uri);
      }
    } finally {
      rmSync(run, { recursive: true, force: true });
    }
  });
});
