import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeVerdict, listReports, lockDomain, readReport, writeReport } from '@vcpuctl/host';
import { ReportBuilder, checkReportDir } from '@vcpuctl/host/dist/core/report';
import { lockName } from '@vcpuctl/host/dist/core/lock';
import { VcpuctlError } from '@vcpuctl/proto';
import { hostSnapshot } from '../helpers/host-fixtures';

describe('reports', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'vcpuctl-reports-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function sample(op = 'verify') {
    const rb = new ReportBuilder('web1', { uri: 'qemu:///system' }, op);
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

  it('a report id keeps at most 64 characters of the domain name (a 300-character name still fits a file name)', () => {
    const rb = new ReportBuilder('d'.repeat(300), { uri: 'test:///default' }, 'verify');
    const host = hostSnapshot();
    const r = rb.finish({ host, guest: { reachable: false, error: 'x' } }, computeVerdict(host, { reachable: false, error: 'x' }), { ok: true });
    assert.match(r.id, /^\d{8}T\d{9}Z-d{64}-verify-[0-9a-f]{6}$/);
    writeReport(dir, r);
    assert.equal(readReport(dir, r.id).domain, 'd'.repeat(300));
  });

  it('checkReportDir finds an unusable directory before anything is done: empty, under a regular file, in /proc', () => {
    writeFileSync(join(dir, 'file'), '');
    const usage = (d: string, re: RegExp) =>
      assert.throws(
        () => checkReportDir(d),
        (e: VcpuctlError) => e.code === 'USAGE' && re.test(e.message) && !e.message.includes('\n'),
      );
    usage('', /report directory \(--report-dir\) is empty/);
    usage(join(dir, 'file', 'reports'), /cannot write reports to .*: ENOTDIR; nothing was changed/);
    usage('/proc/1', /cannot write reports to \/proc\/1: E[A-Z]+; nothing was changed/);
    checkReportDir(join(dir, 'new', 'reports'));
    assert.deepEqual(readdirSync(join(dir, 'new', 'reports')), [], 'the probe is removed');
  });

  it('refuses a file that is not a report', () => {
    writeFileSync(join(dir, 'other.json'), '{"schema":"something/else"}');
    assert.throws(
      () => readReport(dir, 'other'),
      (e: VcpuctlError) => e.code === 'USAGE',
    );
    assert.throws(
      () => readReport(dir, 'missing'),
      (e: VcpuctlError) => e.code === 'USAGE',
    );
    writeFileSync(join(dir, 'broken.json'), '{"sch');
    writeFileSync(join(dir, 'null.json'), 'null');
    assert.throws(
      () => readReport(dir, 'broken'),
      (e: VcpuctlError) => e.code === 'USAGE' && /not JSON/.test(e.message),
    );
    assert.throws(
      () => readReport(dir, 'null'),
      (e: VcpuctlError) => e.code === 'USAGE',
    );
    for (const id of ['../x', '/etc/passwd', '.hidden', ''])
      assert.throws(
        () => readReport(dir, id),
        (e: VcpuctlError) => e.code === 'USAGE' && /is not a report id/.test(e.message),
      );
  });

  it('puts the timeline, kernel evidence and libvirt operations in the Markdown', () => {
    const r = sample('set');
    const { markdown } = writeReport(dir, r);
    const text = readFileSync(markdown, 'utf8');
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
    // A process that takes the lock and exits holding it.
    const r = spawnSync(process.execPath, [join(__dirname, '../helpers/lock-racer.js'), dir, 'web1', dir, '0', '--die']);
    assert.equal(r.status, 0);
    (await lockDomain(dir, 'web1', 0)).release(); // a live owner would make this fail at once (LOCKED)
  });

  it('names the lock after the UUID, or a hash of other text: no name is too long, none escapes the directory', async () => {
    assert.equal(lockName('6695EB01-F6A4-8304-79AA-97F2502E193F'), '6695eb01-f6a4-8304-79aa-97f2502e193f.lock');
    assert.match(lockName('x'.repeat(300)), /^name-[0-9a-f]{32}\.lock$/);
    assert.notEqual(lockName('--domain=test'), lockName('test'));
    assert.match(lockName('../../etc'), /^name-[0-9a-f]{32}\.lock$/);
    const held = await lockDomain(dir, 'x'.repeat(300), 0);
    await assert.rejects(lockDomain(dir, 'x'.repeat(300), 0), (e: VcpuctlError) => e.code === 'LOCKED');
    held.release();
    (await lockDomain(dir, 'x'.repeat(300), 0)).release();
  });

  it('a lock directory that cannot be created is a USAGE error, not a crash', async () => {
    writeFileSync(join(dir, 'file'), '');
    await assert.rejects(lockDomain(join(dir, 'file'), 'web1', 0), (e: VcpuctlError) => e.code === 'USAGE' && /cannot create the lock directory .*ENOTDIR/.test(e.message));
  });
});
