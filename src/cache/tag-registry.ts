import type { CacheCore } from './cache-core.js';
import type { CacheEntry } from './store.js';

/** When a tag was last invalidated: entries created at or before these instants are affected. */
interface TagState {
  deletedAt: number;
  expiredAt: number;
}

/** -1 rather than -Infinity: the record goes through the serializer, and JSON has no Infinity. */
const NEVER: TagState = Object.freeze({ deletedAt: -1, expiredAt: -1 });

/**
 * `entry` made stale at `at`: it keeps its grace period from then, so with no grace period it
 * is gone at once (and never outlives its own expiry).
 */
export const expireAt = (entry: CacheEntry, at: number): CacheEntry => ({
  ...entry,
  staleAt: Math.min(entry.staleAt, at),
  expiresAt: Math.min(entry.expiresAt, at + (entry.expiresAt - entry.staleAt)),
});

/** Tag records live in the tiers under this internal key; NUL never appears in user keys. */
const tagKey = (tag: string) => `\u0000tag\u0000${tag}`;

/**
 * Invalidation by tag without an index of keys: invalidating a tag records when it happened
 * (in every byte tier, and on the bus), and an entry carrying the tag is judged on read by
 * comparing its creation time with that instant. Deleting a tag makes older entries misses;
 * expiring it makes them stale (still served within their grace period).
 */
export class TagRegistry {
  readonly #core: CacheCore;
  /** Tag states known here; absent = not yet looked up in the byte tiers. */
  readonly #states = new Map<string, TagState>();

  constructor(core: CacheCore) {
    this.#core = core;
  }

  /**
   * `'deleted'` when a tag deleted the entry, else the entry as its tags leave it: stale from
   * the earliest instant a tag expired it, and gone one grace period after that.
   */
  async check(entry: CacheEntry): Promise<'deleted' | CacheEntry> {
    let expiredAt = Number.POSITIVE_INFINITY;
    for (const tag of entry.tags) {
      const state = this.#states.get(tag) ?? (await this.#load(tag));
      if (state.deletedAt >= entry.createdAt) return 'deleted';
      if (state.expiredAt >= entry.createdAt) expiredAt = Math.min(expiredAt, state.expiredAt);
    }
    return expiredAt < entry.staleAt ? expireAt(entry, expiredAt) : entry;
  }

  /** Invalidates `tags` here, in the byte tiers and, through the bus, on other caches. */
  async invalidate(kind: 'delete-tags' | 'expire-tags', tags: readonly string[]): Promise<void> {
    const now = this.#core.stamp();
    await Promise.all(
      tags.map(async (tag) => {
        const known = this.#states.get(tag) ?? (await this.#load(tag));
        const state: TagState =
          kind === 'delete-tags'
            ? { deletedAt: now, expiredAt: known.expiredAt }
            : { deletedAt: known.deletedAt, expiredAt: now };
        this.#states.set(tag, state);
        await this.#persist(tag, state);
      }),
    );
    this.#core.publish(kind, tags);
  }

  /**
   * A tag invalidated elsewhere: with a shared tier, forget what is known so the next check reads
   * the sender's exact record; without one, apply it with this cache's clock.
   */
  applyRemote(kind: 'delete-tags' | 'expire-tags', tags: readonly string[]): void {
    const shared = this.#core.tiers.some((tier) => tier.store.shared);
    const now = this.#core.stamp();
    for (const tag of tags) {
      if (shared) {
        this.#states.delete(tag);
        continue;
      }
      const known = this.#states.get(tag) ?? NEVER;
      this.#states.set(
        tag,
        kind === 'delete-tags'
          ? { deletedAt: now, expiredAt: known.expiredAt }
          : { deletedAt: known.deletedAt, expiredAt: now },
      );
    }
  }

  async #load(tag: string): Promise<TagState> {
    let state = NEVER;
    for (const tier of this.#core.tiers) {
      const store = tier.store;
      if (store.kind !== 'bytes') continue;
      const record = await tier.call('get', () => store.get(tagKey(tag)));
      const entry = record && this.#core.decode(tier, tagKey(tag), record);
      const value = entry?.value as Partial<TagState> | undefined;
      if (typeof value?.deletedAt === 'number' && typeof value.expiredAt === 'number') {
        state = { deletedAt: value.deletedAt, expiredAt: value.expiredAt };
        break;
      }
    }
    const merged = this.#states.get(tag);
    if (merged) {
      state = {
        deletedAt: Math.max(state.deletedAt, merged.deletedAt),
        expiredAt: Math.max(state.expiredAt, merged.expiredAt),
      };
    }
    this.#states.set(tag, state);
    return state;
  }

  async #persist(tag: string, state: TagState): Promise<void> {
    const core = this.#core;
    const entry: CacheEntry = {
      value: { deletedAt: state.deletedAt, expiredAt: state.expiredAt },
      createdAt: core.clock.now(),
      staleAt: Number.POSITIVE_INFINITY,
      expiresAt: Number.POSITIVE_INFINITY,
      tags: [],
      negative: false,
    };
    await core.writeBytesOnly(tagKey(tag), entry);
  }
}
