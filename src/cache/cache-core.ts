import type { EventEmitter } from 'node:events';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { InvalidationBus, InvalidationMessage, InvalidationType } from './bus.js';
import type { CacheEvents } from './cache-events.js';
import type { ResolvedEntryOptions } from './cache-options.js';
import { decodeEntry, type EntryCodec, encodeEntry, encodePayload } from './entry-codec.js';
import { FillFence } from './fill-fence.js';
import type { CacheEntry } from './store.js';
import { TagRegistry } from './tag-registry.js';
import type { Tier } from './tier.js';

/** An entry found by {@link CacheCore.lookup} and the index of the tier that held it. */
export interface Found {
  readonly entry: CacheEntry;
  readonly tier: number;
}

/** Counters kept by the core and the loader; read by `stats()`. */
export class CacheCounters {
  hits = 0;
  misses = 0;
  staleServed = 0;
  loaderCalls = 0;
  loaderErrors = 0;
  loaderTimeouts = 0;
  busPublished = 0;
  busReceived = 0;
  busErrors = 0;
}

/** How far {@link CacheCore.stamp} moves past an instant already handed out: about 1 µs. */
const STAMP_STEP = 2 ** -10;

/** Physical lifetime left for `entry`, as stores take it. */
export const physicalTtl = (entry: CacheEntry, now: number): number | undefined =>
  entry.expiresAt === Number.POSITIVE_INFINITY ? undefined : Math.max(1, entry.expiresAt - now);

/**
 * The tier walk shared by a cache and its namespaces: reads that fill the tiers above a hit,
 * writes that serialise once for every byte tier, invalidations sent on and received from the
 * bus, and tag checks. Keys here are full keys (namespace prefix included).
 */
export class CacheCore {
  readonly tiers: readonly Tier[];
  readonly codec: EntryCodec;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly defaults: ResolvedEntryOptions;
  readonly nodeId: string;
  readonly counters = new CacheCounters();
  readonly tags: TagRegistry;
  readonly #events: EventEmitter<CacheEvents>;
  readonly #bus: InvalidationBus | undefined;
  readonly #hasByteTier: boolean;
  readonly #unsubscribe: (() => void) | undefined;
  #lastStamp = Number.NEGATIVE_INFINITY;
  /** Set by {@link close}: loads still finishing then write and publish nothing. */
  #closed = false;
  readonly #fence = new FillFence();

  constructor(init: {
    tiers: readonly Tier[];
    codec: EntryCodec;
    clock: Clock;
    logger: Logger;
    defaults: ResolvedEntryOptions;
    nodeId: string;
    bus: InvalidationBus | undefined;
    events: EventEmitter<CacheEvents>;
  }) {
    this.tiers = init.tiers;
    this.codec = init.codec;
    this.clock = init.clock;
    this.logger = init.logger;
    this.defaults = init.defaults;
    this.nodeId = init.nodeId;
    this.#events = init.events;
    this.#bus = init.bus;
    this.#hasByteTier = init.tiers.some((t) => t.store.kind === 'bytes');
    this.tags = new TagRegistry(this);
    this.#unsubscribe = init.bus?.subscribe((message) => this.#receive(message));
  }

  /**
   * The hot path: a fresh, untagged entry in the first tier when that tier is memory, read
   * synchronously. `undefined` sends the caller to {@link lookup}, which also counts the miss.
   */
  peekFresh(key: string, now: number): CacheEntry | undefined {
    const tier = this.tiers[0] as Tier;
    const store = tier.store;
    if (store.kind !== 'object') return undefined;
    const entry = store.get(key);
    if (entry === undefined || entry.staleAt <= now || entry.tags.length > 0) return undefined;
    tier.hits++;
    this.counters.hits++;
    return entry;
  }

  /**
   * The first tier, from `from` down, holding an entry that has not physically expired and is
   * not deleted by a tag; tiers above the hit are filled with it.
   */
  async lookup(key: string, from = 0): Promise<Found | undefined> {
    const since = this.#fence.begin();
    try {
      return await this.#lookup(key, from, since);
    } finally {
      this.#fence.end();
    }
  }

  async #lookup(key: string, from: number, since: number): Promise<Found | undefined> {
    const now = this.clock.now();
    const tiers = this.tiers;
    for (let i = from; i < tiers.length; i++) {
      const tier = tiers[i] as Tier;
      const store = tier.store;
      let entry: CacheEntry | undefined;
      let record: Uint8Array | undefined;
      if (store.kind === 'object') {
        entry = store.get(key);
      } else {
        record = await tier.get(key);
        if (record !== undefined) entry = this.decode(tier, key, record);
      }
      if (entry === undefined || entry.expiresAt <= now) {
        tier.misses++;
        continue;
      }
      if (entry.tags.length > 0) {
        const verdict = await this.tags.check(entry);
        if (verdict === 'deleted') {
          tier.misses++;
          void this.#deleteEverywhere([key]);
          return undefined;
        }
        if (verdict.expiresAt <= now) {
          tier.misses++;
          continue;
        }
        entry = verdict;
      }
      tier.hits++;
      // A value set, deleted or cleared while this read was out would be put back by a fill.
      if (i > 0 && !this.#closed && this.#fence.mayFill(key, since))
        this.#fill(i, key, entry, record, now);
      return { entry, tier: i };
    }
    return undefined;
  }

  decode(tier: Tier, key: string, record: Uint8Array): CacheEntry | undefined {
    try {
      const decoded = decodeEntry(this.codec, record);
      if (typeof decoded === 'string') {
        this.logger.warn(
          { tier: tier.name, key, reason: decoded },
          'cache record not readable by this cache; treated as a miss',
        );
        return undefined;
      }
      return { ...decoded, size: record.byteLength };
    } catch (error) {
      tier.errors++;
      this.logger.warn(
        { tier: tier.name, key, err: error },
        'cache record could not be decoded; treated as a miss',
      );
      return undefined;
    }
  }

  /**
   * The clock's time, made strictly increasing within this cache. Entries are created and tags
   * invalidated at these instants, so an entry written in the same millisecond as a tag
   * invalidation is still ordered before or after it as the calls were. (Across processes the
   * order within one millisecond stays as ambiguous as their clocks.)
   */
  stamp(): number {
    const now = this.clock.now();
    this.#lastStamp = now > this.#lastStamp ? now : this.#lastStamp + STAMP_STEP;
    return this.#lastStamp;
  }

  /** Builds an entry for `value` produced now under `options`. */
  createEntry(value: unknown, options: ResolvedEntryOptions, negative: boolean): CacheEntry {
    const now = this.stamp();
    const base = negative ? (options.negativeTtlMs as number) : options.ttlMs;
    const ttl =
      options.jitter > 0 && Number.isFinite(base)
        ? base * (1 + Math.random() * options.jitter)
        : base;
    const staleAt = now + ttl;
    return {
      value,
      createdAt: now,
      staleAt,
      expiresAt: staleAt + options.graceMs,
      tags: options.tags,
      negative,
    };
  }

  /**
   * Writes `entry` to every tier. The value is serialised before any tier is touched, so a value
   * that cannot be serialised leaves the cache as it was.
   */
  async write(key: string, entry: CacheEntry, publish: boolean): Promise<void> {
    if (this.#closed) return;
    let stored = entry;
    let record: Buffer | undefined;
    if (this.#hasByteTier) {
      const payload = encodePayload(this.codec, entry);
      stored = { ...entry, size: payload.byteLength };
      record = encodeEntry(this.codec, stored, payload);
    }
    const ttl = physicalTtl(stored, this.clock.now());
    const writes: Promise<unknown>[] = [];
    for (const tier of this.tiers) {
      const store = tier.store;
      if (store.kind === 'object') store.set(key, stored, ttl);
      else writes.push(tier.set(key, record as Buffer, ttl));
    }
    this.#fence.invalidated([key]);
    if (writes.length > 0) await Promise.all(writes);
    if (publish) this.publish('set', [key]);
  }

  /**
   * Writes `entry` to the byte tiers only (internal records the memory tier must not evict);
   * false when a tier could not be reached.
   */
  async writeBytesOnly(key: string, entry: CacheEntry): Promise<boolean> {
    if (!this.#hasByteTier || this.#closed) return true;
    const record = encodeEntry(this.codec, entry, encodePayload(this.codec, entry));
    const ttl = physicalTtl(entry, this.clock.now());
    const written = await Promise.all(
      this.tiers.map((tier) => {
        const store = tier.store;
        return store.kind !== 'bytes' || tier.attempt('set', () => store.set(key, record, ttl));
      }),
    );
    return written.every(Boolean);
  }

  /** Writes `entry` to the memory tiers only (fail-safe throttling is local). */
  writeLocal(key: string, entry: CacheEntry): void {
    if (this.#closed) return;
    const ttl = physicalTtl(entry, this.clock.now());
    for (const tier of this.tiers)
      if (tier.store.kind === 'object') tier.store.set(key, entry, ttl);
  }

  async delete(keys: readonly string[]): Promise<void> {
    await this.#deleteEverywhere(keys);
    this.publish('delete', keys);
  }

  async clear(prefix: string): Promise<void> {
    this.#fence.cleared();
    await Promise.all(this.tiers.map((tier) => tier.clear(prefix)));
    this.publish('clear', [prefix]);
  }

  publish(type: InvalidationType, keys: readonly string[]): void {
    const bus = this.#bus;
    if (bus === undefined || keys.length === 0 || this.#closed) return;
    this.counters.busPublished++;
    bus.publish({ from: this.nodeId, type, keys }).catch((error: unknown) => {
      this.counters.busErrors++;
      this.logger.warn({ err: error, type }, 'cache invalidation could not be published');
    });
  }

  /** Tier errors: counted by the tier, reported here once. */
  reportTierError(tier: Tier, operation: string, error: Error): void {
    this.logger.warn({ tier: tier.name, operation, err: error }, 'cache tier call failed');
    if (this.#events.listenerCount('tier:error') > 0) {
      this.#events.emit('tier:error', { tier: tier.name, operation, error });
    }
  }

  emit<K extends keyof CacheEvents>(event: K, ...args: CacheEvents[K]): void {
    if (this.#events.listenerCount(event) > 0) {
      (this.#events.emit as (e: K, ...a: CacheEvents[K]) => boolean)(event, ...args);
    }
  }

  close(): void {
    this.#closed = true;
    this.#unsubscribe?.();
  }

  async #deleteEverywhere(keys: readonly string[]): Promise<void> {
    this.#fence.invalidated(keys);
    await Promise.all(this.tiers.map((tier) => tier.delete(keys)));
  }

  /** Fills the tiers above `hit` (and, from a shared tier, nothing below it) with the entry. */
  #fill(
    hit: number,
    key: string,
    entry: CacheEntry,
    record: Uint8Array | undefined,
    now: number,
  ): void {
    const ttl = physicalTtl(entry, now);
    for (let j = 0; j < hit; j++) {
      const tier = this.tiers[j] as Tier;
      const store = tier.store;
      if (store.kind === 'object') {
        store.set(key, entry, ttl);
      } else {
        const bytes = record ?? encodeEntry(this.codec, entry, encodePayload(this.codec, entry));
        void tier.call('fill', () => store.set(key, bytes, ttl));
      }
    }
  }

  #receive(message: InvalidationMessage): void {
    if (message.from === this.nodeId) return;
    this.counters.busReceived++;
    const local = this.tiers.filter((tier) => !tier.store.shared);
    switch (message.type) {
      case 'set':
      case 'delete':
        this.#fence.invalidated(message.keys);
        for (const tier of local) void tier.delete(message.keys);
        break;
      case 'clear':
        this.#fence.cleared();
        for (const tier of local) for (const prefix of message.keys) void tier.clear(prefix);
        break;
      case 'delete-tags':
      case 'expire-tags':
        this.tags.applyRemote(message.type, message.keys);
        break;
    }
    this.emit('bus', message);
  }
}
