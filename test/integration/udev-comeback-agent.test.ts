/**
 * A CPU offlined and brought back by something else than the agent, on a real
 * agent and a kernel-shaped tree: the test plays udev's part (it writes the
 * CPU's online file back as a rule would), and the guest's rules directory
 * holds the rule, or not. The agent's pushed change names the rule with
 * file:line, or says none was found; its snapshot carries the rules for
 * doctor, read again when a rules file appears.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { v1 } from '@vcpuctl/proto';
import { checkCpuEvent } from '@vcpuctl/host/dist/guest/guest-input';
import { changeText } from '@vcpuctl/host/dist/guest/change-text';
import { AgentHarness } from '../helpers/agent-harness';

const Kind = v1.CpuChange.Kind;

describe('a CPU fought back online (a real agent, udev played by the test)', function () {
  this.timeout(30_000);
  const h = new AgentHarness({ sockets: 1, coresPerSocket: 4, threadsPerCore: 1 });
  before(() => h.start({ autoOnline: true }));
  after(() => h.stop());

  /** Offlines `cpu` through the agent, then writes 1 to its online file `afterMs` later, as udev would run a rule. */
  async function offlineAndFightBack(cpu: number, afterMs: number): Promise<v1.ICpuChange> {
    const c = await h.connect();
    await c.subscribe();
    const back = new Promise<v1.ICpuChange>((resolve) =>
      c.on('event', (e: v1.CpuEvent) => {
        const ch = e.changes.find((x) => x.cpu === cpu && x.kind === Kind.ONLINED);
        if (ch) resolve(ch);
      }),
    );
    const r = await c.setOnline([{ cpu, online: false }]);
    assert.equal(r.results[0]!.outcome, v1.CpuResult.Outcome.CHANGED);
    await new Promise((res) => setTimeout(res, afterMs));
    writeFileSync(join(h.tree.cpuDir, `cpu${cpu}/online`), '1\n');
    return back;
  }

  it('no rules directory: the change says no rule was found, and that which process did it cannot be known', async () => {
    const ch = await offlineAndFightBack(3, 300);
    assert.ok(ch.backAfterMs! >= 250 && ch.backAfterMs! < 5000, `${ch.backAfterMs}`);
    assert.equal(ch.rulesReadWhole, true);
    assert.deepEqual(ch.suspects, []);
    assert.ok(
      h.log.some((l) => /cpu3 came back online 0\.\d s after it went offline, not by this agent: no udev rule onlines CPUs on such events \(0 rules files read\)/.test(l)),
      h.log.join('\n'),
    );
  });

  it('a fighting rule in /run/udev/rules.d: doctor sees it in the snapshot, and the comeback names it with file:line', async () => {
    mkdirSync(join(h.tree.root, 'run/udev/rules.d'), { recursive: true });
    writeFileSync(join(h.tree.root, 'run/udev/rules.d/99-cpu-online.rules'), '# keep every CPU online\nSUBSYSTEM=="cpu", ACTION!="remove", ATTR{online}="1"\n');
    const ch = await offlineAndFightBack(2, 200);
    assert.deepEqual(
      (ch.suspects ?? []).map((r) => [r.file, r.line, r.fightsOffline]),
      [['/run/udev/rules.d/99-cpu-online.rules', 2, true]],
    );
    assert.match(changeText(checkCpuEvent({ changes: [ch] }).changes[0]!), /^cpu2 ONLINED: came back online 0\.\d s after it went offline, not by the agent: likely the udev rule \/run\/udev\/rules\.d\/99-cpu-online\.rules:2$/);
    const snap = await (await h.connect()).snapshot();
    assert.equal(snap.udevRead, v1.UdevRead.UDEV_READ_WHOLE);
    assert.deepEqual(
      snap.udevRules.map((r) => `${r.file}:${r.line} ${r.actions}`),
      ['/run/udev/rules.d/99-cpu-online.rules:2 add|change|move|online|offline|bind|unbind'],
    );
  });

  it("a request's online is no comeback, even when the kernel shows it a poll or more later", async () => {
    const c = await h.connect();
    await c.subscribe();
    const seen: v1.ICpuChange[] = [];
    const change = (kind: number) =>
      new Promise<v1.ICpuChange>((resolve) =>
        c.on('event', (e: v1.CpuEvent) => {
          const hit = e.changes.find((x) => x.cpu === 1 && x.kind === kind);
          if (hit) resolve(hit);
        }),
      );
    c.on('event', (e: v1.CpuEvent) => seen.push(...e.changes));
    const offlined = change(Kind.OFFLINED);
    await c.setOnline([{ cpu: 1, online: false }]);
    // The offline seen first: an offline and an online inside one of the agent's polls leave no change to see at all.
    await offlined;
    const onlined = change(Kind.ONLINED);
    await c.setOnline([{ cpu: 1, online: true }]);
    const on = await onlined;
    assert.equal(on.backAfterMs, 0, JSON.stringify(seen));
    assert.deepEqual(on.suspects, []);
    assert.ok(!h.log.some((l) => /cpu1 came back online/.test(l)), h.log.join('\n'));
  });
});
