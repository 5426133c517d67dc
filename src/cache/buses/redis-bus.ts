import type { Redis } from 'ioredis';
import { z } from 'zod';
import { parseOptions } from '../../core/options.js';
import {
  decodeMessage,
  encodeMessage,
  type InvalidationBus,
  type InvalidationMessage,
} from '../bus.js';
import { isClusterClient, type RedisClient } from '../stores/redis-store.js';

/** Options of {@link RedisBus}. */
export interface RedisBusOptions {
  /** Publishes on this connection; a duplicate of it subscribes (owned and closed by the bus). */
  client: RedisClient;
  /** The pub/sub channel; caches that must stay coherent use the same one. @default 'salama:bus' */
  channel?: string;
}

const schema = z.strictObject({
  client: z.custom<RedisClient>(
    (v) => typeof v === 'object' && v !== null && typeof (v as Redis).duplicate === 'function',
    { message: 'an ioredis Redis or Cluster instance' },
  ),
  channel: z.string().min(1).optional(),
});

/**
 * The invalidation bus on Redis pub/sub. Messages are key-only JSON; pub/sub does not store
 * them, so a cache that was disconnected misses what was said meanwhile (its memory tier's TTL
 * bounds how stale a value can be, and a tag's state is read again from Redis after 1 s). Publishing while Redis is down rejects; the cache counts it.
 */
export class RedisBus implements InvalidationBus {
  readonly #publisher: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #channel: string;
  readonly #listeners = new Set<(message: InvalidationMessage) => void>();
  readonly #subscribed: Promise<unknown>;
  #closed = false;

  constructor(options: RedisBusOptions) {
    const opts = parseOptions('RedisBus', schema, options);
    this.#publisher = opts.client;
    this.#channel = opts.channel ?? 'salama:bus';
    // The subscriber queues its SUBSCRIBE until connected even when the caller's client fails
    // fast (enableOfflineQueue: false), and ioredis re-subscribes it after every reconnect.
    this.#subscriber = isClusterClient(opts.client)
      ? opts.client.duplicate(undefined, { enableOfflineQueue: true })
      : opts.client.duplicate({ enableOfflineQueue: true });
    this.#subscriber.on('message', (channel: string, text: string) => {
      if (channel !== this.#channel) return;
      const message = decodeMessage(text);
      if (message) for (const listener of this.#listeners) listener(message);
    });
    this.#subscribed = this.#subscriber.subscribe(this.#channel);
    this.#subscribed.catch(() => {});
  }

  /** Resolves once the subscription is active, so messages published after it are received. */
  async ready(): Promise<void> {
    await this.#subscribed;
  }

  async publish(message: InvalidationMessage): Promise<void> {
    if (this.#closed) return;
    await this.#publisher.publish(this.#channel, encodeMessage(message));
  }

  subscribe(listener: (message: InvalidationMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this.#subscriber.disconnect();
  }
}
