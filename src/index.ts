export * from './blob/index.js';
export * from './cache/index.js';
export * from './core/index.js';
export * from './gpu/index.js';
export * from './memory/index.js';
// salama/retention and salama/backup use Kysely, an optional peer: import them by subpath.
