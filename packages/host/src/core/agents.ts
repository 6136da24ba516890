/**
 * Where each domain's agent is: --agent/--token-file flags, or a small
 * config file mapping domain names to an agent URL and token file:
 *   { "domains": { "web1": { "url": "ws://127.0.0.1:7643", "tokenFile": "/etc/vcpuctl/web1.token" } } }
 */
import { existsSync } from 'node:fs';
import { AgentEndpoint } from '../guest/agent-client';
import { agentsFileEntry, readToken } from './agents-file';

export const DEFAULT_AGENTS_FILE = '/etc/vcpuctl/agents.json';

export { MAX_AGENTS_FILE_BYTES } from './agents-file';

export interface AgentFlags {
  agent?: string;
  tokenFile?: string;
  agentsFile?: string;
  /** Where warnings go (the CLI: stderr, so --json's stdout stays one document). */
  warn?: (line: string) => void;
}

/** The endpoint for `domain`, or undefined when none is configured. */
export function agentEndpoint(domain: string, flags: AgentFlags): AgentEndpoint | undefined {
  if (flags.agent) return { url: flags.agent, token: flags.tokenFile ? readToken(flags.tokenFile, flags) : undefined };
  const file = flags.agentsFile ?? DEFAULT_AGENTS_FILE;
  // The default file is optional; one named on the command line must be there.
  if (flags.agentsFile === undefined && !existsSync(file)) return undefined;
  const entry = agentsFileEntry(file, domain);
  if (!entry) return undefined;
  return { url: entry.url, token: entry.tokenFile !== undefined ? readToken(entry.tokenFile, flags) : undefined };
}
