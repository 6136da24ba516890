import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCpuinfo } from '@vcpuctl/guest-agent/dist/proc/cpuinfo';

const fixture = (name: string) => readFileSync(join(__dirname, '../../fixtures/cpuinfo', name), 'utf8');
const tree = (name: string) => readFileSync(join(__dirname, '../../fixtures/trees', name, 'proc/cpuinfo'), 'utf8');

describe('parseCpuinfo', () => {
  it('reads x86 from a real machine', () => {
    const m = parseCpuinfo(tree('amd-epyc-2cpu-kvm'));
    assert.equal(m.architecture, 'x86_64');
    assert.equal(m.vendor, 'AuthenticAMD');
    assert.equal(m.modelName, 'AMD EPYC');
    assert.equal(m.family, '26');
    assert.equal(m.model, '2');
    assert.equal(m.stepping, '1');
    assert.match(m.bogomips, /^\d+\.\d+$/);
    assert.ok(m.flags.includes('lm') && m.flags.includes('hypervisor'));
    assert.match(m.addressSizes, /bits physical/);
  });

  it('keeps the flags line as the kernel wrote it (blank names print as runs of spaces, and lscpu keeps them)', () => {
    const m = parseCpuinfo(tree('amd-epyc-2cpu-blank-flag-names'));
    assert.match(m.flagsLine, /\bpti {8}vmmcall\b/);
    assert.equal(m.flagsLine, m.flagsLine.trim());
    assert.ok(m.flags.includes('pti') && m.flags.includes('vmmcall') && !m.flags.includes(''));
  });

  it('reads arm64 (implementer and part ids)', () => {
    const m = parseCpuinfo(fixture('arm64-neoverse-n1.txt'));
    assert.equal(m.architecture, 'aarch64');
    assert.equal(m.vendor, 'ARM');
    assert.equal(m.modelName, 'Neoverse-N1');
    assert.equal(m.model, '1');
    assert.equal(m.stepping, 'r3p1');
    assert.equal(m.bogomips, '243.75');
    assert.ok(m.flags.includes('asimd'));
  });

  it('reads s390x (shared keys before per-CPU lines)', () => {
    const m = parseCpuinfo(fixture('s390x-z14.txt'));
    assert.equal(m.architecture, 's390x');
    assert.equal(m.vendor, 'IBM/S390');
    assert.equal(m.modelName, '3906');
    assert.equal(m.bogomips, '3241.00');
    assert.ok(m.flags.includes('zarch'));
  });

  it('reads ppc64le', () => {
    const m = parseCpuinfo(fixture('ppc64le-power9.txt'));
    assert.equal(m.architecture, 'ppc64le');
    assert.equal(m.modelName, 'POWER9 (architected)');
    assert.equal(m.model, '2.2 (pvr 004e 1202)');
    assert.equal(m.mhz, '2200.000000');
  });
});
