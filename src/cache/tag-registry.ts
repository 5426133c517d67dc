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
 * is gone at once (and never outlives its own expiry). An entry kept until deleted (`ttlMs:
 * Infinity`) records no grace period of its own; it gets `graceMs`, the cache's default.
 */
export function expireAt(entry: CacheEntry, at: number, graceMs: number): CacheEntry {
  const grace = Number.isFinite(entry.staleAt) ? entry.expiresAt - entry.staleAt : graceMs;
  return {
    ...entry,
    staleAt: Math.min(entry.staleAt, at),
    expiresAt: Math.min(entry.expiresAt, at + grace),
  };
}

/**
 * How long a tag's state read from a shared tier is trusted before it is read again: the bound
 * on how long a value another cache deleted by tag can still be served here when no bus
 * message arrives (none is sent, or one was lost).
 */
const SHARED_STATE_TTL_MS = 1_000;
/** Tag states kept, at most, when they can be read again from a shared tier. */
const MAX_SHARED_STATES = 10_000;

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
  /** Whether another cache can invalidate a tag in a tier this one reads. */
  readonly #shared: boolean;
  /**
   * Tag states known here and when they were read (absent: not yet looked up in the byte
   * tiers), oldest read first.
   */
  readonly #states = new Map<string, { state: TagState; readAt: number }>();
  /** Tags whose record a byte tier could not take; written again by {@link check}. */
  readonly #unpersisted = new Set<string>();
  #retrying: Promise<void> | undefined;
  #retryAt = Number.NEGATIVE_INFINITY;

  constructor(core: CacheCore) {
    this.#core = core;
    this.#shared = core.tiers.some((tier) => tier.store.shared);
  }

  /**
   * `'deleted'` when a tag deleted the entry, else the entry as its tags leave it: stale from
   * the earliest instant a tag expired it, and gone one grace period after that.
   */
  async check(entry: CacheEntry): Promise<'deleted' | CacheEntry> {
    this.#persistMissed();
    let expiredAt = Number.POSITIVE_INFINITY;
    for (const tag of entry.tags) {
      const state = await this.#state(tag);
      if (state.deletedAt >= entry.createdAt) return 'deleted';
      if (state.expiredAt >= entry.createdAt) expiredAt = Math.min(expiredAt, state.expiredAt);
    }
    return expiredAt < entry.staleAt
      ? expireAt(entry, expiredAt, this.#core.defaults.graceMs)
      : entry;
  }

  /** Invalidates `tags` here, in the byte tiers and, through the bus, on other caches. */
  async invalidate(kind: 'delete-tags' | 'expire-tags', tags: readonly string[]): Promise<void> {
    const now = this.#core.stamp();
    await Promise.all(
      tags.map(async (tag) => {
        // Read afresh: a state known here may predate another cache's invalidation, which
        // persisting it would overwrite.
        await this.#load(tag);
        this.#remember(
          tag,
          kind === 'delete-tags'
            ? { deletedAt: now, expiredAt: -1 }
            : { deletedAt: -1, expiredAt: now },
        );
        await this.#persist(tag);
      }),
    );
    this.#core.publish(kind, tags);
  }

  /**
   * A tag invalidated elsewhere: with a shared tier, forget what is known so the next check reads
   * the sender's exact record; without one, apply it with this cache's clock.
   */
  applyRemote(kind: 'delete-tags' | 'expire-tags', tags: readonly string[]): void {
    const now = this.#core.stamp();
    for (const tag of tags) {
      const known = this.#states.get(tag);
      if (this.#shared) {
        // Read again at the next check; what is known here stays, to be merged with it.
        if (known) known.readAt = Number.NEGATIVE_INFINITY;
        continue;
      }
      this.#remember(
        tag,
        kind === 'delete-tags'
          ? { deletedAt: now, expiredAt: -1 }
          : { deletedAt: -1, expiredAt: now },
      );
    }
  }

  /**
   * The state of `tag`: as known here, or read again from the byte tiers when another cache may
   * have changed it there and it was read over {@link SHARED_STATE_TTL_MS} ago (a bus, when there
   * is one, makes this sooner).
   */
  async #state(tag: string): Promise<TagState> {
    const known = this.#states.get(tag);
    if (known === undefined) return this.#load(tag);
    if (this.#shared && this.#core.clock.now() - known.readAt >= SHARED_STATE_TTL_MS)
      return this.#load(tag);
    return known.state;
  }

  /**
   * Merges `state` into what is known of `tag` (the later instant of each kind wins, so an
   * invalidation that landed meanwhile is never undone) and returns the result.
   */
  #remember(tag: string, state: TagState): TagState {
    const known = this.#states.get(tag)?.state;
    const merged = known
      ? {
          deletedAt: Math.max(state.deletedAt, known.deletedAt),
          expiredAt: Math.max(state.expiredAt, known.expiredAt),
        }
      : state;
    this.#states.delete(tag);
    this.#states.set(tag, { state: merged, readAt: this.#core.clock.now() });
    // Read again from a shared tier when needed, so the oldest can go; a cache with no shared
    // tier keeps every state, since it is the only record of it.
    if (this.#shared && this.#states.size > MAX_SHARED_STATES)
      this.#states.delete(this.#states.keys().next().value as string);
    return merged;
  }

  /**
   * Reads `tag`'s record from every byte tier and keeps the latest instants of each (with what
   * is known here): a private tier above a shared one holds only this cache's own invalidations.
   */
  async #load(tag: string): Promise<TagState> {
    const key = tagKey(tag);
    let state = NEVER;
    for (const tier of this.#core.tiers) {
      const store = tier.store;
      if (store.kind !== 'bytes') continue;
      const record = await tier.call('get', () => store.get(key));
      const value = (record && this.#core.decode(tier, key, record))?.value as
        | Partial<TagState>
        | undefined;
      if (typeof value?.deletedAt === 'number' && typeof value.expiredAt === 'number') {
        state = {
          deletedAt: Math.max(state.deletedAt, value.deletedAt),
          expiredAt: Math.max(state.expiredAt, value.expiredAt),
        };
      }
    }
    return this.#remember(tag, state);
  }

  /**
   * Writes again, merged with what the tiers hold now, the tag records a tier could not take:
   * until then, caches that read the tag from that tier do not see the invalidation.
   */
  #persistMissed(): void {
    const now = this.#core.clock.now();
    if (this.#retrying !== undefined || this.#unpersisted.size === 0 || now < this.#retryAt) return;
    if (this.#core.tiers.some((tier) => tier.circuit === 'open')) return; // still down
    // At most one pass a second, so tagged reads during an outage do not rewrite every record.
    this.#retryAt = now + SHARED_STATE_TTL_MS;
    this.#retrying = (async () => {
      for (const tag of [...this.#unpersisted]) {
        await this.#load(tag);
        await this.#persist(tag);
      }
    })().finally(() => {
      this.#retrying = undefined;
    });
  }

  /** Writes what is known of `tag` now to the byte tiers; a tier that misses it is retried. */
  async #persist(tag: string): Promise<void> {
    const core = this.#core;
    const state = this.#states.get(tag)?.state;
    if (state === undefined) {
      this.#unpersisted.delete(tag);
      return;
    }
    const entry: CacheEntry = {
      value: { deletedAt: state.deletedAt, expiredAt: state.expiredAt },
      createdAt: core.clock.now(),
      staleAt: Number.POSITIVE_INFINITY,
      expiresAt: Number.POSITIVE_INFINITY,
      tags: [],
      negative: false,
    };
    if (await core.writeBytesOnly(tagKey(tag), entry)) {
      this.#unpersisted.delete(tag);
      return;
    }
    this.#unpersisted.add(tag);
    if (this.#unpersisted.size > MAX_SHARED_STATES)
      this.#unpersisted.delete(this.#unpersisted.values().next().value as string);
  }
}
