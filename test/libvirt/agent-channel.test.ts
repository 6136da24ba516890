/**
 * `vcpuctl agent attach/detach` and channel discovery against the real
 * libvirtd and QEMU domains without an OS: the channel added and removed live
 * and in the persistent config, idempotently, read back with virsh; a running
 * domain without a virtio-serial controller (libvirt cannot hot-plug one); a
 * shut-off domain; and `status` naming a channel nothing in the guest opened.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bareDomainXml, defineAndStart, removeDomain, removeLeftovers, setupHost, uniqueName, vcpuctl, virsh } from '../helpers/libvirt';

const PREFIX = 'vcpuctl-test';
const CHANNEL = 'org.vcpuctl.agent.0';

/** The channels named in `virsh dumpxml` (live) or `dumpxml --inactive` (config). */
function channels(name: string, inactive: boolean): string[] {
  const xml = inactive ? virsh('dumpxml', '--inactive', name) : virsh('dumpxml', name);
  return [...xml.matchAll(/<target type='virtio' name='([^']+)'/g)].map((m) => m[1]!);
}

describe('vcpuctl agent attach/detach against a real libvirtd', function () {
  this.timeout(120_000);
  const domains: string[] = [];
  let dir: string;
  let base: string[];

  before(function () {
    this.timeout(20 * 60_000);
    setupHost();
    removeLeftovers(PREFIX);
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-channel-'));
    const agents = join(dir, 'agents.json');
    writeFileSync(agents, '{"domains":{}}\n');
    base = ['--report-dir', join(dir, 'reports'), '-c', 'qemu:///system', '--agents-file', agents];
  });

  after(() => {
    for (const d of domains) removeDomain(d);
    rmSync(dir, { recursive: true, force: true });
  });

  const run = (args: string[]) => vcpuctl([...base, ...args], { VCPUCTL_LOCK_DIR: join(dir, 'locks') });
  const json = (args: string[]) => {
    const r = run(['--json', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };

  function newDomain(opts: { controller: boolean; start: boolean }): string {
    const name = uniqueName(PREFIX);
    domains.push(name);
    let xml = bareDomainXml(name, 1, 2);
    if (opts.controller) xml = xml.replace('</devices>', "<controller type='virtio-serial'/></devices>");
    if (opts.start) defineAndStart(name, xml);
    else {
      const file = join(dir, `${name}.xml`);
      writeFileSync(file, xml);
      virsh('define', file);
    }
    return name;
  }

  it('adds the channel live and persistently, then is a no-op; detach removes both sides, then is a no-op', () => {
    const dom = newDomain({ controller: true, start: true });
    // The dry run: the plan the run carries out, nothing changed.
    assert.deepEqual(json(['agent', 'attach', dom, '--dry-run']), { domain: dom, channel: CHANNEL, dryRun: true, live: 'add', config: 'add' });
    assert.deepEqual([channels(dom, false), channels(dom, true)], [[], []], 'the dry run changed nothing');
    // No OS, so nothing opens the port: attach says so after its bounded wait.
    assert.deepEqual(json(['agent', 'attach', dom]), { domain: dom, channel: CHANNEL, live: 'added', config: 'added', guest: 'not open' });
    assert.deepEqual(json(['agent', 'attach', dom, '--dry-run']), { domain: dom, channel: CHANNEL, dryRun: true, live: 'already', config: 'already' });
    assert.deepEqual([channels(dom, false), channels(dom, true)], [[CHANNEL], [CHANNEL]]);
    assert.match(virsh('dumpxml', dom), new RegExp(`<source mode='bind' path='/var/lib/libvirt/qemu/channel/target/[^']+/${CHANNEL.replace(/\./g, '\\.')}'/>`));
    assert.deepEqual(json(['agent', 'attach', dom]), { domain: dom, channel: CHANNEL, live: 'already', config: 'already', guest: 'not open' });
    assert.deepEqual([channels(dom, false), channels(dom, true)], [[CHANNEL], [CHANNEL]], 'no second channel');

    // Nothing in this guest (it has no OS) opened the port: status says so, without waiting on it.
    const [s] = json(['status', dom]);
    assert.equal(s.guest.reachable, false);
    assert.match(s.guest.error, /org\.vcpuctl\.agent\.0 channel is there but nothing in the guest has it open/);
    assert.deepEqual(
      s.verdict.findings.map((f: { kind: string }) => f.kind),
      ['AGENT_UNREACHABLE'],
    );

    assert.deepEqual(json(['agent', 'detach', dom]), { domain: dom, channel: CHANNEL, live: 'removed', config: 'removed' });
    assert.deepEqual([channels(dom, false), channels(dom, true)], [[], []]);
    assert.deepEqual(json(['agent', 'detach', dom]), { domain: dom, channel: CHANNEL, live: 'already', config: 'already' });
    const text = run(['agent', 'detach', dom]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /running domain: +already\n +persistent config: +already/);
  });

  it('a running domain without a virtio-serial controller gets the channel in its config only, and is told why', () => {
    const dom = newDomain({ controller: false, start: true });
    const plan = json(['agent', 'attach', dom, '--dry-run']);
    assert.deepEqual([plan.dryRun, plan.live, plan.config], [true, 'at next start', 'add']);
    assert.deepEqual([channels(dom, false), channels(dom, true)], [[], []], 'the dry run changed nothing');
    const r = json(['agent', 'attach', dom]);
    assert.equal(r.note, plan.note, 'the dry run says what the run says');
    assert.deepEqual([r.live, r.config], ['at next start', 'added']);
    assert.match(r.note, /no virtio-serial controller and libvirt cannot hot-plug one/);
    assert.deepEqual([channels(dom, false), channels(dom, true)], [[], [CHANNEL]]);
    assert.match(virsh('dumpxml', '--inactive', dom), /<controller type='virtio-serial'/, 'libvirt added the controller to the config');
    // Idempotent: the config side is already done, the live side still waits for a start.
    const again = json(['agent', 'attach', dom]);
    assert.deepEqual([again.live, again.config], ['at next start', 'already']);
  });

  it('a shut-off domain is changed in its persistent config only', () => {
    const dom = newDomain({ controller: false, start: false });
    assert.deepEqual(json(['agent', 'attach', dom, '--dry-run']), { domain: dom, channel: CHANNEL, dryRun: true, live: 'not running', config: 'add' });
    assert.deepEqual(channels(dom, true), []);
    assert.deepEqual(json(['agent', 'attach', dom]), { domain: dom, channel: CHANNEL, live: 'not running', config: 'added' });
    assert.deepEqual(channels(dom, true), [CHANNEL]);
    assert.deepEqual(json(['agent', 'attach', dom]), { domain: dom, channel: CHANNEL, live: 'not running', config: 'already' });
    assert.deepEqual(json(['agent', 'detach', dom]), { domain: dom, channel: CHANNEL, live: 'not running', config: 'removed' });
    assert.deepEqual(channels(dom, true), []);
  });

  it('an unknown domain is its own error, nothing changed', () => {
    const r = run(['agent', 'attach', `${PREFIX}-${process.pid}-nosuchdomain`]);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /^vcpuctl: DOMAIN_NOT_FOUND: /);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });
});
