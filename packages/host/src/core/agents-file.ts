/**
 * The agents file and token files, read as the untrusted input they are:
 * bounded regular files (config-file.ts), the JSON's shape checked field by
 * field, a token that is one line.
 */
import { MAX_TOKEN_FILE_BYTES, VcpuctlError } from '@vcpuctl/proto';
import type { AgentFlags } from './agents';
import { readConfigFile } from './config-file';

/** A config file is a few lines per domain; 1 MiB is thousands of domains. */
export const MAX_AGENTS_FILE_BYTES = 1024 * 1024;

/** Token files already warned about in this process: a retrying loop warns once. */
const warned = new Set<string>();

/** The token in `path`: a bounded regular file holding one line. */
export function readToken(path: string, flags: Pick<AgentFlags, 'warn'>): string {
  const { bytes, stat } = readConfigFile(path, MAX_TOKEN_FILE_BYTES, 'token file');
  // The agent refuses a token file others can read; here the operator is warned, once.
  if ((stat.mode & 0o077) !== 0 && !warned.has(path)) {
    warned.add(path);
    flags.warn?.(`token file ${path} is accessible to other users (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}); make it 0600`);
  }
  const token = bytes.toString('utf8').trim();
  if (token === '') throw new VcpuctlError('USAGE', `token file ${path} is empty`);
  // A line break inside would split the Authorization header (ws refuses it as a bad header, not a bad token).
  if (/[\x00-\x1f\x7f]/.test(token)) throw new VcpuctlError('USAGE', `token file ${path} holds more than one line or a control character; a token is one line`);
  return token;
}

export type Entry = { url: string; tokenFile?: string };

/** The agents file's shape, checked field by field: JSON from disk is untrusted input. */
export function parseAgentsFile(file: string, text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new VcpuctlError('USAGE', `agents file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(parsed)) throw new VcpuctlError('USAGE', `agents file ${file} must hold an object {"domains": {...}}`);
  if (parsed.domains === undefined) return {};
  if (!isObject(parsed.domains)) throw new VcpuctlError('USAGE', `agents file ${file}: "domains" must be an object mapping domain names to {"url", "tokenFile"}`);
  return parsed.domains;
}

export function entryOf(file: string, domain: string, raw: unknown): Entry | undefined {
  if (raw === undefined) return undefined;
  const where = `agents file ${file}, domain "${domain.length > 80 ? `${domain.slice(0, 80)}...` : domain}"`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new VcpuctlError('USAGE', `${where}: the entry must be an object {"url", "tokenFile"}`);
  const e = raw as Record<string, unknown>;
  if (e.url === undefined) return undefined;
  if (typeof e.url !== 'string' || e.url === '') throw new VcpuctlError('USAGE', `${where}: "url" must be a non-empty string`);
  if (e.tokenFile !== undefined && (typeof e.tokenFile !== 'string' || e.tokenFile === '')) throw new VcpuctlError('USAGE', `${where}: "tokenFile" must be a path (a non-empty string)`);
  return { url: e.url, tokenFile: e.tokenFile as string | undefined };
}

/** The agents file's entry for `domain`, or undefined when it names none. */
export function agentsFileEntry(file: string, domain: string): Entry | undefined {
  const text = readConfigFile(file, MAX_AGENTS_FILE_BYTES, 'agents file').bytes.toString('utf8');
  const domains = parseAgentsFile(file, text);
  return entryOf(file, domain, Object.prototype.hasOwnProperty.call(domains, domain) ? domains[domain] : undefined);
}
