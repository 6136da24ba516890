/** vcpuctl's intent in a domain's <metadata>: written as virsh takes it, read back as libvirt 9.0 shows it. */
import { strict as assert } from 'node:assert';
import { INTENT_NAMESPACE, Intent, intentElement, intentFromMetadata, parseDomainXml } from '@vcpuctl/host';
import { virshFixture } from '../helpers/host-fixtures';

describe('intent in libvirt metadata', () => {
  it("reads the live and the persistent intent from captured dumpxml output, next to another tool's metadata", () => {
    const live = parseDomainXml(virshFixture('dumpxml-live-intent.xml'));
    assert.deepEqual(live.intent, {
      online: 2,
      cpus: '0-1',
      operation: 'set',
      strategy: 'hotplug',
      at: '2026-11-27T23:58:00.000Z',
      report: '20261127T235800000Z-vt-probe-set-a1b2c3',
    });
    const config = parseDomainXml(virshFixture('dumpxml-inactive-intent.xml'));
    assert.deepEqual(config.intent, { online: 1, operation: 'set', strategy: 'config', at: '2026-11-27T23:50:00.000Z' });
  });

  it('a domain without metadata has no intent', () => {
    assert.equal(parseDomainXml(virshFixture('dumpxml-live-1of2.xml')).intent, undefined);
  });

  it('writes an element that reads back the same, escaping attribute values', () => {
    const i: Intent = { online: 3, cpus: '0-2', operation: 'set', strategy: 'guest-offline', at: '2026-11-27T00:00:00.000Z', report: 'r"<&>' };
    const el = intentElement(i);
    assert.equal(el, '<intent online="3" cpus="0-2" operation="set" strategy="guest-offline" at="2026-11-27T00:00:00.000Z" report="r&quot;&lt;&amp;&gt;"/>');
    assert.ok(!el.includes("'"), 'virsh quoting takes no single quote');
    // As libvirt stores it: prefixed, with the namespace declared on the element.
    const xml = `<domain type='qemu'><name>d</name><uuid>u</uuid><metadata>${el.replace('<intent ', `<vcpuctl:intent xmlns:vcpuctl="${INTENT_NAMESPACE}" `)}</metadata><vcpu>4</vcpu></domain>`;
    assert.deepEqual(parseDomainXml(xml).intent, i);
  });

  it('matches the namespace URI, not the prefix', () => {
    const el = (prefix: string, ns: string) => ({ [`${prefix}:intent`]: { [`@xmlns:${prefix}`]: ns, '@online': '2', '@at': 't' } });
    assert.equal(intentFromMetadata(el('x', INTENT_NAMESPACE))?.online, 2);
    assert.equal(intentFromMetadata(el('vcpuctl', 'https://example.org/not-ours')), undefined);
  });

  it('ignores an intent without a usable count or time, or with an oversized attribute', () => {
    const el = (attrs: Record<string, string>) => ({ 'v:intent': { '@xmlns:v': INTENT_NAMESPACE, ...Object.fromEntries(Object.entries(attrs).map(([k, v]) => [`@${k}`, v])) } });
    assert.equal(intentFromMetadata(el({ online: '0', at: 't' })), undefined);
    assert.equal(intentFromMetadata(el({ online: 'two', at: 't' })), undefined);
    assert.equal(intentFromMetadata(el({ online: '2' })), undefined);
    assert.equal(intentFromMetadata(el({ online: '2', at: 't', cpus: '0,'.repeat(5000) }))?.cpus, undefined);
  });
});
