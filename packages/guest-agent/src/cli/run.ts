import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { VcpuctlError } from '@vcpuctl/proto';
import { startAgent } from '../serve';
import { DEFAULT_CHANNEL_NAME } from '../server/channel';
import { DEFAULT_STATE_FILE } from '../wanted-offline';

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

/**
 * What a channel name may be: libvirt's target names are reverse-DNS ids
 * (org.qemu.guest_agent.0); 128 characters is far beyond any, and the name
 * is compared with sysfs text and joined to /dev/virtio-ports, so no '/'
 * and not only dots.
 */
const CHANNEL_NAME = /^(?!\.+$)[A-Za-z0-9._-]{1,128}$/;

interface RunFlags {
  listen?: string;
  channel?: string | true;
  devRoot: string;
  tokenFile?: string;
  insecureNoAuth?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  sysroot: string;
  kmsg: string;
  pollInterval: string;
  autoOnline: boolean;
  readOnly?: boolean;
  stateFile: string;
}

export function runCommand(): Command {
  return new Command('run')
    .description('serve controllers until stopped (what the systemd unit runs): over a virtio-serial channel, an authenticated WebSocket, or both')
    .option('--listen <host:port>', `address to listen on (default 0.0.0.0:${DEFAULT_PORT} when --channel is not given)`)
    .option('--channel [name]', `serve on the virtio-serial port NAME (default ${DEFAULT_CHANNEL_NAME}); no token: only root on the host reaches it`)
    .option('--dev-root <dir>', "where the channel's device node is looked for", '/dev')
    .option('--token-file <path>', 'file holding the bearer token (mode 0600)')
    .option('--insecure-no-auth', 'accept any controller without a token (tests only)')
    .option('--tls-cert <path>', 'serve TLS with this PEM certificate')
    .option('--tls-key <path>', 'private key for --tls-cert')
    .option('--sysroot <dir>', 'read and write DIR/sys and DIR/proc instead of the live system', '/')
    .option('--kmsg <path>', 'kernel log device to read evidence lines from', '/dev/kmsg')
    .option('--poll-interval <ms>', 'how often to re-read present/online (kernel CPU log lines also trigger a read at once)', String(DEFAULT_POLL_INTERVAL_MS))
    .option('--no-auto-online', 'leave hot-added CPUs offline (default: online them, as the usual udev rule does)')
    .option('--state-file <path>', 'where the CPUs the host wants offline are kept across restarts of the agent (written atomically; a set from an earlier boot is dropped)', DEFAULT_STATE_FILE)
    .option('--read-only', 'serve snapshots and events only; refuse online/offline requests from controllers')
    .action(async (flags: RunFlags) => {
      const channelName = flags.channel === true ? DEFAULT_CHANNEL_NAME : flags.channel;
      if (channelName !== undefined && !CHANNEL_NAME.test(channelName)) {
        throw new VcpuctlError('USAGE', `--channel wants a port name of letters, digits, '.', '_' and '-', got "${channelName}"`);
      }
      // Without --channel the agent listens where it always did; with it, only if asked.
      const listen = flags.listen ?? (channelName === undefined ? `0.0.0.0:${DEFAULT_PORT}` : undefined);
      const { host, port } = listen === undefined ? { host: undefined, port: undefined } : parseListen(listen);
      if (listen !== undefined && !flags.tokenFile && !flags.insecureNoAuth) {
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
        channel: channelName === undefined ? undefined : { name: channelName, devRoot: flags.devRoot },
        tokenFile: flags.tokenFile,
        tls: flags.tlsCert && flags.tlsKey ? { cert: readFileSync(flags.tlsCert), key: readFileSync(flags.tlsKey) } : undefined,
        sysroot: flags.sysroot,
        kmsgPath: flags.kmsg,
        pollIntervalMs,
        autoOnline: flags.autoOnline,
        readOnly: !!flags.readOnly,
        stateFile: flags.stateFile,
        log: (line) => process.stderr.write(`vcpuctl-agent: ${line}\n`),
      });
      // Stop handlers go in before the agent says it is up: a wrapper that
      // signals as soon as it reads the line below must not meet the default
      // action (an abrupt kill) instead of a clean stop.
      const stop = () => void running.close().then(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      // One line on stdout once listening, so wrappers (tests, the rig) know the port.
      if (running.address) process.stdout.write(`listening on ${running.address.address}:${running.address.port}\n`);
      if (channelName !== undefined) process.stdout.write(`channel ${channelName}\n`);
    });
}
