/**
 * vcpuctl's XML reader against a general-purpose parser (fast-xml-parser, a
 * test-only dependency) on the domain XML libvirt 9.0 wrote on this rig:
 * the same tree, value for value. Then what it must refuse.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { parseDomainXml, parseXml } from '@vcpuctl/host';

const FIXTURES = join(__dirname, '../../fixtures/virsh');
const ARRAYS = new Set(['vcpu', 'channel', 'controller']);
const reference = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (n) => ARRAYS.has(n), parseTagValue: false, ignoreDeclaration: true });

describe('the XML reader (libvirt/xml-tree.ts)', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.xml'));

  it('reads every captured domain XML exactly as a general-purpose parser does', () => {
    assert.ok(files.length >= 5);
    for (const f of files) {
      const xml = readFileSync(join(FIXTURES, f), 'utf8');
      assert.deepEqual(parseXml(xml, ARRAYS), reference.parse(xml), f);
    }
  });

  it('decodes entities and character references, keeps CDATA, skips comments and declarations', () => {
    const xml = `<?xml version="1.0"?>\n<!-- a comment --><domain type='q&amp;'><name>a&lt;b&gt;&quot;c&apos;&#65;&#x42;</name><x><![CDATA[<raw>]]></x><e/><e a="1"/></domain>`;
    assert.deepEqual(parseXml(xml), { domain: { '@type': 'q&', name: `a<b>"c'AB`, x: '<raw>', e: ['', { '@a': '1' }] } });
    // The reference leaves numeric references undecoded unless told to: compared without them.
    const named = xml.replace('&#65;&#x42;', '');
    assert.deepEqual(parseXml(named), reference.parse(named));
  });

  it('refuses what is not well-formed, with the reason', () => {
    for (const [xml, why] of [
      ['<domain><name>x</domain>', /does not close <name>/],
      ['<domain>', /never closed/],
      ['<a>AT&T</a>', /bare "&"/],
      ['<a/><b/>', /second root element/],
      ['<a>&bogus;</a>', /unknown entity/],
      ['<a>&#x110000;</a>', /out of range/],
      ['<a b=1/>', /unexpected/],
      ['text<a/>', /text outside/],
    ] as [string, RegExp][])
      assert.throws(() => parseXml(xml), why, xml);
    assert.throws(
      () => parseDomainXml('<domain><vcpu>2</vcpu>'),
      (e: { code: string }) => e.code === 'LIBVIRT_FAILED',
    );
  });

  it('an empty document is an empty tree, which parseDomainXml refuses as not a domain', () => {
    assert.deepEqual(parseXml(''), {});
    assert.throws(() => parseDomainXml(''), /not a libvirt domain XML document/);
  });

  it('keeps a numeric-looking domain name as written', () => {
    const d = parseDomainXml("<domain type='qemu'><name>007</name><uuid>x</uuid><vcpu>2</vcpu></domain>");
    assert.equal(d.name, '007');
  });
});
