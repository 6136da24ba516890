/**
 * The hosts file: one libvirt URI per line, `#` starts a comment, blank lines
 * ignored. Read as untrusted input: a bounded regular file (config-file.ts),
 * each URI checked like -c's, a bounded number of them.
 */
import { existsSync } from 'node:fs';
import { VcpuctlError } from '@vcpuctl/proto/errors';
import { readConfigFile } from './config-file';
import { connectUri } from './input';

export const DEFAULT_HOSTS_FILE = '/etc/vcpuctl/hosts';

/** A URI is under a few hundred bytes; 256 KiB is over a thousand hosts with comments. */
export const MAX_HOSTS_FILE_BYTES = 256 * 1024;

/** Each host costs a virsh process and a connection: more than this in one call is a mistake, not a fleet. */
export const MAX_HOSTS = 1024;

export function parseHosts(text: string, path: string): string[] {
  const uris: string[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    // A comment starts at a '#' opening the line or after a blank: a URI keeps a '#' of its own.
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) continue;
    let uri: string;
    try {
      uri = connectUri(line);
    } catch (err) {
      throw new VcpuctlError('USAGE', `hosts file ${path} line ${i + 1}: ${(err as Error).message}`);
    }
    if (/\s/.test(uri)) throw new VcpuctlError('USAGE', `hosts file ${path} line ${i + 1}: one URI per line`);
    if (!uris.includes(uri)) uris.push(uri);
    if (uris.length > MAX_HOSTS) throw new VcpuctlError('USAGE', `hosts file ${path} lists more than ${MAX_HOSTS} URIs`);
  }
  if (uris.length === 0) throw new VcpuctlError('USAGE', `hosts file ${path} lists no URI`);
  return uris;
}

export function readHostsFile(path: string): string[] {
  const { bytes } = readConfigFile(path, MAX_HOSTS_FILE_BYTES, 'hosts file');
  return parseHosts(bytes.toString('utf8'), path);
}

/**
 * The connections of a fleet command: every -c, then the hosts file's URIs
 * (--hosts, or the default file when no -c is given and it exists), else the
 * one default URI.
 */
export function fleetUris(connect: string[] | undefined, hostsFile: string | undefined, defaultUri: string, defaultHostsFile = DEFAULT_HOSTS_FILE): string[] {
  // The same URI twice would read (and report) its domains twice.
  const uris = [...new Set((connect ?? []).map(connectUri))];
  const file = hostsFile ?? (uris.length === 0 && existsSync(defaultHostsFile) ? defaultHostsFile : undefined);
  if (file) for (const u of readHostsFile(file)) if (!uris.includes(u)) uris.push(u);
  if (uris.length > MAX_HOSTS) throw new VcpuctlError('USAGE', `more than ${MAX_HOSTS} connections in one call`);
  return uris.length ? uris : [connectUri(defaultUri)];
}
