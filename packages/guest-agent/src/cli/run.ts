import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { VcpuctlError } from '@vcpuctl/proto';
import { startAgent } from '../serve';

/** Where the agent listens unless told otherwise (vcpuctl's default agent port). */
export const DEFAULT_PORT = 7643;

/**
 * 50 ms keeps a change that the kernel does not log under 50 ms to notice
 * while costing a fraction of a percent of a core (see bench/); logged
 * changes (hot-add, online, offline) are noticed at once via /dev/kmsg.
 */
export const DEFAULT_POLL_INTERVAL_MS = 50;

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*))(?::(\d+))?$/.exec(text);
  const port = m?.[3] === undefined ? DEFAULT_PORT : Number(m[3]);
  if (!m || port < 0 || port > 65535) throw new VcpuctlError('USAGE', `--listen wants HOST:PORT, got "${text}"`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

interface RunFlags {
  listen: string;
  tokenFile?: string;
  insecureNoAuth?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  sysroot: string;
  kmsg: string;
  pollInterval: string;
  autoOnline: boolean;
  readOnly?: boolean;
}

export function runCommand(): Command {
  return new Command('run')
    .description('serve controllers over an authenticated WebSocket until stopped (what the systemd unit runs)')
    .option('--listen <host:port>', 'address to listen on', `0.0.0.0:${DEFAULT_PORT}`)
    .option('--token-file <path>', 'file holding the bearer token (mode 0600)')
    .option('--insecure-no-auth', 'accept any controller without a token (tests only)')
    .option('--tls-cert <path>', 'serve TLS with this PEM certificate')
    .option('--tls-key <path>', 'private key for --tls-cert')
    .option('--sysroot <dir>', 'read and write DIR/sys and DIR/proc instead of the live system', '/')
    .option('--kmsg <path>', 'kernel log device to read evidence lines from', '/dev/kmsg')
    .option('--poll-interval <ms>', 'how often to re-read present/online (kernel CPU log lines also trigger a read at once)', String(DEFAULT_POLL_INTERVAL_MS))
    .option('--no-auto-online', 'leave hot-added CPUs offline (default: online them, as the usual udev rule does)')
    .option('--read-only', 'serve snapshots and events only; refuse online/offline requests from controllers')
    .action(async (flags: RunFlags) => {
      const { host, port } = parseListen(flags.listen);
      if (!flags.tokenFile && !flags.insecureNoAuth) {
        throw new VcpuctlError('USAGE', 'refusing to start without --token-file (or --insecure-no-auth for tests)');
      }
      if (!!flags.tlsCert !== !!flags.tlsKey) throw new VcpuctlError('USAGE', '--tls-cert and --tls-key go together');
      const pollIntervalMs = Number(flags.pollInterval);
      if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < 1 || pollIntervalMs > 60_000) {
        throw new VcpuctlError('USAGE', `--poll-interval wants 1..60000 ms, got "${flags.pollInterval}"`);
      }
      const running = await startAgent({
        host,
        port,
        tokenFile: flags.tokenFile,
        tls: flags.tlsCert && flags.tlsKey ? { cert: readFileSync(flags.tlsCert), key: readFileSync(flags.tlsKey) } : undefined,
        sysroot: flags.sysroot,
        kmsgPath: flags.kmsg,
        pollIntervalMs,
        autoOnline: flags.autoOnline,
        readOnly: !!flags.readOnly,
        log: (line) => process.stderr.write(`vcpuctl-agent: ${line}\n`),
      });
      // One line on stdout once listening, so wrappers (tests, the rig) know the port.
      process.stdout.write(`listening on ${running.address.address}:${running.address.port}\n`);
      const stop = () => void running.close().then(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
