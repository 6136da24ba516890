import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export const AGENT_BIN = join(__dirname, '../../../packages/guest-agent/bin/vcpuctl-agent.js');

/** The real util-linux lscpu, the judge of the agent's lscpu views. */
export function realLscpu(args: string[]): string {
  return execFileSync('lscpu', args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
}

export function agentSnapshot(args: string[]): string {
  return execFileSync(process.execPath, [AGENT_BIN, 'snapshot', ...args], { encoding: 'utf8' });
}

/**
 * lscpu lines the agent does not reproduce (documented in the README), with
 * the reason: the frequency lines come from cpufreq, which guests do not
 * have (and none of the fixture trees has).
 */
export const NOT_REPRODUCED = ['CPU max MHz:', 'CPU min MHz:', 'CPU(s) scaling MHz:', 'Frequency boost:'];

/** Summary lines as [label, value] with lscpu's column padding removed. */
export function summaryLines(text: string): [string, string][] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const m = /^(.*?:)\s*(.*)$/.exec(l);
      return m ? [m[1]!.trim(), m[2]!.trim()] : [l.trim(), ''];
    });
}
