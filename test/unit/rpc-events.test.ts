/**
 * libvirt's domain event messages and keepalive, as bytes built by hand
 * (remote_protocol.x's remote_domain_event_callback_*_msg): each decodes to
 * the DomainEvent virsh's event line gives (event-line.ts), what does not
 * parse is refused, keepalive PINGs are answered and a silent daemon is
 * given up on. The real daemon's side is test/libvirt/watch-rpc.test.ts.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import { parseEventLine, RpcClient, XdrReader, XdrWriter } from '@vcpuctl/host';
import { AGENT_REASON_WORDS, AGENT_STATE_WORDS, decodeDomainEvent, LIFECYCLE_WORDS, MAX_EVENT_STRING_BYTES, METADATA_TYPE_WORDS } from '@vcpuctl/host/dist/libvirt/rpc-events';
import { Keepalive } from '@vcpuctl/host/dist/libvirt/rpc-keepalive';
import { KEEPALIVE, KEEPALIVE_PROC, REMOTE, REMOTE_PROC, VIR_NET } from '@vcpuctl/host/dist/libvirt/rpc-protocol';

const UUID = Buffer.alloc(16, 0xab);
const AT = 1_700_000_000_000;

/** callbackID, then remote_nonnull_domain (name, uuid, id). */
function head(callbackId: number, name: string, id = 7): XdrWriter {
  return new XdrWriter().int(callbackId).string(name).fixed(UUID).int(id);
}

const decode = (proc: number, w: XdrWriter) => decodeDomainEvent(proc, new XdrReader(w.bytes()), AT);

/** The event virsh prints for the same thing, through the line parser watch used. */
const line = (text: string) => ({ ...parseEventLine(`event ${text}`)!, atMs: AT });

describe('libvirt domain events over the RPC', () => {
  it("lifecycle: every (event, detail) in virsh's words, as its line gives them", () => {
    assert.deepEqual(decode(REMOTE_PROC.DOMAIN_EVENT_CALLBACK_LIFECYCLE, head(3, 'web1').int(5).int(1)), { callbackId: 3, event: line("'lifecycle' for domain 'web1': Stopped Destroyed") });
    assert.deepEqual(decode(REMOTE_PROC.DOMAIN_EVENT_CALLBACK_LIFECYCLE, head(3, 'web 1: x').int(2).int(0))!.event, line("'lifecycle' for domain 'web 1: x': Started Booted"));
    assert.equal(decode(REMOTE_PROC.DOMAIN_EVENT_CALLBACK_LIFECYCLE, head(3, 'a').int(6).int(2))!.event.detail, 'Shutdown Finished after host request');
    assert.equal(decode(REMOTE_PROC.DOMAIN_EVENT_CALLBACK_LIFECYCLE, head(3, 'a').int(1).int(0))!.event.detail, 'Undefined Removed');
    // Numbers virsh does not know: its "unknown", never a crash.
    assert.equal(decode(REMOTE_PROC.DOMAIN_EVENT_CALLBACK_LIFECYCLE, head(3, 'a').int(5).int(99))!.event.detail, 'Stopped unknown');
    assert.equal(decode(REMOTE_PROC.DOMAIN_EVENT_CALLBACK_LIFECYCLE, head(3, 'a').int(-1).int(0))!.event.detail, 'unknown unknown');
  });

  it('agent-lifecycle, device-added/removed/removal-failed and metadata-change, as virsh words them', () => {
    assert.deepEqual(decode(REMOTE_PROC.DOMAIN_EVENT_CALLBACK_AGENT_LIFECYCLE, head(4, 'g').int(2).int(1))!.event, line("'agent-lifecycle' for domain 'g': state: 'disconnected' reason: 'domain started'"));
    assert.equal(decode(REMOTE_PROC.DOMAIN_EVENT_CALLBACK_AGENT_LIFECYCLE, head(4, 'g').int(9).int(9))!.event.detail, "state: 'unsupported value' reason: 'unsupported value'");
    assert.deepEqual(decode(REMOTE_PROC.DOMAIN_EVENT_CALLBACK_DEVICE_ADDED, head(5, 'g').string('channel0')), { callbackId: 5, event: line("'device-added' for domain 'g': channel0") });
    assert.deepEqual(decode(REMOTE_PROC.DOMAIN_EVENT_CALLBACK_DEVICE_REMOVED, head(6, 'g').string('channel0'))!.event, line("'device-removed' for domain 'g': channel0"));
    assert.deepEqual(decode(REMOTE_PROC.DOMAIN_EVENT_CALLBACK_DEVICE_REMOVAL_FAILED, head(7, 'g').string('vcpu1'))!.event, line("'device-removal-failed' for domain 'g': vcpu1"));
    assert.deepEqual(
      decode(REMOTE_PROC.DOMAIN_EVENT_CALLBACK_METADATA_CHANGE, head(8, 'g').int(2).optionalString('http://vcpuctl.example/intent/1'))!.event,
      line("'metadata-change' for domain 'g': type element, uri http://vcpuctl.example/intent/1"),
    );
    assert.equal(decode(REMOTE_PROC.DOMAIN_EVENT_CALLBACK_METADATA_CHANGE, head(8, 'g').int(0).optionalString(undefined))!.event.detail, 'type description, uri <null>');
  });

  it('other procedures are not events of ours; names, aliases and trailing bytes are bounded', () => {
    assert.equal(decode(REMOTE_PROC.DOMAIN_GET_STATE, head(1, 'a')), undefined);
    assert.equal(decode(REMOTE_PROC.DOMAIN_EVENT_CALLBACK_DEVICE_ADDED, head(5, 'g').string('a\nb')), undefined, "a line break: virsh's line never parsed either");
    assert.throws(() => decode(REMOTE_PROC.DOMAIN_EVENT_CALLBACK_DEVICE_ADDED, head(5, 'x'.repeat(MAX_EVENT_STRING_BYTES + 1)).string('c')), /at most 4096/);
    assert.throws(() => decode(REMOTE_PROC.DOMAIN_EVENT_CALLBACK_DEVICE_ADDED, head(5, 'g').string('c'.repeat(MAX_EVENT_STRING_BYTES + 1))), /at most 4096/);
    assert.throws(() => decode(REMOTE_PROC.DOMAIN_EVENT_CALLBACK_LIFECYCLE, head(3, 'a').int(5)), /runs past the end/);
    assert.throws(() => decode(REMOTE_PROC.DOMAIN_EVENT_CALLBACK_LIFECYCLE, head(3, 'a').int(5).int(1).int(0)), /4 bytes after a lifecycle event/);
  });

  it("virsh's word tables have one word per value of libvirt 9.0's enums (libvirt-domain.h's *_LAST)", () => {
    const header = readFileSync(join(__dirname, '../../fixtures/libvirt/include/libvirt/libvirt-domain.h'), 'utf8');
    const enumLength = (prefix: string) => {
      const body = new RegExp(`typedef enum \\{([^}]*${prefix}LAST[^}]*)\\}`).exec(header)![1]!;
      return [...body.matchAll(new RegExp(`\\b${prefix}(\\w+)`, 'g'))].filter((m) => m[1] !== 'LAST').length;
    };
    const types = ['DEFINED', 'UNDEFINED', 'STARTED', 'SUSPENDED', 'RESUMED', 'STOPPED', 'SHUTDOWN', 'PMSUSPENDED', 'CRASHED'];
    assert.equal(LIFECYCLE_WORDS.length, types.length);
    assert.equal(enumLength('VIR_DOMAIN_EVENT_(?=DEFINED|UNDEFINED|STARTED|SUSPENDED|RESUMED|STOPPED|SHUTDOWN|PMSUSPENDED|CRASHED|LAST)'), types.length);
    types.forEach((t, i) => {
      assert.equal(LIFECYCLE_WORDS[i]!.event.toUpperCase(), t, `event ${i}`);
      assert.equal(LIFECYCLE_WORDS[i]!.details.length, enumLength(`VIR_DOMAIN_EVENT_${t}_`), `the details of ${t}`);
    });
    // The words virsh printed on this rig (test/fixtures/virsh/event-loop-timestamp.txt) come out the same.
    const captured = readFileSync(join(__dirname, '../../fixtures/virsh/event-loop-timestamp.txt'), 'utf8');
    for (const m of captured.matchAll(/'lifecycle' for domain '[^']*': (\w+) (.+)$/gm)) {
      const i = LIFECYCLE_WORDS.findIndex((w) => w.event === m[1]);
      assert.ok(i >= 0 && LIFECYCLE_WORDS[i]!.details.includes(m[2]!), m[0]);
    }
    assert.equal(AGENT_STATE_WORDS.length, enumLength('VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_') + 1, 'state 0 has no name in the header: virsh says unknown');
    assert.equal(AGENT_REASON_WORDS.length, enumLength('VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_'));
    assert.equal(METADATA_TYPE_WORDS.length, enumLength('VIR_DOMAIN_METADATA_'));
  });
});

/** A client over an in-memory stream: what it writes is collected, what the test pushes is what the daemon sent. */
function pair(): { client: RpcClient; sent: Buffer[]; push: (b: Buffer) => void; closed: () => boolean } {
  const incoming = new PassThrough();
  const sent: Buffer[] = [];
  let closed = false;
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      sent.push(chunk);
      cb();
    },
    destroy(err, cb) {
      closed = true;
      cb(err);
    },
  });
  incoming.on('data', (d: Buffer) => stream.push(d));
  const client = new RpcClient({ stream, ref: () => undefined, unref: () => undefined, describe: 'test stream' });
  return { client, sent, push: (b) => incoming.write(b), closed: () => closed };
}

function frame(program: number, procedure: number, type: number, payload: Buffer = Buffer.alloc(0), serial = 0): Buffer {
  const header = new XdrWriter().uint(program).uint(1).int(procedure).int(type).uint(serial).int(VIR_NET.OK).bytes();
  return Buffer.concat([new XdrWriter().uint(4 + header.length + payload.length).bytes(), header, payload]);
}

const tick = () => new Promise((r) => setImmediate(r));

describe('event messages and keepalive on the RPC client', () => {
  it('a MESSAGE of the remote program goes to the event handler; a reply still settles its call', async () => {
    const { client, push } = pair();
    const got: number[] = [];
    client.onRemoteMessage = (proc, r) => got.push(proc, r.int());
    const call = client.call(REMOTE.PROGRAM, 1, REMOTE_PROC.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, Buffer.alloc(0), 'register');
    await tick();
    push(Buffer.concat([frame(REMOTE.PROGRAM, REMOTE_PROC.DOMAIN_EVENT_CALLBACK_LIFECYCLE, VIR_NET.MESSAGE, new XdrWriter().int(42).bytes()), frame(REMOTE.PROGRAM, 316, VIR_NET.REPLY, new XdrWriter().int(9).bytes(), 1)]));
    assert.equal((await call).int(), 9);
    assert.deepEqual(got, [REMOTE_PROC.DOMAIN_EVENT_CALLBACK_LIFECYCLE, 42]);
  });

  it('an event that does not decode closes the connection once, with the reason, and fails what is pending', async () => {
    const { client, push, closed } = pair();
    client.onRemoteMessage = (_p, r) => r.string();
    const reasons: string[] = [];
    client.onFailure((e) => reasons.push(e.message));
    const call = client.call(REMOTE.PROGRAM, 1, 1, Buffer.alloc(0), 'x');
    await tick();
    push(frame(REMOTE.PROGRAM, REMOTE_PROC.DOMAIN_EVENT_CALLBACK_LIFECYCLE, VIR_NET.MESSAGE, new XdrWriter().uint(100).bytes()));
    await assert.rejects(call, /runs past the end/);
    await tick();
    assert.ok(closed());
    assert.equal(reasons.length, 1);
    assert.match(reasons[0]!, /runs past the end/);
  });

  it("the daemon's PING is answered with a PONG: keepalive program, MESSAGE, serial 0, no payload", async () => {
    const { client, sent, push } = pair();
    push(frame(KEEPALIVE.PROGRAM, KEEPALIVE_PROC.PING, VIR_NET.MESSAGE));
    await tick();
    await tick();
    assert.deepEqual(Buffer.concat(sent), frame(KEEPALIVE.PROGRAM, KEEPALIVE_PROC.PONG, VIR_NET.MESSAGE));
    assert.equal(client.keepalive.pingsAnswered, 1);
  });

  it('a daemon that falls silent is pinged each interval, then given up on after `count` more', async () => {
    const sent: number[] = [];
    let died = '';
    const k = new Keepalive(
      (p) => sent.push(p),
      (why) => (died = why),
      20,
      3,
    );
    k.start();
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(sent.length >= 1 && sent.every((p) => p === KEEPALIVE_PROC.PING), String(sent));
    k.heard(); // an answer: alive again
    assert.equal(died, '');
    await new Promise((r) => setTimeout(r, 150));
    assert.match(died, /libvirt did not answer keepalive for \d+ s/);
    assert.equal(k.started, false);
  });
});
