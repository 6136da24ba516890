/**
 * CPUS_NOT_USABLE end to end without a VM: a real agent (in this process, on
 * a real loopback socket) on a kernel-shaped CPU tree with a cgroup v2 tree
 * beside it, the host's AgentClient (through the guest-input boundary) and
 * verdict. A hot-add that pinned cgroups do not follow is pushed with the
 * cgroups that lack the new CPU; the fix in the guest is pushed too, with no
 * CPU change. The agent's command line shows the same in its JSON snapshot.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatKernelCpuList, v1 } from '@vcpuctl/proto';
import { RunningAgent, startAgent } from '@vcpuctl/guest-agent';
import { AgentClient, computeVerdict } from '@vcpuctl/host';
import { CpuTreeBuilder } from '../helpers/cpu-tree-builder';
import { CgroupTree } from '../helpers/cgroup-tree';
import { hostSnapshot } from '../helpers/host-fixtures';
import { waitFor } from '../helpers/agent-harness';
import { AGENT_BIN } from '../helpers/lscpu';

const ID = '3f4e8a1b2c9d0e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f';
const DOCKER = `/system.slice/docker-${ID}.scope`;
const NGINX = '/system.slice/nginx.service';

describe('agent: cgroups that keep workloads off CPUs (real socket)', function () {
  this.timeout(20000);
  // The recorded domain of host-fixtures: 2 vCPUs after a hot-add; the guest starts with 1.
  const host = hostSnapshot({ live: 'dumpxml-live-hotadded.xml', qmp: 'qmp-hotpluggable-2of2.json' });
  const tree = new CpuTreeBuilder({ sockets: 1, coresPerSocket: 2, threadsPerCore: 1, present: 1, possible: 2 });
  tree.setProductUuid(host.domain.uuid);
  const cgroups = new CgroupTree(tree.root, 2, '0');
  const dir = mkdtempSync(join(tmpdir(), 'vcpuctl-cgroup-agent-'));
  const token = 'cgroup-test-token-0123456789abcdef';
  let agent: RunningAgent;
  let client: AgentClient;
  const stops: (() => void)[] = [];

  before(async () => {
    cgroups.add(NGINX, '0'); // AllowedCPUs=0, set while the guest had one CPU
    cgroups.add(DOCKER, '0'); // docker run --cpuset-cpus 0
    cgroups.add('/system.slice/cron.service'); // nothing written: follows every CPU
    writeFileSync(join(dir, 'token'), `${token}\n`, { mode: 0o600 });
    stops.push(tree.simulateKernel());
    // The kernel's cpuset update after a CPU comes online, a moment later (a work item before Linux 6.10).
    let online = '0';
    const follow = setInterval(() => {
      const now = formatKernelCpuList(tree.onlineCpus());
      if (now !== online) cgroups.setOnline((online = now));
    }, 20);
    stops.push(() => clearInterval(follow));
    agent = await startAgent({
      host: '127.0.0.1',
      port: 0,
      tokenFile: join(dir, 'token'),
      tls: undefined,
      sysroot: tree.root,
      kmsgPath: join(dir, 'no-kmsg'),
      pollIntervalMs: 10,
      autoOnline: true,
      log: () => undefined,
      cgroupTimings: { settleMs: 200, recheckMs: 300 },
    });
    client = await AgentClient.connect({ url: `ws://127.0.0.1:${agent.address!.port}`, token }, { timeoutMs: 3000 });
  });

  after(async () => {
    await client?.close();
    await agent?.close();
    for (const s of stops) s();
    tree.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const events = (cb: (e: v1.CpuEvent) => void) => {
    client.on('event', cb);
    return () => client.off('event', cb);
  };
  const view = (snapshot: v1.Snapshot.$Properties) => ({ reachable: true, via: 'websocket' as const, productUuid: client.hello.productUuid, snapshot });

  it('nothing restricted while the pinned cgroups have every online CPU', async () => {
    const s = await client.subscribe();
    assert.equal(s.online, '0');
    assert.equal(s.cgroupRead, v1.CgroupRead.CGROUP_READ_WHOLE);
    assert.equal(s.cgroupVersion, 2);
    assert.deepEqual(s.restricted, []);
  });

  it('a hot-add: the new CPU is online, and the pinned unit and container are named as lacking it', async () => {
    const lacking = waitFor(events, (e) => e.snapshot?.online === '0-1' && e.snapshot.restricted?.length === 2, 5000, 'a snapshot naming both cgroups');
    tree.hotAdd(1); // the agent onlines it (auto-online), the kernel updates the cpusets
    const e = await lacking;
    assert.deepEqual(
      (e.snapshot!.restricted ?? []).map((r) => [r.path, v1.CgroupRestriction.Kind[r.kind ?? 0], r.name, r.cpus, r.lacks]),
      [
        [DOCKER, 'DOCKER', ID, '0', '1'],
        [NGINX, 'SYSTEMD_UNIT', 'nginx.service', '0', '1'],
      ],
    );
    const v = computeVerdict(host, view(e.snapshot!));
    const f = v.findings.find((x) => x.kind === 'CPUS_NOT_USABLE');
    assert.ok(f, JSON.stringify(v.findings));
    assert.equal(f.severity, 'warning');
    assert.match(f.message, /^CPU 1 is online in the guest but not usable by every workload: 2 cgroups .*docker container 3f4e8a1b2c9d \(runs on 0, lacks 1\), nginx\.service/);
    assert.match(f.advice, /`docker update --cpuset-cpus 0-1 3f4e8a1b2c9d`; `systemctl set-property nginx\.service AllowedCPUs=0-1`/);
  });

  it('the fix in the guest is pushed without a CPU change, and the finding goes', async () => {
    const fixed = waitFor(events, (e) => e.changes.length === 0 && e.snapshot?.restricted?.length === 0, 5000, 'a snapshot with nothing restricted');
    cgroups.setCpus(DOCKER, '0-1'); // docker update --cpuset-cpus 0-1
    cgroups.setCpus(NGINX, '0-1'); // systemctl set-property nginx.service AllowedCPUs=0-1
    const e = await fixed;
    assert.equal(e.snapshot!.online, '0-1');
    assert.equal(
      computeVerdict(host, view(e.snapshot!)).findings.find((x) => x.kind === 'CPUS_NOT_USABLE'),
      undefined,
    );
    assert.deepEqual((await client.snapshot()).restricted, []);
  });

  it("the agent's command line shows the cgroups in its JSON snapshot", () => {
    cgroups.setCpus(NGINX, '0');
    const out = JSON.parse(execFileSync(process.execPath, [AGENT_BIN, 'snapshot', '--sysroot', tree.root, '--format', 'json'], { encoding: 'utf8' }));
    assert.deepEqual(out.restricted, [{ path: NGINX, kind: v1.CgroupRestriction.Kind.SYSTEMD_UNIT, name: 'nginx.service', pod: '', cpus: '0', lacks: '1' }]);
    assert.equal(out.cgroupRead, v1.CgroupRead.CGROUP_READ_WHOLE);
  });
});
