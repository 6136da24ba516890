import { strict as assert } from 'node:assert';
import { ERROR_CODES, VcpuctlError, decodeEnvelope, encodeEnvelope, isCompatible, toVcpuctlError } from '@vcpuctl/proto';

describe('codec', () => {
  it('round-trips an envelope', () => {
    const bytes = encodeEnvelope({ id: 7, setOnlineRequest: { cpus: [{ cpu: 1, online: true }] } });
    const env = decodeEnvelope(bytes, 1024);
    assert.equal(env.id, 7);
    assert.equal(env.body, 'setOnlineRequest');
    // A 64-bit field: protobufjs gives a number or a Long; both print the exact value.
    assert.equal(String(env.setOnlineRequest?.cpus?.[0]?.cpu), '1');
  });

  it('keeps a CPU number past 2^32 whole, so the agent can refuse it (a uint32 field read 2^32 + 1 as 1)', () => {
    const bytes = encodeEnvelope({ id: 7, setOnlineRequest: { cpus: [{ cpu: 2 ** 32 + 1, online: false }] } });
    const env = decodeEnvelope(bytes, 1024);
    assert.equal(String(env.setOnlineRequest?.cpus?.[0]?.cpu), '4294967297');
  });

  it('refuses an oversized frame before decoding it', () => {
    const bytes = encodeEnvelope({ id: 1, error: { code: 'X', message: 'y'.repeat(2000) } });
    assert.throws(
      () => decodeEnvelope(bytes, 1024),
      (e: VcpuctlError) => e.code === 'TOO_BIG' && e.closeCode === 1009,
    );
  });

  it('turns garbage into a PROTOCOL error', () => {
    assert.throws(
      () => decodeEnvelope(Buffer.from([0x0a, 0xff, 0xff, 0xff]), 1024),
      (e: VcpuctlError) => e.code === 'PROTOCOL' && e.closeCode === 1002,
    );
  });

  it('treats an unknown message type as a PROTOCOL error', () => {
    // field 99, length-delimited, empty: a message type from a future schema
    assert.throws(
      () => decodeEnvelope(Buffer.from([0x08, 0x05, 0x9a, 0x06, 0x00]), 1024),
      (e: VcpuctlError) => e.code === 'PROTOCOL' && /no known message type/.test(e.message) && e.details?.unknownType === true,
    );
  });

  it('checks protocol majors', () => {
    assert.ok(isCompatible('1.7'));
    assert.ok(!isCompatible('2.0'));
    assert.ok(!isCompatible('garbage'));
  });
});

describe('error codes', () => {
  it('map to exit codes in 1..125 and valid close codes', () => {
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      assert.ok(spec.exit >= 1 && spec.exit <= 125, code);
      assert.ok((spec.close >= 1000 && spec.close < 1012) || (spec.close >= 4000 && spec.close < 5000), code);
    }
  });
  it('gives every user-facing failure of the CLI its own exit code', () => {
    const distinct = [
      'USAGE',
      'MISMATCH',
      'DOMAIN_NOT_FOUND',
      'LIBVIRT_UNREACHABLE',
      'AGENT_UNREACHABLE',
      'AUTH_FAILED',
      'OVER_MAXIMUM',
      'CPU_REFUSED',
      'TIMEOUT',
      'DOMAIN_NOT_RUNNING',
      'LOCKED',
      'PARTIAL',
      'STALE_LIBVIRT',
      'IDENTITY_MISMATCH',
      'LIBVIRT_FAILED',
      'FORBIDDEN',
    ] as const;
    const exits = distinct.map((c) => ERROR_CODES[c].exit);
    assert.equal(new Set(exits).size, distinct.length);
  });
  it('wraps unknown throwables as INTERNAL', () => {
    assert.equal(toVcpuctlError(new Error('boom')).code, 'INTERNAL');
    assert.equal(toVcpuctlError(new VcpuctlError('LOCKED', 'x')).code, 'LOCKED');
  });
});
