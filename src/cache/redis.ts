export { RedisBus, type RedisBusOptions } from './buses/redis-bus.js';
export { type RedisClient, RedisStore, type RedisStoreOptions } from './stores/redis-store.js';
