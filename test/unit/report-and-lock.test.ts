import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeVerdict, listReports, lockDomain, readReport, writeReport } from '@vcpuctl/host';
import { ReportBuilder } from '@vcpuctl/host/dist/core/report';
import { VcpuctlError } from '@vcpuctl/proto';
import { hostSnapshot } from '../helpers/host-fixtures';

describe('reports', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'vcpuctl-reports-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function sample(op = 'verify') {
    const rb = new ReportBuilder('web1', 'qemu:///system', op);
    rb.mark('command issued: virsh setvcpus web1 2 --live');
    rb.libvirtOperations.push('virsh setvcpus web1 2 --live');
    rb.kernel([{ seq: 398, usec: 4717095, message: 'CPU1 has been hot-added', receivedAtMs: 1 }]);
    const host = hostSnapshot();
    return rb.finish({ host, guest: { reachable: false, error: 'x' } }, computeVerdict(host, { reachable: false, error: 'x' }), { ok: true });
  }

  it('writes JSON and Markdown and reads them back', () => {
    const r = sample();
    const files = writeReport(dir, r);
    assert.deepEqual(readdirSync(dir).sort(), [`${r.id}.json`, `${r.id}.md`]);
    assert.deepEqual(listReports(dir), [r.id]);
    const back = readReport(dir, r.id);
    assert.deepEqual(back, JSON.parse(JSON.stringify(r)));
    assert.equal(back.schema, 'vcpuctl.report/v1');
    assert.ok(files.markdown.endsWith('.md'));
  });

  it('never overwrites an older report', () => {
    const r = sample();
    writeReport(dir, r);
    assert.throws(() => writeReport(dir, r), /EEXIST/);
    assert.deepEqual(readdirSync(dir).filter((n) => !n.startsWith('.')).length, 2, 'no temp file left, old report intact');
  });

  it('refuses a file that is not a report', () => {
    writeFileSync(join(dir, 'other.json'), '{"schema":"something/else"}');
    assert.throws(() => readReport(dir, 'other'), (e: VcpuctlError) => e.code === 'USAGE');
    assert.throws(() => readReport(dir, 'missing'), (e: VcpuctlError) => e.code === 'USAGE');
  });

  it('puts the timeline, kernel evidence and libvirt operations in the Markdown', () => {
    const r = sample('set');
    const { markdown } = writeReport(dir, r);
    const text = require('node:fs').readFileSync(markdown, 'utf8') as string;
    assert.match(text, /\[4\.717095\] CPU1 has been hot-added/);
    assert.match(text, /`virsh setvcpus web1 2 --live`/);
    assert.match(text, /AGENT_UNREACHABLE/);
  });
});

describe('per-domain lock', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'vcpuctl-locks-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('lets one holder in and makes the second fail clearly after waiting', async () => {
    const held = await lockDomain(dir, 'web1', 0);
    const t0 = Date.now();
    await assert.rejects(lockDomain(dir, 'web1', 300), (e: VcpuctlError) => e.code === 'LOCKED' && e.message.includes(`pid ${process.pid}`));
    assert.ok(Date.now() - t0 >= 300);
    held.release();
    (await lockDomain(dir, 'web1', 0)).release();
  });

  it('the second waits and gets the lock when the first releases', async () => {
    const held = await lockDomain(dir, 'web1', 0);
    setTimeout(() => held.release(), 200);
    (await lockDomain(dir, 'web1', 5000)).release();
  });

  it('takes over a lock left by a dead process', async () => {
    writeFileSync(join(dir, 'web1.lock'), '999999999\n');
    (await lockDomain(dir, 'web1', 0)).release();
  });
});
