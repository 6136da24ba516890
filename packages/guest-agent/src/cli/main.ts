/**
 * vcpuctl-agent's command line: parses flags and calls the core; one
 * top-level catch turns a VcpuctlError into its exit code and one line.
 */
import { Command } from 'commander';
import { exitCodeTable, toVcpuctlError } from '@vcpuctl/proto';
import { AGENT_VERSION } from '../version';
import { runCommand } from './run';
import { snapshotCommand } from './snapshot';

/** The whole command tree, not run: main() parses with it, and the package's man page is generated from it. */
export function buildProgram(): Command {
  return new Command('vcpuctl-agent')
    .description("vcpuctl's guest agent: reports and changes this guest's vCPUs for the host controller")
    .version(AGENT_VERSION)
    .addHelpText('after', `\nExit codes:\n${exitCodeTable()}\n`)
    .addCommand(runCommand())
    .addCommand(snapshotCommand());
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      // commander already printed help, the version or the usage error.
      process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? 0 : 2;
      return;
    }
    const ve = toVcpuctlError(err);
    process.stderr.write(`vcpuctl-agent: ${ve.code}: ${ve.message}\n`);
    process.exitCode = ve.exitCode;
  }
}
