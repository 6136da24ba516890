export { Agent } from './agent';
export { startAgent, RunningAgent, ServeOptions } from './serve';
export { ChannelSessions, MAX_REPLAY_BYTES, SESSION_STALL_MS } from './server/channel-sessions';
export { DEFAULT_CHANNEL_NAME } from './server/channel';
export { treePaths } from './sysfs/paths';
export { takeSnapshot, readTree, toSnapshot } from './snapshot';
export { lscpuSummary, renderSummary } from './lscpu/summary';
export { lscpuParse } from './lscpu/parse-format';
