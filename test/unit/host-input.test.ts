import { strict as assert } from 'node:assert';
import { MAX_CPU_INDEX, VcpuctlError } from '@vcpuctl/proto';
import { MAX_VCPUS, connectUri, cpuIndex, cpuIndexes, domainName, seconds, vcpuCount, wholeNumber } from '@vcpuctl/host/dist/core/input';

const usage = (fn: () => unknown, re?: RegExp) => assert.throws(fn, (e: unknown) => e instanceof VcpuctlError && e.code === 'USAGE' && !e.message.includes('\n') && (!re || re.test(e.message)));

describe('host input checks (core/input.ts)', () => {
  it('vCPU counts: 1..MAX_VCPUS, exact digits only; nothing past 2^53 survives as a rounded number', () => {
    assert.equal(vcpuCount('1'), 1);
    assert.equal(vcpuCount(String(MAX_VCPUS)), MAX_VCPUS);
    for (const bad of ['0', '-1', 'two', '1.5', '1e3', '0x10', ' 2', '2 ', '', String(MAX_VCPUS + 1), '4294967297', '9007199254740993', '9'.repeat(400)]) {
      usage(() => vcpuCount(bad), /whole number from 1 to 8192/);
    }
  });

  it('CPU indexes: 0..MAX_CPU_INDEX; 4294967297 and 9007199254740993 are refused (the agent would wrap them onto CPU 1 and CPU 0)', () => {
    assert.equal(cpuIndex('0'), 0);
    assert.equal(cpuIndex(String(MAX_CPU_INDEX)), MAX_CPU_INDEX);
    for (const bad of ['4294967297', '9007199254740993', String(MAX_CPU_INDEX + 1), '-0', '1.0', '']) usage(() => cpuIndex(bad));
    usage(() => cpuIndexes(new Array(8193).fill('1')), /at most 8192 CPUs/);
    assert.deepEqual(cpuIndexes(['3', '1']), [3, 1]);
  });

  it('wholeNumber never converts more than 15 digits', () => {
    usage(() => wholeNumber('0000000000000001', 'n', 0, 10));
    assert.equal(wholeNumber('000000000000001', 'n', 0, 10), 1);
  });

  it('seconds: 0..86400 with up to 3 decimals, in milliseconds; "", " ", "1e3", "Infinity" are refused', () => {
    assert.equal(seconds('0', '--t'), 0);
    assert.equal(seconds('2.5', '--t'), 2500);
    assert.equal(seconds('86400', '--t'), 86_400_000);
    for (const bad of ['', ' ', '1e3', 'Infinity', '-1', '86400.5', '0x10', '9007199254740993']) usage(() => seconds(bad, '--t'), /--t wants seconds/);
  });

  it('domain names: any text virsh can carry as a value, up to 1024 characters', () => {
    assert.equal(domainName('--domain=test'), '--domain=test');
    assert.equal(domainName('x'.repeat(300)), 'x'.repeat(300));
    usage(() => domainName(''), /empty/);
    usage(() => domainName('x'.repeat(1025)), /1025 characters/);
    for (const bad of ['a\nb', "it's", 'a\\b', 'a\x00b']) usage(() => domainName(bad), /control character, a quote or a backslash/);
  });

  it('-c/--connect: an empty URI is refused, not replaced by the default', () => {
    assert.equal(connectUri('test:///default'), 'test:///default');
    for (const bad of ['', '  ', 'qemu:///system\n']) usage(() => connectUri(bad), /libvirt URI/);
  });
});
