export * from './errors';
export * from './limits';
export * from './codec';
export * from './cpulist';
export * from './frame-shape';
export * from './token-bucket';
