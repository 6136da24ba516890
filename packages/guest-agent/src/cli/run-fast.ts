/**
 * `vcpuctl-agent run` without commander: the daemon's own path parses its
 * flags with Node's built-in parseArgs from the same option table, so the
 * long-running process does not carry a CLI framework (about 3 MiB of RSS,
 * see bench/). Help and every other subcommand go through cli/main.ts.
 */
import { parseArgs } from 'node:util';
import { VcpuctlError, toVcpuctlError } from '@vcpuctl/proto';
import { RUN_OPTIONS, RunFlags, runAgent } from './run-agent';

/** Whether bin/ may take this path: `run` without a request for help. */
export function isFastRun(argv: string[]): boolean {
  return argv[2] === 'run' && !argv.slice(3).some((a) => a === '-h' || a === '--help');
}

export function parseRunFlags(args: string[]): RunFlags {
  const options = Object.fromEntries(
    Object.entries(RUN_OPTIONS).map(([name, o]) => [name, { type: o.flag.includes('<') ? ('string' as const) : ('boolean' as const) }]),
  );
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new VcpuctlError('USAGE', (err as Error).message);
  }
  const str = (name: keyof typeof RUN_OPTIONS) => {
    const v = values[name];
    const o = RUN_OPTIONS[name];
    return typeof v === 'string' ? v : 'default' in o ? o.default : undefined;
  };
  return {
    listen: str('listen')!,
    tokenFile: str('token-file'),
    insecureNoAuth: values['insecure-no-auth'] === true,
    tlsCert: str('tls-cert'),
    tlsKey: str('tls-key'),
    sysroot: str('sysroot')!,
    kmsg: str('kmsg')!,
    pollInterval: str('poll-interval')!,
    autoOnline: values['no-auto-online'] !== true,
    readOnly: values['read-only'] === true,
  };
}

export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await runAgent(parseRunFlags(argv.slice(3)));
  } catch (err) {
    const ve = toVcpuctlError(err);
    process.stderr.write(`vcpuctl-agent: ${ve.code}: ${ve.message}\n`);
    process.exitCode = ve.exitCode;
  }
}
