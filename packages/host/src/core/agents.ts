/**
 * Where each domain's agent is: --agent/--token-file flags, or a small
 * config file mapping domain names to an agent URL and token file:
 *   { "domains": { "web1": { "url": "ws://127.0.0.1:7643", "tokenFile": "/etc/vcpuctl/web1.token" } } }
 */
import { readFileSync } from 'node:fs';
import { MAX_TOKEN_FILE_BYTES, VcpuctlError } from '@vcpuctl/proto';
import { AgentEndpoint } from '../guest/agent-client';

export const DEFAULT_AGENTS_FILE = '/etc/vcpuctl/agents.json';

/** A config file is a few lines per domain; 1 MiB is thousands of domains. */
const MAX_AGENTS_FILE_BYTES = 1024 * 1024;

export interface AgentFlags {
  agent?: string;
  tokenFile?: string;
  agentsFile?: string;
}

function readToken(path: string): string {
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (err) {
    throw new VcpuctlError('USAGE', `cannot read token file ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  if (text.length > MAX_TOKEN_FILE_BYTES) throw new VcpuctlError('USAGE', `token file ${path} is larger than ${MAX_TOKEN_FILE_BYTES} bytes`);
  return text.toString('utf8').trim();
}

/** The endpoint for `domain`, or undefined when none is configured. */
export function agentEndpoint(domain: string, flags: AgentFlags): AgentEndpoint | undefined {
  if (flags.agent) return { url: flags.agent, token: flags.tokenFile ? readToken(flags.tokenFile) : undefined };
  const file = flags.agentsFile ?? DEFAULT_AGENTS_FILE;
  let text: string;
  try {
    const buf = readFileSync(file);
    if (buf.length > MAX_AGENTS_FILE_BYTES) throw new VcpuctlError('USAGE', `${file} is larger than ${MAX_AGENTS_FILE_BYTES} bytes`);
    text = buf.toString('utf8');
  } catch (err) {
    if (err instanceof VcpuctlError) throw err;
    if (flags.agentsFile) throw new VcpuctlError('USAGE', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    return undefined;
  }
  let parsed: { domains?: Record<string, { url?: string; tokenFile?: string }> };
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new VcpuctlError('USAGE', `${file} is not valid JSON: ${(err as Error).message}`);
  }
  const entry = parsed.domains?.[domain];
  if (!entry?.url) return undefined;
  return { url: entry.url, token: entry.tokenFile ? readToken(entry.tokenFile) : undefined };
}
