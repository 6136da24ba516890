/**
 * Which domains a multi-domain set takes, per connection (sinon fakes stand
 * in for libvirt; the real selection is tested in test/libvirt/multi-set):
 * names on one connection as given, names looked up by name on several,
 * --all with the name and state filters, an unreachable connection.
 */
import { strict as assert } from 'node:assert';
import sinon from 'sinon';
import { Context, DomainSnapshot, setTargets } from '@vcpuctl/host';
import { VcpuctlError } from '@vcpuctl/proto';
import { fakeDriver } from '../helpers/fake-driver';
import { hostSnapshot } from '../helpers/host-fixtures';

function context(uri: string, domains: Record<string, DomainSnapshot> | 'unreachable'): Context {
  const driver = fakeDriver(uri, {
    inspect: sinon.stub().callsFake(async (n: string) => {
      if (domains === 'unreachable') throw new VcpuctlError('LIBVIRT_UNREACHABLE', 'failed to connect to the hypervisor');
      const d = domains[n];
      if (!d) throw new VcpuctlError('DOMAIN_NOT_FOUND', `failed to get domain '${n}'`);
      return d;
    }),
    listDomains: sinon.stub().callsFake(async () => {
      if (domains === 'unreachable') throw new VcpuctlError('LIBVIRT_UNREACHABLE', 'failed to connect to the hypervisor');
      return Object.keys(domains);
    }),
    inspectMany: sinon.stub().callsFake(async (names: string[]) => new Map(names.filter((n) => domains !== 'unreachable' && domains[n]).map((n) => [n, (domains as Record<string, DomainSnapshot>)[n]!]))),
  });
  return { driver, reportDir: '/nonexistent', lockDir: '/nonexistent', lockWaitMs: 0, agentFlags: {}, agentTimeoutMs: 500, progress: () => undefined };
}

const running = hostSnapshot();
const off = hostSnapshot({ state: 'shut off', reason: 'shutdown' });

describe('set on several domains: which domains', () => {
  it('one connection: names go to it as given (no listing), read for --dry-run with a missing one keeping its own error', async () => {
    const ctx = context('qemu:///system', { web1: running });
    const plain = await setTargets([ctx], { names: ['web1', 'nosuch'] }, { read: false, parallel: 2 });
    assert.deepEqual(plain.hosts[0]!.targets, [{ domain: 'web1' }, { domain: 'nosuch' }]);
    sinon.assert.notCalled(ctx.driver.listDomains as sinon.SinonStub);
    const read = await setTargets([ctx], { names: ['web1', 'nosuch'] }, { read: true, parallel: 2 });
    assert.equal(read.hosts[0]!.targets[0]!.host, running);
    assert.equal(read.hosts[0]!.targets[1]!.error!.code, 'DOMAIN_NOT_FOUND');
    assert.deepEqual(read.unmatched, []);
  });

  it('several connections: each name taken wherever it is defined; one defined nowhere is DOMAIN_NOT_FOUND; an unreachable host is its own error', async () => {
    const a = context('qemu+ssh://a/system', { web1: running, web2: running });
    const b = context('qemu+ssh://b/system', { web2: running, web3: running });
    const down = context('qemu+ssh://c/system', 'unreachable');
    const r = await setTargets([a, b, down], { names: ['web2', 'web3', 'web9'] }, { read: false, parallel: 2 });
    assert.deepEqual(
      r.hosts.map((h) => [h.uri, h.reachable, h.targets.map((t) => t.domain)]),
      [
        ['qemu+ssh://a/system', true, ['web2']],
        ['qemu+ssh://b/system', true, ['web2', 'web3']],
        ['qemu+ssh://c/system', false, []],
      ],
    );
    assert.equal(r.hosts[2]!.error!.code, 'LIBVIRT_UNREACHABLE');
    assert.deepEqual(
      r.unmatched.map((t) => [t.domain, t.error!.code]),
      [['web9', 'DOMAIN_NOT_FOUND']],
    );
    assert.match(r.unmatched[0]!.error!.message, /any of the 2 reachable connections/);
  });

  it('--all: the name glob and the state filter, as status --all applies them', async () => {
    const ctx = context('qemu:///system', { web1: running, web2: off, db1: running });
    const r = await setTargets([ctx], { filter: { nameGlob: 'web*', states: new Set(['running']) } }, { read: false, parallel: 1 });
    assert.deepEqual(
      r.hosts[0]!.targets.map((t) => t.domain),
      ['web1'],
    );
    const every = await setTargets([ctx], { filter: { nameGlob: undefined, states: undefined } }, { read: false, parallel: 1 });
    assert.deepEqual(
      every.hosts[0]!.targets.map((t) => t.domain),
      ['web1', 'web2', 'db1'],
    );
  });
});
