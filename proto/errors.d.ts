export * from './dist/errors';
