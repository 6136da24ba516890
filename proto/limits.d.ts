export * from './dist/limits';
