/**
 * How a promotion in one process reaches the others at once. Every process polls the registry
 * anyway (a lost message only delays a swap until the next poll); a notifier cuts that delay
 * to a round trip. `redisNotifier` publishes on a Redis channel through ioredis (an optional
 * peer: the caller passes the clients, so nothing here loads it).
 */
import type { Redis } from 'ioredis';

/** A promotion: `name`'s champion is now `version`. */
export interface ModelChange {
  readonly name: string;
  readonly version: number;
}

export interface ModelNotifier {
  publish(change: ModelChange): Promise<void>;
  /** Calls `listener` on every change published for `name`; resolves with an unsubscribe. */
  subscribe(name: string, listener: (change: ModelChange) => void): Promise<() => Promise<void>>;
}

export interface RedisNotifierOptions {
  /** Publishes; any connection. */
  readonly publisher: Redis;
  /** Subscribes; a connection of its own (subscriber mode blocks other commands on it). */
  readonly subscriber: Redis;
  /** @default 'salama:models:' */
  readonly channelPrefix?: string;
}

/** A {@link ModelNotifier} on Redis pub/sub, one channel per model. */
export function redisNotifier(options: RedisNotifierOptions): ModelNotifier {
  const prefix = options.channelPrefix ?? 'salama:models:';
  const listeners = new Map<string, Set<(change: ModelChange) => void>>();
  options.subscriber.on('message', (channel: string, message: string) => {
    if (!channel.startsWith(prefix)) return;
    let change: ModelChange;
    try {
      change = JSON.parse(message) as ModelChange;
    } catch {
      return; // not ours; the next poll catches up anyway
    }
    for (const listener of listeners.get(channel) ?? []) listener(change);
  });
  return {
    async publish(change) {
      await options.publisher.publish(`${prefix}${change.name}`, JSON.stringify(change));
    },
    async subscribe(name, listener) {
      const channel = `${prefix}${name}`;
      let set = listeners.get(channel);
      if (!set) {
        set = new Set();
        listeners.set(channel, set);
        await options.subscriber.subscribe(channel);
      }
      set.add(listener);
      return async () => {
        set.delete(listener);
        if (set.size === 0 && listeners.get(channel) === set) {
          listeners.delete(channel);
          await options.subscriber.unsubscribe(channel);
        }
      };
    },
  };
}
