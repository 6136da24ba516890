export * from './dist/cpulist';
