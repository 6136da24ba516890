/**
 * `npm run demo`: the operator's procedure on a disposable real guest, with
 * vcpuctl doing each step and showing its verification. Boots the guest,
 * walks the steps, removes the guest (also on failure or Ctrl-C).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setupHost, vcpuctlAsync } from '../helpers/libvirt';
import { TestGuest, removeRigLeftovers } from './rig/guest';

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

async function main(): Promise<void> {
  console.log(bold('== vcpuctl demo: live vCPU changes on a real guest, verified from both sides =='));
  setupHost();
  removeRigLeftovers();
  const dir = mkdtempSync(join(tmpdir(), 'vcpuctl-demo-'));
  const reports = join(dir, 'reports');
  console.log('booting a disposable guest (Debian kernel, busybox initramfs, 768 MiB, current 1 / maximum 2 vCPUs),');
  console.log('its agent run as the package runs it (`vcpuctl-agent run --channel`), the domain without the channel yet...');
  const t0 = Date.now();
  const g = await TestGuest.boot({ current: 1, maximum: 2, agentChannel: true });
  const cleanup = () => {
    g.destroy();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    await g.waitForAgent();
    console.log(`guest ${g.name} up, agent answering, in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    const step = async (title: string, args: string[], showReport = false) => {
      console.log(bold(`-- ${title}`));
      console.log(`$ vcpuctl ${args.join(' ')}`);
      // No --agent and no agents file: vcpuctl finds the guest through the domain's channel.
      const r = await vcpuctlAsync(['--report-dir', reports, ...args]);
      process.stdout.write(r.stdout);
      process.stdout.write(r.stderr);
      console.log(`(exit ${r.code})`);
      const md = /report: (\S+\.md)/.exec(r.stdout + r.stderr)?.[1];
      if (showReport && md) {
        console.log(bold('   verification report:'));
        console.log(readFileSync(md, 'utf8').split('\n').map((l) => `   | ${l}`).join('\n'));
      }
      console.log('');
      return r.code;
    };
    const name = g.name;
    await step('0. give the running domain the agent\'s channel (live and persistent); no agents file, no token, no port', ['agent', 'attach', name]);
    await step('1. status: one vCPU, both sides agree (the guest view is its lscpu), reached over the channel', ['status', name]);
    await step('2. hot-add to 2 and persist; the agent onlines the new vCPU, the kernel says so', ['set', name, '2', '--config'], true);
    await step('3. ask for 3: refused before anything is touched, the maximum named', ['set', name, '3']);
    await step('4. back to 1 by offlining inside the guest; the host keeps counting 2 until a restart', ['set', name, '1', '--config'], true);
    await step('5. raise the maximum to 4: graceful shutdown, new maximum, start, agent back', ['set-max', name, '4', '--restart']);
    await step('6. hot-add to 4: every side agrees', ['set', name, '4', '--config'], true);
    await step('7. verify now', ['verify', name]);
    console.log(bold('-- the saved reports'));
    console.log(execFileSync(process.execPath, [join(__dirname, '../../../packages/host/bin/vcpuctl.js'), '--report-dir', reports, 'report', 'list'], { encoding: 'utf8' }));
  } finally {
    cleanup();
    console.log(`guest ${g.name} removed; demo took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
