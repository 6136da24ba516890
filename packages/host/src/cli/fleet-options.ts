/**
 * The flags `status` and `verify` share for --all, parsed once into the
 * connections and FleetOptions; `watch` and `exporter` take the same
 * connections (-c repeated, --hosts) through connectionsFrom.
 */
import { Command } from 'commander';
import { VcpuctlError } from '@vcpuctl/proto/errors';
import type { FleetOptions } from '../commands/fleet-status';
import type { Context } from '../core/context';
import { DEFAULT_PARALLEL, MAX_PARALLEL } from '../core/parallel';
import { parseNameGlob, parseStates, STATE_WORDS } from '../core/fleet-filter';
import { DEFAULT_HOSTS_FILE, fleetUris } from '../core/hosts-file';
import { contextsFrom, defaultUri, GlobalFlags } from './globals';

export interface FleetFlags {
  all?: boolean;
  state?: string[];
  name?: string;
  parallel: string;
  hosts?: string;
}

export const HOSTS_HELP = `a file of libvirt URIs, one a line, # comments; its URIs follow the -c ones (default ${DEFAULT_HOSTS_FILE} when it exists and no -c is given)`;

/** One Context per connection: every -c, then the hosts file's URIs, else the default URI. */
export function connectionsFrom(cmd: Command, hostsFile: string | undefined): Promise<{ ctxs: Context[]; flags: GlobalFlags }> {
  const g = cmd.optsWithGlobals() as GlobalFlags;
  return contextsFrom(cmd, fleetUris(g.connect, hostsFile, defaultUri()));
}

/** What a command says about --all and --parallel where it differs from status/verify (`set`). */
export interface FleetOptionTexts {
  all?: string;
  parallel?: string;
  parallelDefault?: number;
  hosts?: string;
  /** Whether --hosts (and so --parallel) also serves named domains, not only --all. */
  withNames?: boolean;
}

export function addFleetOptions(cmd: Command, texts: FleetOptionTexts = {}): Command {
  const only = texts.withNames ? '' : 'with --all: ';
  return cmd
    .option('--all', texts.all ?? 'every domain of every connection (-c repeated, --hosts): running ones checked, the others listed with their persistent counts; with --json one document holding every result and a summary')
    .option('--state <states>', `with --all: only domains in these states (comma-separated or repeated): ${Object.keys(STATE_WORDS).join(', ')}`, (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--name <glob>', "with --all: only domains whose name matches the glob (* and ?), e.g. 'web*'")
    .option('--parallel <n>', `${only}${texts.parallel ?? 'how many guests are asked at once'} (1-${MAX_PARALLEL})`, String(texts.parallelDefault ?? DEFAULT_PARALLEL))
    .option('--hosts <file>', `${only}${texts.hosts ?? HOSTS_HELP}`);
}

export function parallelOf(text: string): number {
  const n = /^\d{1,4}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= MAX_PARALLEL)) throw new VcpuctlError('USAGE', `--parallel wants a whole number from 1 to ${MAX_PARALLEL}, got "${text.slice(0, 20)}"`);
  return n;
}

/** Refuses the fleet flags without --all, and domain names with it. */
export function checkFleetUse(o: FleetFlags, domains: string[]): void {
  if (o.all) {
    if (domains.length) throw new VcpuctlError('USAGE', '--all takes no domain names (use --name GLOB to choose)');
    return;
  }
  const stray = [o.state && '--state', o.name !== undefined && '--name', o.hosts !== undefined && '--hosts', o.parallel !== String(DEFAULT_PARALLEL) && '--parallel'].filter(Boolean);
  if (stray.length) throw new VcpuctlError('USAGE', `${stray.join(', ')} only with --all`);
}

export async function fleetFrom(cmd: Command, o: FleetFlags): Promise<{ ctxs: Context[]; flags: GlobalFlags; opts: FleetOptions }> {
  const opts: FleetOptions = {
    filter: { nameGlob: o.name === undefined ? undefined : parseNameGlob(o.name), states: o.state ? parseStates(o.state) : undefined },
    parallel: parallelOf(o.parallel),
  };
  const { ctxs, flags } = await connectionsFrom(cmd, o.hosts);
  return { ctxs, flags, opts };
}
