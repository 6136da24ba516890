export { Agent } from './agent';
export { startAgent, RunningAgent, ServeOptions } from './serve';
export { treePaths } from './sysfs/paths';
export { takeSnapshot, readTree, toSnapshot } from './snapshot';
export { lscpuSummary, renderSummary } from './lscpu/summary';
export { lscpuParse } from './lscpu/parse-format';
