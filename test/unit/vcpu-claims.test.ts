/**
 * The host's check of the guest's CPU claims (core/vcpu-claims.ts) on
 * hand-made pairs of vCPU time reads, with the figures measured on the rig
 * (bench/vcpu-time-bench.js) as the realistic cases: every decision, every
 * "cannot check", and the boundaries of the named thresholds.
 */
import { strict as assert } from 'node:assert';
import { checkVcpuClaims, GuestCpuClaims, MIN_WINDOW_MS, NEVER_RAN_MAX_TOTAL_MS, OFFLINE_RAN_MAX_MS, VcpuClaimCheck, VcpuTimesSample } from '@vcpuctl/host';

const MS = 1_000_000n;
const T0 = 5_000_000_000_000n; // some monotonic clock reading, ns

/** A read at `atMs` after T0 with each vCPU's total run time in ms (whole ticks, as libvirt gives them). */
function read(atMs: number, totalsMs: Record<number, number>): VcpuTimesSample {
  return { atNs: T0 + BigInt(atMs) * MS, vcpus: new Map(Object.entries(totalsMs).map(([id, t]) => [Number(id), { timeNs: BigInt(t) * MS }])) };
}

const claims = (online: number[], offline: number[]): GuestCpuClaims => ({ online, offline });

function checked(r: VcpuClaimCheck): Extract<VcpuClaimCheck, { checked: true }> {
  assert.ok(r.checked, `expected a check, got: ${(r as { reason?: string }).reason}`);
  return r;
}

function notChecked(r: VcpuClaimCheck, reason: RegExp): void {
  assert.equal(r.checked, false);
  assert.match((r as { reason: string }).reason, reason);
}

describe('vcpu claims: the guest says, the hypervisor counts', () => {
  it('an offline vCPU that did not run (0 ms, as measured) agrees with the claim', () => {
    const r = checked(checkVcpuClaims(read(0, { 0: 14_000, 1: 3_000, 2: 500 }), read(2000, { 0: 14_020, 1: 3_130, 2: 500 }), claims([0, 1], [2])));
    assert.deepEqual(r.findings, []);
    assert.equal(r.windowMs, 2000);
    assert.deepEqual(
      [...r.ranMs],
      [
        [0, 20],
        [1, 130],
        [2, 0],
      ],
    );
  });

  it("the issue's example: a CPU claimed offline that ran 340 ms in the last 5 s is contradicted", () => {
    const r = checked(checkVcpuClaims(read(0, { 0: 1000, 1: 2000 }), read(5000, { 0: 1100, 1: 2340 }), claims([0], [1])));
    assert.deepEqual(r.findings, [{ kind: 'GUEST_CLAIM_CONTRADICTED', cpu: 1, ranMs: 340, windowMs: 5000 }]);
  });

  it('a busy vCPU claimed offline is contradicted in the shortest window (measured: at least 480 ms per 1 s)', () => {
    const r = checked(checkVcpuClaims(read(0, { 0: 0, 1: 0, 2: 0 }), read(MIN_WINDOW_MS, { 0: 10, 1: 480, 2: 60 }), claims([0], [1, 2])));
    assert.deepEqual(
      r.findings.map((f) => [f.kind, f.cpu]),
      [
        ['GUEST_CLAIM_CONTRADICTED', 1],
        ['GUEST_CLAIM_CONTRADICTED', 2],
      ],
    );
  });

  it('one tick over the allowance is contradicted; the allowance itself (tick rounding, QEMU housekeeping) is not', () => {
    const at = (ranMs: number) => checked(checkVcpuClaims(read(0, { 0: 0, 1: 0 }), read(1000, { 0: 0, 1: ranMs }), claims([0], [1]))).findings.length;
    assert.equal(at(OFFLINE_RAN_MAX_MS + 10), 1, 'one tick over');
    assert.equal(at(OFFLINE_RAN_MAX_MS), 0, 'two ticks of truncation and one of QEMU housekeeping are allowed');
    assert.equal(at(10), 0);
  });

  it('run time on CPUs claimed online is no finding, however much', () => {
    const r = checked(checkVcpuClaims(read(0, { 0: 0, 1: 0 }), read(1000, { 0: 1000, 1: 990 }), claims([0, 1], [])));
    assert.deepEqual(r.findings, []);
  });

  it('a hot-added vCPU the guest calls online but that never ran (0 since the plug, as measured) is named', () => {
    const r = checked(checkVcpuClaims(read(0, { 0: 9000, 1: 0 }), read(2000, { 0: 9010, 1: 0 }), claims([0, 1], []), { hotAdded: [1] }));
    assert.deepEqual(r.findings, [{ kind: 'HOTADDED_NEVER_RAN', cpu: 1, totalMs: 0, windowMs: 2000 }]);
    assert.equal(NEVER_RAN_MAX_TOTAL_MS, 0);
  });

  it('one tick of run time since the plug means it ran: no finding, even if it was quiet in the window', () => {
    const r = checked(checkVcpuClaims(read(0, { 0: 9000, 1: 10 }), read(2000, { 0: 9010, 1: 10 }), claims([0, 1], []), { hotAdded: [1] }));
    assert.deepEqual(r.findings, []);
  });

  it('never-ran applies only to hot-added vCPUs claimed online; one claimed offline with 0 agrees', () => {
    const before = read(0, { 0: 0, 1: 0, 2: 0 });
    const after = read(2000, { 0: 0, 1: 0, 2: 0 });
    assert.deepEqual(checked(checkVcpuClaims(before, after, claims([0, 1], [2]), { hotAdded: [2] })).findings, []);
    assert.deepEqual(checked(checkVcpuClaims(before, after, claims([0, 1], [2]))).findings, [], 'vCPU 1 was not hot-added by this operation');
    assert.deepEqual(
      checked(checkVcpuClaims(before, after, claims([0, 1], [2]), { hotAdded: [1, 1, 7] })).findings.map((f) => f.cpu),
      [1],
      'duplicates and unknown ids are ignored',
    );
  });

  it('a window shorter than the minimum cannot be judged, nor one whose reads are out of order', () => {
    notChecked(checkVcpuClaims(read(0, { 0: 0, 1: 0 }), read(MIN_WINDOW_MS - 1, { 0: 0, 1: 500 }), claims([0], [1])), /shorter than 1000 ms/);
    notChecked(checkVcpuClaims(read(1000, { 0: 0, 1: 0 }), read(0, { 0: 0, 1: 500 }), claims([0], [1])), /shorter/);
  });

  it('a vCPU plugged or unplugged between the reads, or a counter that went back, cannot be judged', () => {
    notChecked(checkVcpuClaims(read(0, { 0: 0 }), read(2000, { 0: 0, 1: 0 }), claims([0], [1])), /plugged or unplugged.*0 then 0,1/);
    notChecked(checkVcpuClaims(read(0, { 0: 0, 1: 0 }), read(2000, { 0: 0 }), claims([0], [])), /plugged or unplugged/);
    notChecked(checkVcpuClaims(read(0, { 0: 0, 1: 500 }), read(2000, { 0: 0, 1: 0 }), claims([0], [1])), /vCPU 1's run time went backwards/);
  });

  it('guest CPU ids that are not exactly the plugged vCPUs cannot be mapped: "cannot check", not a guess', () => {
    const before = read(0, { 0: 0, 1: 0, 2: 0 });
    const after = read(2000, { 0: 0, 1: 900, 2: 0 });
    notChecked(checkVcpuClaims(before, after, claims([0], [1])), /guest's CPUs \(0,1\) are not the plugged vCPUs \(0,1,2\)/);
    notChecked(checkVcpuClaims(before, after, claims([0], [1, 2, 3])), /cannot be mapped/);
    notChecked(checkVcpuClaims(before, after, claims([0, 4], [1])), /cannot be mapped/);
    notChecked(checkVcpuClaims(before, after, claims([0, 1], [1, 2])), /both online and offline/);
    notChecked(checkVcpuClaims(before, after, claims([0, -1], [2])), /not a non-negative integer/);
    notChecked(checkVcpuClaims(before, after, claims([0, 1.5], [2])), /not a non-negative integer/);
  });

  it('the order of the claimed ids does not matter; findings come in CPU order', () => {
    const r = checked(checkVcpuClaims(read(0, { 0: 0, 1: 0, 2: 0 }), read(2000, { 0: 0, 1: 900, 2: 800 }), claims([0], [2, 1])));
    assert.deepEqual(
      r.findings.map((f) => f.cpu),
      [1, 2],
    );
  });

  it("counters past a double's exact range (over 104 days of CPU time) still give exact windows", () => {
    const big = 2n ** 60n; // ns, about 36 years
    const before: VcpuTimesSample = {
      atNs: T0,
      vcpus: new Map([
        [0, { timeNs: big }],
        [1, { timeNs: big }],
      ]),
    };
    const after: VcpuTimesSample = {
      atNs: T0 + 5000n * MS,
      vcpus: new Map([
        [0, { timeNs: big }],
        [1, { timeNs: big + 340n * MS }],
      ]),
    };
    assert.deepEqual(checked(checkVcpuClaims(before, after, claims([0], [1]))).findings, [{ kind: 'GUEST_CLAIM_CONTRADICTED', cpu: 1, ranMs: 340, windowMs: 5000 }]);
  });
});
