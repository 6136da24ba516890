/**
 * The recorded intent on a real libvirtd: a shut-off domain changed with
 * --config gets it in its persistent metadata only, and a start carries it
 * into the running domain, where `status` shows it.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDomainXml } from '@vcpuctl/host';
import { bareDomainXml, removeDomain, setupHost, uniqueName, vcpuctl, virsh } from '../helpers/libvirt';

describe('recorded intent against a real libvirtd (QEMU domain without an OS)', function () {
  this.timeout(120_000);
  let dir: string;
  let name: string;

  before(function () {
    this.timeout(20 * 60_000);
    setupHost();
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-intent-'));
    writeFileSync(join(dir, 'agents.json'), '{"domains":{}}\n');
    name = uniqueName('vcpuctl-test');
    writeFileSync(join(dir, 'domain.xml'), bareDomainXml(name, 1, 3));
    virsh('define', join(dir, 'domain.xml'));
  });

  after(() => {
    if (name) removeDomain(name);
    rmSync(dir, { recursive: true, force: true });
  });

  const run = (args: string[]) => vcpuctl(['--report-dir', join(dir, 'reports'), '--agents-file', join(dir, 'agents.json'), ...args], { VCPUCTL_LOCK_DIR: join(dir, 'locks') });

  it('set --config on a shut-off domain records the intent in the persistent metadata only', () => {
    const r = run(['--json', 'set', name, '2', '--config']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.report.intent.flags, { live: false, config: true });
    assert.equal(out.report.intent.error, undefined);
    const config = parseDomainXml(virsh('dumpxml', '--inactive', name));
    assert.equal(config.vcpu.current, 2);
    assert.deepEqual(config.intent, { online: 2, operation: 'set', strategy: 'config', at: out.report.intent.intent.at, report: out.report.id });
    assert.match(out.report.libvirtOperations.at(-1), new RegExp(`^virsh metadata ${name} .* --config$`));
    const md = readFileSync(out.files.markdown, 'utf8');
    assert.match(md, /## Recorded intent\n\n2 online, by set \(config\) at .*; in the domain's metadata \(persistent config\)/);
  });

  it('a start carries it into the running domain, and status shows it', () => {
    virsh('start', name);
    assert.equal(parseDomainXml(virsh('dumpxml', name)).intent?.online, 2);
    const r = run(['--json', 'status', name]);
    assert.equal(r.code, 0, r.stderr);
    const [s] = JSON.parse(r.stdout);
    assert.equal(s.host.domain.intent.online, 2);
    assert.equal(s.host.domain.configIntent.online, 2);
    const text = run(['status', name]);
    assert.match(text.stdout, /^ {2}intent: 2 online, by set \(config\) at \S+, report \S+-set-[0-9a-f]+$/m);
  });
});
