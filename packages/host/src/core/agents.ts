/**
 * Where each domain's agent is: --agent/--token-file flags, or a small
 * config file mapping domain names to an agent URL and token file:
 *   { "domains": { "web1": { "url": "ws://127.0.0.1:7643", "tokenFile": "/etc/vcpuctl/web1.token" } } }
 */
import { existsSync } from 'node:fs';
import { MAX_TOKEN_FILE_BYTES, VcpuctlError } from '@vcpuctl/proto';
import { AgentEndpoint } from '../agent/client';
import { readConfigFile } from './config-file';

export const DEFAULT_AGENTS_FILE = '/etc/vcpuctl/agents.json';

/** A config file is a few lines per domain; 1 MiB is thousands of domains. */
export const MAX_AGENTS_FILE_BYTES = 1024 * 1024;

export interface AgentFlags {
  agent?: string;
  tokenFile?: string;
  agentsFile?: string;
  /** Where warnings go (the CLI: stderr, so --json's stdout stays one document). */
  warn?: (line: string) => void;
}

/** Token files already warned about in this process: a retrying loop warns once. */
const warned = new Set<string>();

function readToken(path: string, flags: AgentFlags): string {
  const { bytes, stat } = readConfigFile(path, MAX_TOKEN_FILE_BYTES, 'token file');
  // The agent refuses a token file others can read; here the operator is warned, once.
  if ((stat.mode & 0o077) !== 0 && !warned.has(path)) {
    warned.add(path);
    flags.warn?.(`token file ${path} is accessible to other users (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}); make it 0600`);
  }
  const token = bytes.toString('utf8').trim();
  if (token === '') throw new VcpuctlError('USAGE', `token file ${path} is empty`);
  // A line break inside would split the Authorization header (ws refuses it as a bad header, not a bad token).
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(token)) throw new VcpuctlError('USAGE', `token file ${path} holds more than one line or a control character; a token is one line`);
  return token;
}

type Entry = { url: string; tokenFile?: string };

/** The agents file's shape, checked field by field: JSON from disk is untrusted input. */
function parseAgentsFile(file: string, text: string): Record<string, unknown> {
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

function entryOf(file: string, domain: string, raw: unknown): Entry | undefined {
  if (raw === undefined) return undefined;
  const where = `agents file ${file}, domain "${domain.length > 80 ? `${domain.slice(0, 80)}...` : domain}"`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new VcpuctlError('USAGE', `${where}: the entry must be an object {"url", "tokenFile"}`);
  const e = raw as Record<string, unknown>;
  if (e.url === undefined) return undefined;
  if (typeof e.url !== 'string' || e.url === '') throw new VcpuctlError('USAGE', `${where}: "url" must be a non-empty string`);
  if (e.tokenFile !== undefined && (typeof e.tokenFile !== 'string' || e.tokenFile === '')) throw new VcpuctlError('USAGE', `${where}: "tokenFile" must be a path (a non-empty string)`);
  return { url: e.url, tokenFile: e.tokenFile as string | undefined };
}

/** The endpoint for `domain`, or undefined when none is configured. */
export function agentEndpoint(domain: string, flags: AgentFlags): AgentEndpoint | undefined {
  if (flags.agent) return { url: flags.agent, token: flags.tokenFile ? readToken(flags.tokenFile, flags) : undefined };
  const file = flags.agentsFile ?? DEFAULT_AGENTS_FILE;
  // The default file is optional; one named on the command line must be there.
  if (flags.agentsFile === undefined && !existsSync(file)) return undefined;
  const text = readConfigFile(file, MAX_AGENTS_FILE_BYTES, 'agents file').bytes.toString('utf8');
  const domains = parseAgentsFile(file, text);
  const entry = entryOf(file, domain, Object.prototype.hasOwnProperty.call(domains, domain) ? domains[domain] : undefined);
  if (!entry) return undefined;
  return { url: entry.url, token: entry.tokenFile !== undefined ? readToken(entry.tokenFile, flags) : undefined };
}
