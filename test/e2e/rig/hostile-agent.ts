/**
 * What a guest's root user could put in place of vcpuctl-agent, for the
 * hostile-guest tests on a real guest (issue 15): the real agent's transport
 * (its channel and TCP serving, unchanged), with lying contents: a Hello and
 * snapshots full of terminal escapes and Markdown, and a `present` list far
 * longer than any kernel writes. Runs INSIDE the test guest, started by the
 * rig helper (POST /agent/hostile) with the agent's own arguments.
 */
import { Agent } from '@vcpuctl/guest-agent';

const ESC = '\x1b]0;pwned\x07\x1b[2J\r## forged';
// An amplifying list over the host's 32 KiB bound: refused at the boundary, never parsed into 8192 x N entries.
const HUGE = Array(6000).fill('0-8191').join(',');

type Proto = { hello(): { hello?: Record<string, unknown> }; snapshot(): Record<string, unknown> & { system?: Record<string, unknown> | null } };
const proto = Agent.prototype as unknown as Proto;
const hello = proto.hello;
proto.hello = function (this: unknown) {
  const h = hello.call(this);
  return { ...h, hello: { ...h.hello, hostname: `evil${ESC}` } };
};
const snapshot = proto.snapshot;
proto.snapshot = function (this: unknown) {
  const s = snapshot.call(this);
  return { ...s, present: HUGE, lscpu: `Architecture: x86_64\n${ESC}\n\`\`\`\n# forged`, system: { ...(s.system ?? {}), hostname: `evil${ESC}` } };
};

// eslint-disable-next-line @typescript-eslint/no-require-imports
require('@vcpuctl/guest-agent/dist/cli/main').main();
