export * from './errors';
export * from './limits';
export * from './codec';
export * from './cpulist';
