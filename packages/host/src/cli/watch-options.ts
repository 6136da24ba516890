/** The flags `watch` and `exporter` share: which domains to follow, on which connections, and how often to re-read them all. */
import { Command } from 'commander';
import type { WatchOptions } from '../commands/watch';
import { parseNameGlob, parseStates, STATE_WORDS } from '../core/fleet-filter';
import { domainName } from '../core/input';
import { HOSTS_HELP } from './fleet-options';
import { seconds } from './globals';

export interface WatchFlags {
  all?: boolean;
  name?: string;
  state?: string[];
  hostPoll: string;
  hosts?: string;
  reconcile?: boolean;
}

export function addWatchOptions(cmd: Command): Command {
  return cmd
    .argument('[domain...]', 'domain names (or --all)')
    .option('--all', 'every domain of every connection, as they are defined and removed')
    .option('--name <glob>', "with --all: only domains whose name matches the glob (* and ?), now and as they are defined, e.g. 'web*'")
    .option(
      '--state <states>',
      `with --all: only domains now in these states (comma-separated or repeated): ${Object.keys(STATE_WORDS).join(', ')}; a domain leaving them is reported once (e.g. stopped), then hidden until it is back`,
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option('--host-poll <s>', 'safety-net re-read of every domain in one virsh process (changes without an event, e.g. a plain virsh setvcpus on a domain without an agent)', '30')
    .option(
      '--reconcile',
      "re-apply a recorded guest-side offline when the guest comes back without it (a reboot or reset: INTENT_LOST_ON_REBOOT; or more CPUs online right after its agent restarted): the same operation as `vcpuctl set DOM N`, with its report and a new intent, once per boot; logged as a change ('reconcile: ...')",
    )
    .option('--hosts <file>', `watch every connection in ${HOSTS_HELP}; with several connections a host that does not answer is shown down and retried, the others are watched meanwhile`);
}

/** The safety-net poll is never faster than once a second: each one is a virsh process. */
const MIN_HOST_POLL_MS = 1000;

export function watchOptions(domains: string[], o: WatchFlags): WatchOptions {
  return {
    domains: domains.map(domainName),
    all: !!o.all,
    nameGlob: o.name === undefined ? undefined : parseNameGlob(o.name),
    states: o.state ? parseStates(o.state) : undefined,
    hostPollMs: Math.max(MIN_HOST_POLL_MS, seconds(o.hostPoll, '--host-poll')),
    ...(o.reconcile ? { reconcile: true } : {}),
  };
}
