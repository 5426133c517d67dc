export * from './cache/index.js';
export * from './core/index.js';
export * from './gpu/index.js';
export * from './memory/index.js';
