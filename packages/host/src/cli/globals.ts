/** The options every subcommand shares, turned into a Context once. */
import { Command } from 'commander';
import { forTerminal } from '../guest/visible-text';
import { VcpuctlError } from '@vcpuctl/proto/errors';
import type { Context } from '../core/context';
import { DEFAULT_LOCK_DIR } from '../core/lock';
import { connectUri, seconds as secondsMs, vcpuCount } from '../core/input';

export const DEFAULT_REPORT_DIR = '/var/lib/vcpuctl/reports';

export interface GlobalFlags {
  /** Every -c given, in order; undefined when none was. */
  connect: string[] | undefined;
  json?: boolean;
  reportDir: string;
  agent?: string;
  tokenFile?: string;
  agentsFile?: string;
  lockWait: string;
  agentTimeout: string;
}

export function addGlobalOptions(program: Command): Command {
  return program
    .option(
      '-c, --connect <uri>',
      'libvirt URI (qemu:///system, qemu+ssh://[user@]host[:port]/system?keyfile=K, test:///default); default $LIBVIRT_DEFAULT_URI or qemu:///system; repeatable with --all (status, verify), with set on several domains, and with watch, exporter; over +ssh, guest channels are reached through the same ssh (see README "Remote hosts")',
      (uri: string, prev: string[] | undefined) => [...(prev ?? []), uri],
    )
    .option('--json', 'machine-readable output on stdout, nothing else')
    .option('--report-dir <dir>', 'where verification reports are written', DEFAULT_REPORT_DIR)
    .option('--agent <url>', "the guest agent's URL (ws://127.0.0.1:PORT); overrides the agents file")
    .option('--token-file <path>', 'file holding the agent token (with --agent)')
    .option('--agents-file <path>', 'JSON file mapping domains to agent URL and token file (default /etc/vcpuctl/agents.json, if present)')
    .option('--lock-wait <s>', 'how long to wait for another vcpuctl changing the same domain', '30')
    .option('--agent-timeout <s>', 'how long to wait for the agent to answer', '10');
}

/** Seconds for a flag, in milliseconds (checks in core/input.ts). */
export function seconds(text: string, flag: string): number {
  return secondsMs(text, flag);
}

/** A vCPU count or maximum (checks in core/input.ts). */
export function count(text: string, what: string): number {
  return vcpuCount(text, what);
}

/** The URI when no -c is given. */
export function defaultUri(): string {
  return process.env.LIBVIRT_DEFAULT_URI ?? 'qemu:///system';
}

export async function contextFrom(cmd: Command): Promise<{ ctx: Context; flags: GlobalFlags }> {
  const flags = cmd.optsWithGlobals() as GlobalFlags;
  if (flags.connect && flags.connect.length > 1) throw new VcpuctlError('USAGE', `several -c/--connect only with --all (status, verify) or with watch, exporter; got ${flags.connect.length}`);
  return { flags, ctx: await contextFor(flags, connectUri(flags.connect?.[0] ?? defaultUri())) };
}

/** One Context per connection for a fleet command; the rest is shared. */
export async function contextsFrom(cmd: Command, uris: string[]): Promise<{ ctxs: Context[]; flags: GlobalFlags }> {
  const flags = cmd.optsWithGlobals() as GlobalFlags;
  return { flags, ctxs: await Promise.all(uris.map((uri) => contextFor(flags, uri))) };
}

async function contextFor(flags: GlobalFlags, uri: string): Promise<Context> {
  const tty = !flags.json && process.stderr.isTTY;
  // The libvirt driver is loaded once a command runs: --help and --version start without it.
  const { LibvirtDriver } = await import('../libvirt/libvirt-driver');
  return {
    driver: new LibvirtDriver(uri),
    reportDir: flags.reportDir,
    lockDir: process.env.VCPUCTL_LOCK_DIR ?? DEFAULT_LOCK_DIR,
    lockWaitMs: seconds(flags.lockWait, '--lock-wait'),
    agentFlags: { agent: flags.agent, tokenFile: flags.tokenFile, agentsFile: flags.agentsFile, warn: (line) => process.stderr.write(`vcpuctl: warning: ${forTerminal(line)}\n`) },
    agentTimeoutMs: seconds(flags.agentTimeout, '--agent-timeout'),
    progress: tty ? (line) => process.stderr.write(`\r\x1b[K${forTerminal(line)}`) : () => undefined,
  };
}

/** Whether a command already wrote its result: with --json stdout holds exactly one document. */
export const output = { printed: false };

export function print(flags: GlobalFlags, json: unknown, human: string): void {
  output.printed = true;
  if (!flags.json && process.stderr.isTTY) process.stderr.write('\r\x1b[K'); // clear the last progress line
  // Text passes forTerminal: whatever a guest or a file put in it is shown, never acted on by the terminal.
  const text = forTerminal(human);
  process.stdout.write(flags.json ? `${JSON.stringify(json, null, 2)}\n` : text.endsWith('\n') ? text : `${text}\n`);
}
