/**
 * vcpuctl's command line: one file per subcommand parses flags and calls the
 * core; this one catch turns a VcpuctlError into its exit code and one line.
 */
import { Command } from 'commander';
import { exitCodeTable, toVcpuctlError } from '@vcpuctl/proto/errors';
import { forTerminal } from '../guest/visible-text';
import { agentAttachCommand } from './agent-attach';
import { agentDetachCommand } from './agent-detach';
import { doctorCommand } from './doctor';
import { FLEET_EXIT_RANK } from '../core/fleet-exit';
import { addGlobalOptions, output } from './globals';
import { onlineCommand } from './online';
import { reportCommand } from './report';
import { setCommand } from './set';
import { setMaxCommand } from './set-max';
import { statusCommand } from './status';
import { verifyCommand } from './verify';
import { watchCommand } from './watch';
import { exporterCommand } from './exporter';

export const VERSION = '0.1.0';

/** The whole command tree, not run: main() parses with it, and the package's man page and completion are generated from it. */
export function buildProgram(): Command {
  return addGlobalOptions(new Command('vcpuctl'))
    .description('Live vCPU resizing of libvirt guests, verified from the host and from inside the guest')
    .version(VERSION)
    .addHelpText(
      'after',
      `\nExit codes:\n   0  success\n${exitCodeTable()}\n\nstatus exits 0 whatever its verdict (it only shows); verify exits 3 (or the finding's own code) when the sides disagree.\nWith --all: the worst problem found, worst first: ${FLEET_EXIT_RANK.join(' > ')}; status --all counts only unreachable hosts and unread domains, verify --all also each checked domain's verdict; shut-off domains count for nothing.\nset on several domains (DOMAIN... N, --all N): the same ranking over each domain's own error (the code set DOMAIN N would exit with); 0 when every domain is done. set --dry-run: the worst refusal, 0 when none.\n`,
    )
    .addCommand(statusCommand())
    .addCommand(setCommand())
    .addCommand(onlineCommand(true))
    .addCommand(onlineCommand(false))
    .addCommand(setMaxCommand())
    .addCommand(verifyCommand())
    .addCommand(doctorCommand())
    .addCommand(reportCommand())
    .addCommand(new Command('agent').description("the guest agent's virtio-serial channel").addCommand(agentAttachCommand()).addCommand(agentDetachCommand()))
    .addCommand(watchCommand())
    .addCommand(exporterCommand());
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  for (const c of program.commands) {
    c.exitOverride();
    for (const sub of c.commands) sub.exitOverride();
  }
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : 2;
      return;
    }
    const ve = toVcpuctlError(err);
    process.stderr.write(`vcpuctl: ${ve.code}: ${forTerminal(ve.message)}\n`);
    // With --json a script gets the failure on stdout too, with its details (e.g. the report path).
    if (program.opts().json && !output.printed) process.stdout.write(`${JSON.stringify({ error: { code: ve.code, exit: ve.exitCode, message: ve.message, details: ve.details ?? {} } }, null, 2)}\n`);
    if (ve.code === 'INTERNAL' && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n(this is a bug in vcpuctl; please report it with the lines above)\n`);
    process.exitCode = ve.exitCode;
  }
}
