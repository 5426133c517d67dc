import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';

/** The Redis every test talks to (127.0.0.1:6379 unless REDIS_URL says otherwise). */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A connection and a random key prefix of this test's own; `cleanup()` deletes its keys. */
export async function redisFixture() {
  const prefix = `test:${randomBytes(6).toString('hex')}:`;
  const clients: Redis[] = [];
  const connect = (options: RedisOptions = {}) => {
    const client = new Redis(REDIS_URL, { lazyConnect: false, ...options });
    clients.push(client);
    return client;
  };
  const client = connect();
  await client.ping();
  return {
    prefix,
    client,
    /** Another connection (a second "node"). */
    connect,
    /** Keys of this test now in Redis. */
    async keys(): Promise<string[]> {
      return client.keys(`${prefix}*`);
    },
    async cleanup(): Promise<void> {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(...keys);
      for (const c of clients) c.disconnect();
    },
  };
}

export type RedisFixture = Awaited<ReturnType<typeof redisFixture>>;
