import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { z } from 'zod';
import { parseOptions } from '../../core/options.js';
import type { ByteCacheStore, DistributedLock, EvictionListener, LockingStore } from '../store.js';

/** An ioredis client: a single node or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions {
  /**
   * The connection, created and closed by the caller. For a cache that must not wait on a dead
   * server, create it with `enableOfflineQueue: false` and `maxRetriesPerRequest: 1`.
   */
  client: RedisClient;
  /** Prepended to every key, so several caches can share one database. @default 'salama:' */
  prefix?: string;
  /** Keys asked for per `SCAN` step when clearing a prefix. @default 1000 */
  scanCount?: number;
}

const schema = z.strictObject({
  client: z.custom<RedisClient>(
    (v) => typeof v === 'object' && v !== null && typeof (v as Redis).getBuffer === 'function',
    { message: 'an ioredis Redis or Cluster instance' },
  ),
  prefix: z.string().optional(),
  scanCount: z.number().int().positive().optional(),
});

const RELEASE_SCRIPT =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/**
 * Lock keys live after `\u0000lock\u0000`, a namespace no cache key reaches (cache keys never
 * contain NUL), so a lock never collides with a value whose key starts with `lock:`.
 */
const LOCK_NAMESPACE = '\u0000lock\u0000';

/** `MATCH` treats `* ? [ ] \` as pattern syntax; escape them to match a literal prefix. */
const escapeGlob = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&');

/** True for an ioredis Cluster client. */
export const isClusterClient = (client: RedisClient): client is Cluster =>
  typeof (client as Cluster).nodes === 'function' && (client as Cluster).isCluster === true;

/**
 * The L2 tier on Redis (ioredis), single node or Cluster. Records are binary strings with a
 * `PX` expiry; `clear` walks `SCAN` on every master and `UNLINK`s what matches. It also
 * provides the {@link DistributedLock} (`SET NX PX`, released by a compare-and-delete script)
 * that `getOrSet({ distributedLock: true })` uses.
 */
export class RedisStore implements ByteCacheStore, LockingStore {
  readonly kind = 'bytes';
  readonly name = 'redis';
  readonly shared = true;
  readonly lock: DistributedLock;
  readonly #client: RedisClient;
  readonly #prefix: string;
  readonly #scanCount: number;

  constructor(options: RedisStoreOptions) {
    const opts = parseOptions('RedisStore', schema, options);
    this.#client = opts.client;
    this.#prefix = opts.prefix ?? 'salama:';
    this.#scanCount = opts.scanCount ?? 1000;
    const client = this.#client;
    const lockKey = (key: string) => `${this.#prefix}${LOCK_NAMESPACE}${key}`;
    this.lock = {
      async tryAcquire(key, ttlMs) {
        const token = randomBytes(12).toString('base64url');
        const ok = await client.set(lockKey(key), token, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX');
        return ok === 'OK' ? token : undefined;
      },
      async release(key, token) {
        await client.eval(RELEASE_SCRIPT, 1, lockKey(key), token);
      },
    };
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.#client.getBuffer(this.#prefix + key)) ?? undefined;
  }

  async set(key: string, record: Uint8Array, ttlMs: number | undefined): Promise<void> {
    const value = Buffer.from(record.buffer, record.byteOffset, record.byteLength);
    if (ttlMs === undefined) await this.#client.set(this.#prefix + key, value);
    else await this.#client.set(this.#prefix + key, value, 'PX', Math.max(1, Math.ceil(ttlMs)));
  }

  async delete(keys: readonly string[]): Promise<void> {
    await this.#unlink(keys.map((key) => this.#prefix + key));
  }

  /** Removes the records under `prefix`; locks held by loaders stay until released or expired. */
  async clear(prefix: string): Promise<void> {
    const pattern = `${escapeGlob(this.#prefix + prefix)}*`;
    const locks = this.#prefix + LOCK_NAMESPACE;
    const nodes = isClusterClient(this.#client) ? this.#client.nodes('master') : [this.#client];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', this.#scanCount);
        cursor = next;
        await this.#unlink(keys.filter((key) => !key.startsWith(locks)));
      } while (cursor !== '0');
    }
  }

  /** Redis expires keys itself and reports nothing back; no eviction events come from here. */
  onEvict(_listener: EvictionListener): void {}

  /** The client belongs to the caller, who closes it. */
  async close(): Promise<void> {}

  async #unlink(fullKeys: readonly string[]): Promise<void> {
    if (fullKeys.length === 0) return;
    if (isClusterClient(this.#client)) {
      // Keys of one UNLINK must share a slot in a cluster; one per key, pipelined by ioredis.
      await Promise.all(fullKeys.map((key) => this.#client.unlink(key)));
    } else {
      await this.#client.unlink(...fullKeys);
    }
  }
}
