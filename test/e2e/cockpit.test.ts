/**
 * The Cockpit page (packages/cockpit) in a real Cockpit, driven by a real
 * browser, against the real libvirtd and one real guest running the agent
 * on its channel: Debian's cockpit-ws serves Cockpit as root with
 * --local-session (no login, no systemd); the page is the one the
 * cockpit-vcpuctl .deb installs (built by scripts/package.sh, unpacked by
 * dpkg-deb into a temporary directory named in XDG_DATA_DIRS, where Cockpit's
 * bridge looks for packages: never into this machine's /usr), and `vcpuctl`
 * on the bridge's PATH is a wrapper running this checkout's CLI. Headless
 * chromium (the system's, through playwright-core) does what an operator
 * does, keyboard included. The guest's root makes its hostname and a kernel
 * line hostile markup. Last, a test user logs in through cockpit-ws's real
 * login form (cockpit-session, PAM): read-only without administrative
 * access, able to change once Cockpit's superuser (sudo) is on.
 * Writes docs/cockpit-fleet.png and docs/cockpit-domain.png.
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Browser, Frame, FrameLocator, Locator, Page, chromium } from 'playwright-core';
import { DomainLock, lockDomain } from '@vcpuctl/host/dist/core/lock';
import { setupHost, vcpuCount, vcpuctlAsync } from '../helpers/libvirt';
import { until } from './e2e-helpers';
import { TestGuest, freePort, removeRigLeftovers } from './rig/guest';

const ROOT = join(__dirname, '../../..');
const VERSION: string = JSON.parse(readFileSync(join(ROOT, 'packages/host/package.json'), 'utf8')).version;
const FRAME = 'cockpit1:localhost/vcpuctl';
/** What a guest's root can make its agent report: an escape sequence and markup with a handler that would set a flag. */
const HOSTILE_HOSTNAME = '\x1b[31m<img src=x onerror="window.__pwned=1;top.__pwned=1">';
/** The same in a kernel line (CPU1 in it, so the agent takes it for evidence), written to /dev/kmsg during a set. */
const HOSTILE_KERNEL_LINE = 'CPU1 \x1b[31m<img src=x onerror="window.__pwned=2;top.__pwned=2"> from the guest';
/** The page's --lock-wait (packages/cockpit/src/actions.tsx's LOCK_WAIT_SECONDS). */
const LOCK_WAIT_MS = 2000;

/** A confirmed change's outcome in the Change section: its success alert, or a failure naming vcpuctl's code and message. */
async function outcome(ui: FrameLocator): Promise<Locator> {
  const shown = ui.locator('.vcpuctl-actions > [data-testid="success"], .vcpuctl-actions > [data-testid="failure"]');
  await shown.waitFor({ timeout: 20_000 });
  assert.equal(await shown.getAttribute('data-testid'), 'success', await shown.innerText());
  return shown;
}

describe('e2e: the Cockpit page (cockpit-ws, chromium, a real guest)', function () {
  this.timeout(60_000);
  let g: TestGuest | undefined;
  /** The guest while it boots: destroyed in after() even if before() failed before it was awaited. */
  let booting: Promise<TestGuest> | undefined;
  let dir: string;
  let ws: ChildProcess | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let ui: FrameLocator;
  let reports: string;
  let locks: string;
  let bin: string;
  /** The cockpit-vcpuctl .deb unpacked: its usr/share holds cockpit/vcpuctl. */
  let pkg: string;

  /**
   * The CLI as an operator beside the page runs it: with the page's lock directory (the wrapper's VCPUCTL_LOCK_DIR), so
   * that it and the page's watch take turns on the guest's channel as they do on a host, where both use the default one.
   * With another directory the two would open the channel over each other: QEMU serves one at a time, the other's Hello
   * never comes, and the watch pauses its guest for 10 s (watch/guest-feed.ts RETRY_MAX_MS). Found by a CI run.
   */
  const cli = (args: string[]) => vcpuctlAsync(['--report-dir', reports, ...args], { VCPUCTL_LOCK_DIR: locks });
  const row = () => ui.locator(`tr[data-domain="${g!.name}"]`);
  const cell = (col: string) => row().locator(`td[data-col="${col}"]`);
  const frame = (): Frame => page.frame({ name: FRAME })!;

  before(async function () {
    this.timeout(20 * 60_000); // a fresh machine installs QEMU, libvirt, Cockpit and chromium first
    setupHost();
    removeRigLeftovers();
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-e2e-cockpit-'));
    chmodSync(dir, 0o755); // the login test's user runs the wrapper and reads the page from here
    booting = TestGuest.boot({ current: 1, maximum: 2, agentChannel: true, channelAtBoot: true, hostname: HOSTILE_HOSTNAME });
    booting.catch(() => undefined);
    // The page as the package installs it, from this build (scripts/package.sh builds every package, about 6 s).
    const built = join(dir, 'built');
    await promisify(execFile)('bash', [join(ROOT, 'scripts/package.sh'), '--no-build', '--out', built]);
    pkg = join(dir, 'cockpit-vcpuctl');
    execFileSync('dpkg-deb', ['-x', join(built, `cockpit-vcpuctl_${VERSION}_all.deb`), pkg]);
    rmSync(built, { recursive: true, force: true });
    // Cockpit's bridge finds packages in $XDG_DATA_DIRS/cockpit (the package's, then the system's shell) and
    // $XDG_DATA_HOME/cockpit (here an empty HOME's: nothing there can stand in for the package's page).
    const home = join(dir, 'home');
    mkdirSync(join(home, '.local/share'), { recursive: true });
    const bridgeEnv = { XDG_DATA_DIRS: `${join(pkg, 'usr/share')}:/usr/share`, XDG_DATA_HOME: join(home, '.local/share') };
    const found = execFileSync('cockpit-bridge', ['--packages'], { encoding: 'utf8', env: { ...process.env, ...bridgeEnv } });
    assert.match(found, new RegExp(`^vcpuctl\\s+vCPUs\\s+${join(pkg, 'usr/share/cockpit/vcpuctl')}$`, 'm'), found);
    reports = join(dir, 'reports');
    locks = join(dir, 'locks');
    bin = join(dir, 'bin');
    mkdirSync(bin, { mode: 0o755 });
    // Whoever runs it (the bridge as root here; the login test's user, or root through its sudo), the same libvirt, locks and reports.
    writeFileSync(
      join(bin, 'vcpuctl'),
      `#!/bin/sh\nexport VCPUCTL_LOCK_DIR=${locks} LIBVIRT_DEFAULT_URI=\${LIBVIRT_DEFAULT_URI:-qemu:///system}\nexec ${process.execPath} ${join(ROOT, 'packages/host/bin/vcpuctl.js')} --report-dir ${reports} "$@"\n`,
      { mode: 0o755 },
    );
    const port = await freePort();
    ws = spawn('/usr/lib/cockpit/cockpit-ws', ['--no-tls', '--address', '127.0.0.1', '--port', String(port), '--local-session=cockpit-bridge'], {
      env: { ...process.env, HOME: home, ...bridgeEnv, PATH: `${bin}:${process.env.PATH}`, LIBVIRT_DEFAULT_URI: 'qemu:///system' },
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
    (g ?? (await booting?.catch(() => undefined)))?.destroy();
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
    // The guest's root writes a hostile kernel line the moment CPU 1 appears: the set's report carries it (shown further down).
    await g!.helper('POST', `/kmsg-when-present?cpu=1&text=${encodeURIComponent(HOSTILE_KERNEL_LINE)}`);
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
    const dry = await cli(['--json', 'set', g!.name, '3', '--dry-run']);
    const expected = JSON.parse(dry.stdout).hosts[0].domains[0].error;
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

  it('hostile guest strings (escape bytes, <img onerror>) show as text in the table and the detail: no element made, no handler run', async () => {
    // What vcpuctl says the guest reported (its control bytes made visible at the host's guest boundary), and the set's report.
    const status = JSON.parse((await cli(['--json', 'status', g!.name])).stdout);
    const hostname: string = status[0].guest.hostname;
    assert.ok(hostname.includes('<img src=x onerror="window.__pwned=1;top.__pwned=1">'), hostname);
    assert.ok(!hostname.includes('\x1b'), 'no raw escape byte past the boundary');
    const ids: string[] = JSON.parse((await cli(['--json', 'report', 'list'])).stdout).filter((id: string) => id.includes(`-${g!.name}-set-`));
    const report = JSON.parse((await cli(['--json', 'report', 'show', ids[0]!])).stdout);
    const line: string | undefined = report.kernelLines.map((k: { message: string }) => k.message).find((m: string) => m.includes('<img'));
    assert.ok(line?.includes('<img src=x onerror="window.__pwned=2;top.__pwned=2"> from the guest'), JSON.stringify(report.kernelLines));
    // The detail, still open on that report: the kernel line and the hostname as literal text.
    const shown = await ui.locator('[data-testid="report"]').innerText();
    assert.ok(shown.includes(line!), `${line} not in the rendered report:\n${shown}`);
    assert.ok(shown.includes(`host ${hostname}`), `the hostname not in the rendered report:\n${shown}`);
    assert.ok(!/&lt;|\\</.test(shown), "the report's Markdown escapes are undone for display, not shown");
    // The detail follows the live watch, which lends the channel to each command and reads the guest again after it.
    await until('the guest host in the detail', 10_000, async () => (await ui.locator('[data-testid="detail"] p').first().innerText()).includes(`host ${hostname}`)).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await ui.locator('[data-testid="detail"] p').first().innerText()}`);
    });
    await ui.getByRole('button', { name: '← All domains' }).click();
    await until('the guest host in the table', 10_000, async () => (await row().locator('[data-col="hostname"]').count()) === 1);
    assert.equal(await row().locator('[data-col="hostname"]').innerText(), `guest host: ${hostname}`);
    // Nothing became markup, no handler ran, in the page's frame or Cockpit's shell around it.
    assert.equal(await ui.locator('img').count(), 0, 'no <img> in the page');
    assert.equal(await page.locator('img[src="x"]').count(), 0);
    assert.equal(await frame().evaluate('window.__pwned'), undefined);
    assert.equal(await page.evaluate('window.__pwned'), undefined);
  });

  it("a second operator: while another vcpuctl holds the domain's lock, a change from the page fails LOCKED with the CLI's own message after the lock wait, and the page stays usable", async () => {
    // Held as `vcpuctl set` holds it (core/domain-lock.ts: keyed by the domain's UUID), in the page's lock directory, by this process.
    const held: DomainLock = await lockDomain(locks, g!.uuid, 0, g!.name);
    try {
      await row()
        .getByRole('button', { name: `Details of ${g!.name}` })
        .click();
      await ui.locator('#vcpuctl-cpu').fill('1');
      await ui.getByRole('button', { name: 'Offline CPU…' }).click();
      // The dry run already names the holder (no lock taken for it).
      await ui.locator('[data-testid="plan-lines"]').waitFor({ timeout: 15_000 });
      assert.match(await ui.locator('[data-testid="plan"]').innerText(), new RegExp(`Another vcpuctl \\(pid ${process.pid}\\) is changing this domain now`));
      await ui.getByRole('button', { name: 'Confirm' }).click();
      const t0 = Date.now();
      const failure = ui.locator('.vcpuctl-actions > [data-testid="failure"]');
      await failure.waitFor({ timeout: LOCK_WAIT_MS + 8000 });
      const ms = Date.now() - t0;
      assert.equal(await failure.getAttribute('data-code'), 'LOCKED');
      assert.ok(ms >= LOCK_WAIT_MS - 100 && ms < LOCK_WAIT_MS + 5000, `LOCKED shown after ${ms} ms`);
      const locked = await cli(['--lock-wait', String(LOCK_WAIT_MS / 1000), '--json', 'offline', g!.name, '1']);
      const expected = JSON.parse(locked.stdout).error;
      assert.equal(expected.code, 'LOCKED');
      assert.equal(await failure.locator('.vcpuctl-failure-message').innerText(), expected.message);
      assert.match(expected.message, new RegExp(`\\(pid ${process.pid}\\)`));
      assert.equal((await g!.helper('GET', '/cpu-online')).trim(), '0-1', 'nothing was changed');
    } finally {
      held.release();
    }
    assert.match(await ui.locator('[data-testid="watch-state"]').innerText(), /^Live/);
    assert.equal(await ui.getByRole('button', { name: 'Offline CPU…' }).isDisabled(), false);
  });

  it("offline, then online, one guest CPU from the page: each previewed by its dry run (the CPU's state in the guest) and the command, then confirmed; the guest kernel's own list follows", async () => {
    for (const [action, before, online] of [
      ['Offline', 'online now, would be offlined', '0'],
      ['Online', 'offline now, would be onlined', '0-1'],
    ] as const) {
      const kernelBefore = (await g!.helper('GET', '/cpu-online')).trim();
      await ui.locator('#vcpuctl-cpu').fill('1');
      await ui.getByRole('button', { name: `${action} CPU…` }).click();
      const lines = ui.locator('[data-testid="plan-lines"] li');
      await lines.first().waitFor({ timeout: 15_000 });
      assert.deepEqual(await lines.allInnerTexts(), [`CPU 1: ${before}`, `The guest now: present 0-1, online ${kernelBefore}`]);
      assert.equal(await ui.locator('[data-testid="plan"] code').innerText(), `vcpuctl ${action.toLowerCase()} ${g!.name} 1`);
      assert.equal((await g!.helper('GET', '/cpu-online')).trim(), kernelBefore, 'nothing changed by the preview');
      await ui.getByRole('button', { name: 'Confirm' }).click();
      const success = await outcome(ui);
      assert.ok((await success.innerText()).includes(`${action} CPU 1 in ${g!.name}`));
      assert.equal((await g!.helper('GET', '/cpu-online')).trim(), online, "the guest kernel's own view");
    }
    await until('the detail to show online 0-1', 10_000, async () => /online 0-1 \(via channel/.test(await ui.locator('[data-testid="detail"] p').first().innerText()));
  });

  it("attach the agent's channel from the page (after a detach made from the CLI): previewed by its dry run and the command, confirmed, the guest reached over it again", async () => {
    const detach = await cli(['--json', 'agent', 'detach', g!.name]);
    assert.equal(detach.code, 0, detach.stderr);
    assert.equal(g!.liveChannel(), undefined);
    await ui.getByRole('button', { name: 'Attach agent channel…' }).click();
    const lines = ui.locator('[data-testid="plan-lines"] li');
    await lines.first().waitFor({ timeout: 15_000 });
    assert.deepEqual(await lines.allInnerTexts(), ['Running domain: the channel is added', 'Persistent config: the channel is added']);
    assert.equal(await ui.locator('[data-testid="plan"] code').innerText(), `vcpuctl agent attach ${g!.name}`);
    assert.equal(g!.liveChannel(), undefined, 'nothing changed before Confirm');
    await ui.getByRole('button', { name: 'Confirm' }).click();
    await outcome(ui);
    assert.ok(g!.liveChannel(), 'the channel is in the live XML');
    await ui.getByRole('button', { name: '← All domains' }).click();
    await until('the guest reached over its channel again', 60_000, async () => (await cell('via').innerText()) === 'channel');
  });

  describe("the real login path: a test user through cockpit-ws's login form (cockpit-session and PAM, no --local-session)", () => {
    const user = `vcpuctl${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('base64url');
    const sudoers = `/etc/sudoers.d/vcpuctl-e2e-${user}`;
    let created = false;
    let loginWs: ChildProcess | undefined;
    let loginPort: number;
    let calls: string;
    let userBin: string;

    before(async function () {
      this.timeout(60_000);
      const userHome = join(dir, 'user-home');
      execFileSync('useradd', ['--create-home', '--home-dir', userHome, '--shell', '/bin/bash', user]);
      created = true;
      execFileSync('chpasswd', { input: `${user}:${password}\n` });
      // pam_env (user_readenv=1 in /etc/pam.d/cockpit) gives the user's bridge the package's page, as it does above.
      writeFileSync(join(userHome, '.pam_environment'), `XDG_DATA_DIRS DEFAULT=${join(pkg, 'usr/share')}:/usr/share\n`);
      calls = join(dir, 'calls.log');
      writeFileSync(calls, '');
      chmodSync(calls, 0o666);
      userBin = join(dir, 'user-bin');
      mkdirSync(userBin, { mode: 0o755 });
      // Who ran which vcpuctl. A user other than root cannot reach qemu:///system here: libvirtd authorizes its sockets through
      // polkit, which needs the system D-Bus, and a machine without systemd has none. Such a user reads libvirt's test driver.
      writeFileSync(join(userBin, 'vcpuctl'), `#!/bin/sh\necho "$(id -un) $*" >>${calls}\n[ "$(id -u)" = 0 ] || export LIBVIRT_DEFAULT_URI=test:///default\nexec ${join(bin, 'vcpuctl')} "$@"\n`, { mode: 0o755 });
      // sudo (Cockpit's superuser bridge) resets PATH to secure_path: this user's sudo finds the same wrapper. Checked by visudo first.
      const candidate = join(dir, 'sudoers');
      writeFileSync(candidate, `Defaults:${user} secure_path="${userBin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"\n`, { mode: 0o440 });
      execFileSync('visudo', ['-c', '-q', '-f', candidate]);
      copyFileSync(candidate, sudoers);
      chmodSync(sudoers, 0o440);
      loginPort = await freePort();
      // cockpit-session replaces the session's PATH with its default unless COCKPIT_TEST_KEEP_PATH (Cockpit's own tests' switch)
      // is set: the only thing it keeps from here is PATH, so that the user's bridge finds the wrapper.
      loginWs = spawn('/usr/lib/cockpit/cockpit-ws', ['--no-tls', '--address', '127.0.0.1', '--port', String(loginPort)], {
        env: { ...process.env, COCKPIT_TEST_KEEP_PATH: '1', PATH: `${userBin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` },
        stdio: 'ignore',
        detached: true,
      });
      await until(`cockpit-ws on port ${loginPort}`, 10_000, async () => (await fetch(`http://127.0.0.1:${loginPort}/`).catch(() => undefined)) !== undefined);
    });

    after(async function () {
      this.timeout(30_000);
      if (loginWs?.pid) {
        try {
          process.kill(-loginWs.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      if (created) {
        // What the sessions left running as the user (its bridge, a D-Bus session daemon), each by its pid.
        for (let i = 0; i < 20; i++) {
          const pids = spawnSync('pgrep', ['-u', user], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
          if (pids.length === 0) break;
          for (const pid of pids) {
            try {
              process.kill(pid, i < 10 ? 'SIGTERM' : 'SIGKILL');
            } catch {
              // gone meanwhile
            }
          }
          await new Promise((r) => setTimeout(r, 200));
        }
        const del = spawnSync('userdel', ['--remove', user], { encoding: 'utf8' });
        assert.ok(del.status === 0 || del.status === 12, `userdel ${user}: ${del.status} ${del.stderr}`); // 12: no mail spool to remove
      }
      rmSync(sudoers, { force: true });
    });

    async function login(): Promise<{ page: Page; ui: FrameLocator; close: () => Promise<void> }> {
      const context = await browser!.newContext({ viewport: { width: 1400, height: 900 } });
      const p = await context.newPage();
      await p.goto(`http://127.0.0.1:${loginPort}/vcpuctl`);
      await p.locator('#login-user-input').fill(user);
      await p.locator('#login-password-input').fill(password);
      await p.locator('#login-button').click();
      const f = p.frameLocator(`iframe[name="${FRAME}"]`);
      await f.locator('[data-testid="fleet"]').waitFor({ timeout: 30_000 });
      return { page: p, ui: f, close: () => context.close() };
    }

    it('without administrative access: the fleet its libvirt access gives, and no change offered, with the reason', async () => {
      const s = await login();
      try {
        await s.page.locator('button:visible', { hasText: 'Limited access' }).waitFor({ timeout: 10_000 });
        await s.ui.locator('[data-testid="read-only-banner"]').waitFor({ timeout: 10_000 });
        const testRow = s.ui.locator('tr[data-domain="test"]');
        await testRow.waitFor({ timeout: 30_000 });
        const doc = JSON.parse((await vcpuctlAsync(['-c', 'test:///default', '--json', 'status', '--all'])).stdout);
        const live = doc.hosts[0].domains.find((d: { domain: string }) => d.domain === 'test').host.domain.live;
        assert.equal(await testRow.locator('td[data-col="live"]').innerText(), `${live.current} / ${live.maximum}`);
        await testRow.getByRole('button', { name: 'Details of test' }).click();
        assert.match(await s.ui.locator('[data-testid="read-only"]').innerText(), /needs administrative access/);
        for (const name of ['Preview set', 'Online CPU…', 'Offline CPU…', 'Attach agent channel…']) assert.equal(await s.ui.getByRole('button', { name }).isDisabled(), true, name);
        assert.equal(await s.ui.locator('#vcpuctl-count').isDisabled(), true);
        const ran = readFileSync(calls, 'utf8').trim().split('\n');
        assert.ok(ran.some((l) => l === `${user} --json status --all`) && ran.some((l) => l === `${user} watch --all --json`), ran.join('\n'));
        assert.deepEqual(
          ran.filter((l) => !l.startsWith(`${user} `)),
          [],
          'every vcpuctl ran as the user',
        );
      } finally {
        await s.close();
      }
    });

    it("with administrative access (in the sudo group, Cockpit's superuser through sudo): the same user offlines and onlines a guest CPU, vcpuctl run as root", async () => {
      execFileSync('usermod', ['--append', '--groups', 'sudo', user]);
      const s = await login();
      try {
        await s.page.locator('button:visible', { hasText: 'Limited access' }).click();
        const dialog = s.page.locator('[role="dialog"]');
        await dialog.locator('input[type="password"]').fill(password);
        await dialog.getByRole('button', { name: 'Authenticate' }).click();
        await s.page.locator('button:visible', { hasText: 'Administrative access' }).waitFor({ timeout: 20_000 });
        await until('the page out of read-only', 20_000, async () => (await s.ui.locator('[data-testid="read-only-banner"]').count()) === 0);
        writeFileSync(calls, '');
        const r = s.ui.locator(`tr[data-domain="${g!.name}"]`);
        await r.waitFor({ timeout: 30_000 });
        await r.getByRole('button', { name: `Details of ${g!.name}` }).click();
        for (const [action, online] of [
          ['Offline', '0'],
          ['Online', '0-1'],
        ] as const) {
          await s.ui.locator('#vcpuctl-cpu').fill('1');
          await s.ui.getByRole('button', { name: `${action} CPU…` }).click();
          await s.ui.getByRole('button', { name: 'Confirm' }).click();
          await outcome(s.ui);
          assert.equal((await g!.helper('GET', '/cpu-online')).trim(), online, "the guest kernel's own view");
        }
        const ran = readFileSync(calls, 'utf8').trim().split('\n');
        for (const action of ['offline', 'online']) assert.ok(ran.includes(`root -c qemu:///system --lock-wait 2 --json ${action} ${g!.name} 1`), ran.join('\n'));
      } finally {
        await s.close();
      }
    });
  });
});
