/**
 * The `InvalidationBus` contract: how one cache tells the others that share its data which keys
 * changed, so they evict their local tiers. Messages carry keys only, never values; each names
 * its sender so a cache ignores its own.
 */

/** What changed. `set` and `delete` name keys, `clear` names prefixes, tag kinds name tags. */
export type InvalidationType = 'set' | 'delete' | 'clear' | 'delete-tags' | 'expire-tags';

/** One message on the bus. */
export interface InvalidationMessage {
  /** The sending cache's `nodeId`. */
  readonly from: string;
  readonly type: InvalidationType;
  readonly keys: readonly string[];
}

/** A channel between caches: in-process ({@link MemoryBus}) or Redis pub/sub (`RedisBus`). */
export interface InvalidationBus {
  /** Sends to every subscriber, the sender's own included (it filters by `from`). */
  publish(message: InvalidationMessage): Promise<void>;
  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: (message: InvalidationMessage) => void): () => void;
  /** Stops delivery and releases connections; idempotent. */
  close(): Promise<void>;
}

const TYPES: ReadonlySet<string> = new Set<InvalidationType>([
  'set',
  'delete',
  'clear',
  'delete-tags',
  'expire-tags',
]);

/** Encodes a message as the compact JSON the Redis bus sends. */
export function encodeMessage(message: InvalidationMessage): string {
  return JSON.stringify([message.from, message.type, message.keys]);
}

/** Decodes {@link encodeMessage}'s form; `undefined` for anything else on the channel. */
export function decodeMessage(text: string): InvalidationMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) return undefined;
  const [from, type, keys] = parsed as [unknown, unknown, unknown];
  if (typeof from !== 'string' || typeof type !== 'string' || !TYPES.has(type)) return undefined;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) return undefined;
  return { from, type: type as InvalidationType, keys };
}
