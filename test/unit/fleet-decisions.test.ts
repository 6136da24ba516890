/** --all's decisions: the name glob, the state filter, the hosts file, the exit rule and the parallel bound. */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeVerdict, FleetDomain, FleetResult, fleetProblems, fleetUris, globMatch, mapLimit, MAX_HOSTS, parseHosts, parseNameGlob, parseStates, summarize, worstProblem } from '@vcpuctl/host';
import { VcpuctlError } from '@vcpuctl/proto';
import { hostSnapshot } from '../helpers/host-fixtures';

const usage = (fn: () => unknown) => assert.throws(fn, (e: unknown) => e instanceof VcpuctlError && e.code === 'USAGE');

describe('fleet: name glob', () => {
  const cases: [string, string, boolean][] = [
    ['web*', 'web1', true],
    ['web*', 'web', true],
    ['web*', 'db-web1', false],
    ['*web*', 'db-web1', true],
    ['web?', 'web1', true],
    ['web?', 'web12', false],
    ['w*b*1', 'wxbyb1', true],
    ['w*b*1', 'wxbyb2', false],
    ['*', '', true],
    ['a', 'a', true],
    ['a', 'A', false],
    ['*-prod', 'api-prod', true],
    ['*-prod', 'api-prod2', false],
    ['web.1', 'webx1', false],
    ['[ab]', 'a', false],
    ['[ab]', '[ab]', true],
  ];
  for (const [glob, name, want] of cases) it(`'${glob}' ${want ? 'matches' : 'does not match'} '${name}'`, () => assert.equal(globMatch(glob, name), want));

  it('a long run of stars against a long non-matching name ends quickly', () => {
    const t = Date.now();
    assert.equal(globMatch(`${'*a'.repeat(100)}b`, 'a'.repeat(200)), false);
    assert.ok(Date.now() - t < 1000);
  });

  it('refuses an empty, oversized or control-character glob', () => {
    usage(() => parseNameGlob(''));
    usage(() => parseNameGlob('x'.repeat(257)));
    usage(() => parseNameGlob('web\n*'));
    assert.equal(parseNameGlob('web*'), 'web*');
  });
});

describe('fleet: state filter', () => {
  it('maps the CLI words to virsh domstate words, comma-separated and repeated', () => {
    assert.deepEqual([...parseStates(['running,shut-off', 'paused'])].sort(), ['paused', 'running', 'shut off']);
  });
  it('refuses an unknown word, naming the accepted ones', () => {
    assert.throws(() => parseStates(['runing']), /--state wants one of running, paused, shut-off/);
    usage(() => parseStates(['shut off']));
  });
});

describe('fleet: hosts file', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'vcpuctl-hosts-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('one URI a line, # comments, blanks ignored, duplicates once', () => {
    assert.deepEqual(parseHosts('# fleet\nqemu:///system\n\n  test:///default  # the test driver\nqemu:///system\nqemu+ssh://h/system?x#frag\n', 'f'), ['qemu:///system', 'test:///default', 'qemu+ssh://h/system?x#frag']);
  });
  it('refuses an empty list, a line of two words and too many URIs', () => {
    usage(() => parseHosts('# nothing\n', 'f'));
    assert.throws(() => parseHosts('qemu:///system test:///default\n', 'f'), /line 1: one URI per line/);
    usage(() => parseHosts(Array.from({ length: MAX_HOSTS + 1 }, (_, i) => `test:///h${i}`).join('\n'), 'f'));
  });
  it('-c first, then --hosts; the default file only without -c; else the default URI', () => {
    const file = join(dir, 'hosts');
    writeFileSync(file, 'test:///default\nqemu:///system\n');
    assert.deepEqual(fleetUris(['qemu:///system', 'qemu:///system'], file, 'x:///'), ['qemu:///system', 'test:///default']);
    assert.deepEqual(fleetUris(undefined, undefined, 'x:///', file), ['test:///default', 'qemu:///system']);
    assert.deepEqual(fleetUris(['qemu:///session'], undefined, 'x:///', file), ['qemu:///session']);
    assert.deepEqual(fleetUris(undefined, undefined, 'x:///', join(dir, 'absent')), ['x:///']);
    usage(() => fleetUris(undefined, join(dir, 'absent'), 'x:///'));
    usage(() => fleetUris(undefined, '/dev/zero', 'x:///'));
  });
});

describe('fleet: exit rule', () => {
  it('the worst problem wins whatever the order; none is exit 0', () => {
    assert.equal(worstProblem([]), undefined);
    assert.equal(worstProblem(['AGENT_UNREACHABLE', 'MISMATCH']), 'MISMATCH');
    assert.equal(worstProblem(['MISMATCH', 'LIBVIRT_UNREACHABLE', 'AGENT_UNREACHABLE']), 'LIBVIRT_UNREACHABLE');
    assert.equal(worstProblem(['AGENT_UNREACHABLE', 'DOMAIN_NOT_RUNNING', 'IDENTITY_MISMATCH']), 'DOMAIN_NOT_RUNNING');
  });

  function result(): FleetResult {
    const running = hostSnapshot();
    const off = hostSnapshot({ state: 'shut off', reason: 'shutdown' });
    const crashed = hostSnapshot({ state: 'shut off', reason: 'crashed' });
    const domains: FleetDomain[] = [
      { domain: 'a', uri: 'qemu:///system', hostName: 'h1', state: 'running', checked: true, host: running, guest: { reachable: false, error: 'none' }, verdict: computeVerdict(running, { reachable: false, error: 'none' }) },
      { domain: 'b', uri: 'qemu:///system', hostName: 'h1', state: 'shut off', checked: false, host: off },
      { domain: 'c', uri: 'qemu:///system', hostName: 'h1', state: 'shut off', checked: false, host: crashed, verdict: computeVerdict(crashed, { reachable: false }) },
    ];
    return {
      hosts: [
        { uri: 'qemu:///system', hostName: 'h1', reachable: true, domains },
        { uri: 'x:///', hostName: 'h1', reachable: false, error: { code: 'LIBVIRT_UNREACHABLE', exit: 5, message: 'no' }, domains: [] },
      ],
      summary: summarize([]),
    };
  }

  it('status --all counts only what kept a host or domain from being read; verify --all adds each verdict', () => {
    const r = result();
    assert.deepEqual(fleetProblems(r, false), ['LIBVIRT_UNREACHABLE']);
    assert.deepEqual(fleetProblems(r, true), ['AGENT_UNREACHABLE', 'DOMAIN_NOT_RUNNING', 'LIBVIRT_UNREACHABLE']);
    r.hosts.pop();
    assert.equal(worstProblem(fleetProblems(r, false)), undefined);
    assert.equal(worstProblem(fleetProblems(r, true)), 'DOMAIN_NOT_RUNNING');
  });

  it('the summary counts domains by state, checked, failing and unreachable hosts', () => {
    const s = summarize(result().hosts);
    assert.deepEqual(s, { hosts: 2, unreachableHosts: 1, domains: 3, byState: { running: 1, 'shut off': 2 }, checked: 1, ok: 0, failed: 2, unread: 0 });
  });
});

describe('fleet: bounded parallelism', () => {
  it('never runs more than the limit at once, keeps input order, and one slow item does not hold the others', async () => {
    let now = 0;
    let most = 0;
    const finished: number[] = [];
    const out = await mapLimit([...Array(20).keys()], 4, async (i) => {
      most = Math.max(most, ++now);
      await new Promise((r) => setTimeout(r, i === 0 ? 200 : 5));
      now--;
      finished.push(i);
      return i * 2;
    });
    assert.equal(most, 4);
    assert.deepEqual(
      out,
      [...Array(20).keys()].map((i) => i * 2),
    );
    assert.equal(finished[finished.length - 1], 0, 'the slow first item finished last, the other 19 passed it');
  });
});
