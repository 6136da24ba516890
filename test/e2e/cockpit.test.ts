/**
 * The Cockpit page (packages/cockpit) in a real Cockpit, driven by a real
 * browser, against the real libvirtd and one real guest running the agent
 * on its channel: Debian's cockpit-ws serves Cockpit as root with
 * --local-session (no login, no systemd), the page is found in a temporary
 * HOME's ~/.local/share/cockpit/vcpuctl, and `vcpuctl` on the bridge's PATH
 * is a wrapper running this checkout's CLI. Headless chromium (the system's,
 * through playwright-core) does what an operator does, keyboard included.
 * Writes docs/cockpit-fleet.png and docs/cockpit-domain.png.
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser, Frame, FrameLocator, Page, chromium } from 'playwright-core';
import { setupHost, vcpuCount, vcpuctlAsync } from '../helpers/libvirt';
import { until } from './e2e-helpers';
import { TestGuest, freePort, removeRigLeftovers } from './rig/guest';

const ROOT = join(__dirname, '../../..');
const PAGE = join(ROOT, 'packages/cockpit/dist');
const FRAME = 'cockpit1:localhost/vcpuctl';

describe('e2e: the Cockpit page (cockpit-ws, chromium, a real guest)', function () {
  this.timeout(60_000);
  let g: TestGuest | undefined;
  let dir: string;
  let ws: ChildProcess | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let ui: FrameLocator;
  let reports: string;

  const row = () => ui.locator(`tr[data-domain="${g!.name}"]`);
  const cell = (col: string) => row().locator(`td[data-col="${col}"]`);
  const frame = (): Frame => page.frame({ name: FRAME })!;

  before(async function () {
    this.timeout(20 * 60_000); // a fresh machine installs QEMU, libvirt, Cockpit and chromium first
    setupHost();
    removeRigLeftovers();
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-e2e-cockpit-'));
    const booting = TestGuest.boot({ current: 1, maximum: 2, agentChannel: true, channelAtBoot: true });
    booting.catch(() => undefined);
    // Cockpit's bridge finds user packages in $XDG_DATA_HOME/cockpit (default ~/.local/share/cockpit).
    const home = join(dir, 'home');
    mkdirSync(join(home, '.local/share/cockpit'), { recursive: true });
    symlinkSync(PAGE, join(home, '.local/share/cockpit/vcpuctl'));
    reports = join(dir, 'reports');
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'vcpuctl'), `#!/bin/sh\nexec ${process.execPath} ${join(ROOT, 'packages/host/bin/vcpuctl.js')} --report-dir ${reports} "$@"\n`, { mode: 0o755 });
    const port = await freePort();
    ws = spawn('/usr/lib/cockpit/cockpit-ws', ['--no-tls', '--address', '127.0.0.1', '--port', String(port), '--local-session=cockpit-bridge'], {
      env: { ...process.env, HOME: home, XDG_DATA_HOME: join(home, '.local/share'), PATH: `${bin}:${process.env.PATH}`, VCPUCTL_LOCK_DIR: join(dir, 'locks'), LIBVIRT_DEFAULT_URI: 'qemu:///system' },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true, // its own process group: the bridge and every vcpuctl it runs are stopped with it
    });
    let wsLog = '';
    ws.stderr!.on('data', (d: Buffer) => (wsLog += d.toString()));
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    // The test injects axe-core into the page; Cockpit's CSP would refuse that script (and only that).
    page = await (await browser.newContext({ viewport: { width: 1400, height: 900 }, bypassCSP: true })).newPage();
    g = await booting;
    await g.waitForAgent();
    await until(`cockpit-ws on port ${port} (${wsLog})`, 10_000, async () => (await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined))?.ok === true);
    await page.goto(`http://127.0.0.1:${port}/vcpuctl`);
    ui = page.frameLocator(`iframe[name="${FRAME}"]`);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && g) process.stderr.write(`--- ${g.name} console ---\n${g.consoleTail(30)}\n`);
  });

  after(async function () {
    this.timeout(60_000);
    await browser?.close().catch(() => undefined);
    if (ws?.pid) {
      try {
        process.kill(-ws.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    g?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("Cockpit's menu has the page, and its table lists the guest with its true counts, live", async () => {
    await page.locator('a', { hasText: 'vCPUs' }).first().waitFor({ timeout: 20_000 });
    await row().waitFor({ timeout: 30_000 });
    await until('the guest reached over its channel', 30_000, async () => (await cell('via').innerText()) === 'channel');
    const counts = vcpuCount(g!.name);
    assert.equal(await cell('live').innerText(), `${counts['current live']} / ${counts['maximum live']}`);
    assert.equal(await cell('config').innerText(), `${counts['current config']} / ${counts['maximum config']}`);
    assert.equal(await cell('qemu').innerText(), '1');
    assert.equal(await cell('guest').innerText(), 'present 0, online 0');
    assert.match(await cell('verdict').innerText(), /agree/);
    assert.match(await ui.locator('[data-testid="watch-state"]').innerText(), /^Live/);
  });

  it('axe-core finds no serious or critical violation in the fleet table', async () => {
    await frame().addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
    const violations = (await frame().evaluate('axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")) })))')) as {
      id: string;
      impact: string;
      nodes: string[];
    }[];
    const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(bad, [], JSON.stringify(bad, null, 2));
    await page.screenshot({ path: join(ROOT, 'docs/cockpit-fleet.png') });
  });

  it('set 1 → 2 by keyboard alone: the dry-run plan, then confirmed; the guest kernel shows it and the table follows', async () => {
    await row()
      .getByRole('button', { name: `Details of ${g!.name}` })
      .focus();
    await page.keyboard.press('Enter');
    const count = ui.locator('#vcpuctl-count');
    await count.waitFor();
    for (let i = 0; i < 40 && !(await count.evaluate((e) => e === e.ownerDocument.activeElement)); i++) await page.keyboard.press('Tab');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('2');
    await page.keyboard.press('Enter'); // submits the form: the preview
    const plan = ui.locator('[data-testid="plan"]');
    await plan.waitFor({ timeout: 15_000 });
    assert.match(await plan.innerText(), /Strategy: hotplug[\s\S]*virsh setvcpus \S+ 2 --live \(hot-add 1\)/);
    const confirm = ui.getByRole('button', { name: 'Confirm' });
    for (let i = 0; i < 10 && !(await confirm.evaluate((e) => e === e.ownerDocument.activeElement)); i++) await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await ui.locator('[data-testid="success"]').waitFor({ timeout: 30_000 });
    assert.equal(vcpuCount(g!.name)['current live'], 2);
    assert.equal((await g!.helper('GET', '/cpu-online')).trim(), '0-1', "the guest kernel's own view");
    await ui.getByRole('button', { name: '← All domains' }).click();
    await until('the table to show 2 live and online 0-1', 10_000, async () => (await cell('live').innerText()) === '2 / 2' && (await cell('guest').innerText()) === 'present 0-1, online 0-1');
  });

  it('an offline made inside the guest shows as drift within 2 s, without a reload', async () => {
    await g!.helper('POST', '/cpu-online?cpu=1&value=0'); // returns once the guest kernel has offlined it
    const t0 = Date.now();
    await until('GUEST_DRIFT in the table', 5000, async () => /GUEST_DRIFT/.test(await cell('verdict').innerText()));
    const ms = Date.now() - t0;
    assert.ok(ms < 2000, `drift shown after ${ms} ms`);
    assert.match(await cell('verdict').innerText(), /drift/);
    await g!.helper('POST', '/cpu-online?cpu=1&value=1');
    await until('agreement again', 5000, async () => !/GUEST_DRIFT/.test(await cell('verdict').innerText()));
  });

  it("a set over the maximum is refused in its plan with the CLI's code and message; nothing can be confirmed", async () => {
    await row()
      .getByRole('button', { name: `Details of ${g!.name}` })
      .click();
    await ui.locator('#vcpuctl-count').fill('3');
    await ui.getByRole('button', { name: 'Preview set' }).click();
    const failure = ui.locator('[data-testid="plan"] [data-testid="failure"]');
    await failure.waitFor({ timeout: 15_000 });
    assert.equal(await failure.getAttribute('data-code'), 'OVER_MAXIMUM');
    const cli = await vcpuctlAsync(['--report-dir', reports, '--json', 'set', g!.name, '3', '--dry-run']);
    const expected = JSON.parse(cli.stdout).hosts[0].domains[0].error;
    assert.equal(expected.code, 'OVER_MAXIMUM');
    assert.equal(await failure.locator('.vcpuctl-failure-message').innerText(), expected.message);
    assert.equal(await ui.getByRole('button', { name: 'Confirm' }).isDisabled(), true);
    await ui.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(vcpuCount(g!.name)['current live'], 2, 'nothing was changed');
  });

  it("the domain's detail: lscpu, the last change's timeline and latency, a report rendered as text", async () => {
    await until("the guest's lscpu", 10_000, async () => /On-line CPU\(s\) list:\s+0[,-]1/.test(await ui.locator('[data-testid="lscpu"]').innerText())).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await ui.locator('[data-testid="detail"]').innerText()}`);
    });
    assert.match(
      (await ui.locator('svg[aria-label^="Timeline of"]').getAttribute('aria-label')) ?? '',
      /request at \+0 ms, libvirt returned at \+\d+ ms, present in the guest at \+\d+ ms, online at \+\d+ ms, confirmed at \+\d+ ms/,
    );
    assert.match((await ui.locator('svg[aria-label^="Recent set latencies"]').getAttribute('aria-label')) ?? '', /\d+ ms/);
    await ui.getByRole('button', { name: /-set-/ }).first().click();
    const report = ui.locator('[data-testid="report"]');
    await report.waitFor({ timeout: 10_000 });
    assert.match(await report.innerText(), /vcpuctl set on/);
    await page.screenshot({ path: join(ROOT, 'docs/cockpit-domain.png'), fullPage: true });
    assert.ok(readFileSync(join(ROOT, 'docs/cockpit-domain.png')).length > 10_000);
  });
});
