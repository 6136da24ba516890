import { Command } from 'commander';
import { RUN_OPTIONS, runAgent } from './run-agent';

export { DEFAULT_PORT, DEFAULT_POLL_INTERVAL_MS, parseListen, RunFlags, RUN_OPTIONS, runAgent } from './run-agent';

export function runCommand(): Command {
  const cmd = new Command('run').description('serve controllers over an authenticated WebSocket until stopped (what the systemd unit runs)');
  for (const o of Object.values(RUN_OPTIONS)) {
    if ('default' in o) cmd.option(o.flag, o.help, o.default);
    else cmd.option(o.flag, o.help);
  }
  return cmd.action(runAgent);
}

