/**
 * libvirt's vCPU stats group as VcpuTimes (libvirt/vcpu-stats.ts), from
 * `virsh domstats --state --vcpu` output captured on the rig and from typed
 * parameters as the RPC decodes them: the same value either way, and the
 * errors for a domain that is not running and for output libvirt never gives.
 */
import { strict as assert } from 'node:assert';
import { parseDomstats, vcpuTimesOf } from '@vcpuctl/host';

/** A rig guest, current 3 of 3, vCPU 2 offline in the guest (libvirt 9.0, LC_ALL=C). */
const RUNNING = `Domain: 'vcpuctl-e2e-854-f1a0bc'
  state.state=1
  state.reason=1
  vcpu.current=3
  vcpu.maximum=3
  vcpu.0.state=1
  vcpu.0.time=14770000000
  vcpu.0.wait=0
  vcpu.0.delay=1538550819
  vcpu.1.state=1
  vcpu.1.time=3760000000
  vcpu.1.wait=0
  vcpu.1.delay=1672518956
  vcpu.2.state=1
  vcpu.2.time=500000000
  vcpu.2.wait=0
  vcpu.2.delay=521181683

`;

/** A defined, shut-off domain: the group still names current and maximum, from the definition. */
const SHUT_OFF = `Domain: 'vcpuctl-vstat-2550-32234c'
  state.state=5
  state.reason=0
  vcpu.current=1
  vcpu.maximum=2

`;

describe("vcpu stats: libvirt's per-vCPU accounting", () => {
  it('reads virsh domstats: plugged vCPUs by id with state and time in ns', () => {
    const t = vcpuTimesOf(parseDomstats(RUNNING), 42n, 'dom');
    assert.equal(t.atNs, 42n);
    assert.equal(t.current, 3);
    assert.equal(t.maximum, 3);
    assert.deepEqual(
      [...t.vcpus],
      [
        [0, { state: 1, timeNs: 14_770_000_000n }],
        [1, { state: 1, timeNs: 3_760_000_000n }],
        [2, { state: 1, timeNs: 500_000_000n }],
      ],
    );
  });

  it("gives the same value from the RPC's typed parameters (uints as numbers, ullongs as bigints)", () => {
    const params = new Map<string, number | bigint>([
      ['state.state', 1],
      ['state.reason', 1],
      ['vcpu.current', 2],
      ['vcpu.maximum', 3],
      ['vcpu.1.state', 1],
      ['vcpu.1.time', 3_760_000_000n],
      ['vcpu.1.wait', 0n],
      ['vcpu.1.delay', 5n],
      ['vcpu.0.state', 1],
      ['vcpu.0.time', 14_770_000_000n],
      ['vcpu.0.wait', 0n],
      ['vcpu.0.delay', 5n],
    ]);
    const t = vcpuTimesOf(params, 1n, 'dom');
    assert.deepEqual([...t.vcpus.keys()], [0, 1], 'sorted by id');
    assert.equal(t.vcpus.get(0)!.timeNs, 14_770_000_000n);
    assert.equal(t.current, 2);
  });

  it('a paused domain still has its vCPU threads and their times', () => {
    const t = vcpuTimesOf(parseDomstats(RUNNING.replace('state.state=1', 'state.state=3')), 0n, 'dom');
    assert.equal(t.vcpus.size, 3);
  });

  it('a domain that is not running is DOMAIN_NOT_RUNNING, not a parse error', () => {
    assert.throws(
      () => vcpuTimesOf(parseDomstats(SHUT_OFF), 0n, 'dom'),
      (e: Error & { code?: string }) => e.code === 'DOMAIN_NOT_RUNNING' && /dom is not running/.test(e.message),
    );
  });

  it('output libvirt never gives is refused as such', () => {
    const bad = (text: string) => () => vcpuTimesOf(parseDomstats(text), 0n, 'dom');
    const isLibvirt = (e: Error & { code?: string }) => e.code === 'LIBVIRT_FAILED' && /unexpected output from libvirt/.test(e.message);
    assert.throws(bad(RUNNING.replace('vcpu.1.time=3760000000', 'vcpu.1.time=-5')), isLibvirt);
    assert.throws(bad(RUNNING.replace('vcpu.1.time=3760000000', 'vcpu.1.time=1e9')), isLibvirt);
    assert.throws(bad(RUNNING.replace('vcpu.2.time', 'vcpu.7.time')), isLibvirt, 'a vCPU id past the maximum');
    assert.throws(bad(RUNNING.replace('  vcpu.maximum=3\n', '')), isLibvirt);
  });

  it('reads only the first record when virsh prints more than one', () => {
    const t = vcpuTimesOf(parseDomstats(RUNNING + SHUT_OFF), 0n, 'dom');
    assert.equal(t.maximum, 3);
  });
});
