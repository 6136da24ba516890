import { strict as assert } from 'node:assert';
import { parseDomainXml, parseHotpluggableCpus, virshError } from '@vcpuctl/host';
import { VcpuctlError } from '@vcpuctl/proto';
import { virshFixture } from '../helpers/host-fixtures';

describe('libvirt output parsing (captured from libvirt 9.0 / QEMU 7.2)', () => {
  it('reads current and maximum from <vcpu current=... >', () => {
    const d = parseDomainXml(virshFixture('dumpxml-live-1of2.xml'));
    assert.equal(d.name, 'vt-probe');
    assert.match(d.uuid, /^[0-9a-f-]{36}$/);
    assert.equal(d.type, 'qemu');
    assert.deepEqual({ max: d.vcpu.maximum, cur: d.vcpu.current }, { max: 2, cur: 1 });
    assert.deepEqual(d.vcpu.vcpus, []);
  });

  it('reads the per-vCPU <vcpus> list libvirt shows after a hot-add (no current attribute: all are current)', () => {
    const d = parseDomainXml(virshFixture('dumpxml-live-hotadded.xml'));
    assert.deepEqual({ max: d.vcpu.maximum, cur: d.vcpu.current }, { max: 2, cur: 2 });
    assert.deepEqual(d.vcpu.vcpus, [
      { id: 0, enabled: true, hotpluggable: false, order: 1 },
      { id: 1, enabled: true, hotpluggable: true, order: 2 },
    ]);
  });

  it('refuses documents that are not domains', () => {
    assert.throws(() => parseDomainXml('<network/>'), /not a libvirt domain/);
  });

  it("reads QEMU's own view: slots with a qom-path are plugged", () => {
    assert.equal(parseHotpluggableCpus(virshFixture('qmp-hotpluggable-1of2.json')).plugged, 1);
    const two = parseHotpluggableCpus(virshFixture('qmp-hotpluggable-2of2.json'));
    assert.equal(two.plugged, 2);
    assert.equal(two.slots.length, 2);
    assert.deepEqual(
      two.slots.map((s) => s.socketId),
      [0, 1],
    );
  });

  const cases: [string, string, number][] = [
    ['err-no-domain.txt', 'DOMAIN_NOT_FOUND', 4],
    ['err-bad-uri.txt', 'LIBVIRT_UNREACHABLE', 5],
    ['err-over-maximum.txt', 'OVER_MAXIMUM', 8],
    ['err-unplug-timeout.rig-facts.txt', 'TIMEOUT', 10],
    ['err-monitor-reset.rig-facts.txt', 'DOMAIN_NOT_RUNNING', 11],
  ];
  for (const [file, code, exit] of cases) {
    it(`maps ${file} to ${code} (exit ${exit})`, () => {
      const e: VcpuctlError = virshError(virshFixture(file), 'ctx');
      assert.equal(e.code, code);
      assert.equal(e.exitCode, exit);
      assert.match(e.message, /^ctx: /);
      assert.ok(!/(^|: )error: /.test(e.message), 'the virsh prefix is dropped');
    });
  }

  it('keeps libvirt\'s reason after "failed to connect to the hypervisor"', () => {
    const e = virshError(virshFixture('err-bad-uri.txt'), 'ctx');
    assert.equal(e.message, "ctx: failed to connect to the hypervisor: internal error: unexpected qemu URI path '/nosuch', try qemu:///system");
    const sock = virshError("error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/nonexistent.sock': No such file or directory\n", 'ctx');
    assert.equal(sock.code, 'LIBVIRT_UNREACHABLE');
    assert.match(sock.message, /Failed to connect socket to '\/nonexistent.sock': No such file or directory$/);
  });

  it('unexpected dumpxml is LIBVIRT_FAILED "unexpected output from libvirt", never a plain Error', () => {
    const bad = [
      ['<network/>', /not a libvirt domain XML document/],
      ['', /not a libvirt domain XML document/],
      ['<domain><name>x</name></domain>', /has no <vcpu> count/],
      ['<domain><vcpu>two</vcpu></domain>', /<vcpu> is "two"/],
      ["<domain><vcpu current='3'>2</vcpu></domain>", /current='3'> is above the maximum 2/],
      ['<domain><vcpu>99999999999999999999</vcpu></domain>', /<vcpu> is/],
      ["<domain><vcpu>2</vcpu><vcpus><vcpu id='x' enabled='yes'/></vcpus></domain>", /<vcpus><vcpu id> is "x"/],
    ] as const;
    for (const [xml, re] of bad) {
      assert.throws(
        () => parseDomainXml(xml),
        (e: unknown) => e instanceof VcpuctlError && e.code === 'LIBVIRT_FAILED' && /^unexpected output from libvirt \(dumpxml\): /.test(e.message) && re.test(e.message),
        xml,
      );
    }
  });

  it('unexpected QMP output is LIBVIRT_FAILED too', () => {
    for (const json of ['not json', '{}', '{"return": 3}', '{"return": [{"props": {"socket-id": "0"}}]}', 'null']) {
      assert.throws(
        () => parseHotpluggableCpus(json),
        (e: unknown) => e instanceof VcpuctlError && e.code === 'LIBVIRT_FAILED' && /unexpected output from libvirt \(query-hotpluggable-cpus\)/.test(e.message),
        json,
      );
    }
  });

  it('maps anything else to LIBVIRT_FAILED with the text kept', () => {
    const e = virshError('error: internal error: cannot change vcpu count of this domain\n', 'virsh setvcpus');
    assert.equal(e.code, 'LIBVIRT_FAILED');
    assert.match(e.message, /cannot change vcpu count/);
  });
});
