import type { Clock } from '../core/clock.js';
import { BackendFailedError, TimeoutError } from '../core/errors.js';
import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitState,
} from './circuit-breaker.js';
import { raceClock } from './clock-race.js';
import type { CacheStore } from './store.js';

/** Counters of one tier, as `stats().tiers` reports them. */
export interface TierStats {
  readonly name: string;
  readonly hits: number;
  readonly misses: number;
  /** `hits / (hits + misses)`, 0 before the first read. */
  readonly hitRate: number;
  /** Calls that threw or timed out. */
  readonly errors: number;
  readonly timeouts: number;
  /** Calls not made because the circuit was open. */
  readonly skipped: number;
  readonly circuit: CircuitState;
  /** Deletes and clears (and keys whose write failed) waiting for the store to answer again. */
  readonly pendingInvalidations: number;
}

/** How calls to a byte tier are bounded. */
export interface RemoteTierOptions extends CircuitBreakerOptions {
  /** Each call to the tier fails after this long (ms). @default 250 */
  timeoutMs: number;
}

/** Invalidations remembered while a tier is unreachable; the oldest go first past this. */
const MAX_PENDING = 10_000;

/**
 * One layer of the stack: its store, its counters and, for byte stores, the timeout and circuit
 * breaker that keep a slow or dead backend from stalling the cache. A failed call counts, is
 * reported, and answers as a miss; deletes that could not reach the store, and the keys of
 * writes that could not, are deleted once it answers again, so no value deleted or replaced
 * while it was down comes back.
 */
export class Tier {
  readonly store: CacheStore;
  readonly name: string;
  hits = 0;
  misses = 0;
  errors = 0;
  timeouts = 0;
  skipped = 0;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #breaker: CircuitBreaker | undefined;
  readonly #onError: (tier: Tier, operation: string, error: Error) => void;
  readonly #pendingDeletes = new Set<string>();
  readonly #pendingClears = new Set<string>();
  #replaying: Promise<void> | undefined;

  constructor(
    store: CacheStore,
    remote: RemoteTierOptions,
    clock: Clock,
    hooks: {
      onError: (tier: Tier, operation: string, error: Error) => void;
      onCircuit: (tier: Tier, state: CircuitState) => void;
    },
  ) {
    this.store = store;
    this.name = store.name;
    this.#clock = clock;
    this.#timeoutMs = remote.timeoutMs;
    this.#onError = hooks.onError;
    this.#breaker =
      store.kind === 'bytes'
        ? new CircuitBreaker(remote, clock, (state) => hooks.onCircuit(this, state))
        : undefined;
  }

  /** The circuit's state; always `closed` for a memory tier. */
  get circuit(): CircuitState {
    return this.#breaker?.state ?? 'closed';
  }

  stats(): TierStats {
    const reads = this.hits + this.misses;
    return {
      name: this.name,
      hits: this.hits,
      misses: this.misses,
      hitRate: reads === 0 ? 0 : this.hits / reads,
      errors: this.errors,
      timeouts: this.timeouts,
      skipped: this.skipped,
      circuit: this.circuit,
      pendingInvalidations: this.#pendingDeletes.size + this.#pendingClears.size,
    };
  }

  /**
   * Runs `operation` on the store within the timeout and the circuit; on failure reports it and
   * resolves to `fallback` (undefined) so the cache carries on with its other tiers.
   */
  async call<T>(operation: string, run: () => T | Promise<T>): Promise<T | undefined> {
    const breaker = this.#breaker;
    if (breaker && !breaker.allow()) {
      this.skipped++;
      return undefined;
    }
    try {
      const result = await this.#bounded(operation, run);
      breaker?.success();
      void this.#replay();
      return result;
    } catch (error) {
      this.errors++;
      const timedOut = error instanceof TimeoutError;
      if (timedOut) this.timeouts++;
      breaker?.failure(timedOut);
      this.#onError(this, operation, error as Error);
      return undefined;
    }
  }

  /** Runs a call that returns nothing through {@link call}: true when it reached the store. */
  async attempt(operation: string, run: () => unknown): Promise<boolean> {
    return (
      (await this.call(operation, async () => {
        await run();
        return true;
      })) === true
    );
  }

  /**
   * Reads a record. A key with a delete or clear still to replay reads as a miss without asking
   * the store, which may still hold the value that was replaced or removed.
   */
  async get(key: string): Promise<Uint8Array | undefined> {
    const store = this.#bytes();
    // While the circuit rests the call is skipped anyway: no need to look through what is
    // pending. (After the break the read is the probe, and must not see a replaced value.)
    if (!this.#breaker?.resting && (this.#pendingDeletes.has(key) || this.#clearPending(key))) {
      void this.#replay(); // once it has landed, the key is read here again
      return undefined;
    }
    return this.call('get', () => store.get(key));
  }

  /**
   * Writes a record. A write that cannot reach the store leaves its key to be deleted when it
   * answers again, so the record it was meant to replace does not come back; a write that lands
   * makes any such pending delete moot (it is dropped before the call, so a replay set off by
   * this very call cannot delete what it wrote). A replay under way, or a clear still to replay
   * that covers the key, runs first: either would remove what this writes.
   */
  async set(key: string, record: Uint8Array, ttlMs: number | undefined): Promise<void> {
    const store = this.#bytes();
    if (this.#replaying !== undefined) await this.#replaying;
    else if (!this.#breaker?.resting && this.#clearPending(key)) await this.#replay();
    this.#pendingDeletes.delete(key);
    const done = await this.attempt('set', () => store.set(key, record, ttlMs));
    if (!done) this.#remember(this.#pendingDeletes, [key]);
  }

  /** Deletes keys, remembering them for replay if the store cannot be reached now. */
  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const done = await this.attempt('delete', () => this.store.delete(keys));
    if (!done) this.#remember(this.#pendingDeletes, keys);
  }

  /** Clears a prefix, remembering it for replay if the store cannot be reached now. */
  async clear(prefix: string): Promise<void> {
    const done = await this.attempt('clear', () => this.store.clear(prefix));
    if (!done) this.#remember(this.#pendingClears, [prefix]);
  }

  #remember(set: Set<string>, keys: readonly string[]): void {
    for (const key of keys) {
      set.delete(key);
      set.add(key);
      if (set.size > MAX_PENDING) set.delete(set.values().next().value as string);
    }
  }

  /**
   * Replays the invalidations that could not reach the store, after any call that did: the
   * first success after an outage (the half-open probe) or, when only a few calls failed and the
   * circuit never opened, the next one. Calls made meanwhile share the replay under way.
   */
  #replay(): Promise<void> {
    if (this.#replaying === undefined && this.#pendingClears.size + this.#pendingDeletes.size > 0)
      this.#replaying = this.#replayPending().finally(() => {
        this.#replaying = undefined;
      });
    return this.#replaying ?? Promise.resolve();
  }

  /**
   * Each invalidation stays pending until its call has landed, so reads of its keys keep
   * missing here meanwhile; one that fails stays for the next replay.
   */
  async #replayPending(): Promise<void> {
    const store = this.store;
    for (const prefix of [...this.#pendingClears]) {
      const done = await this.attempt('clear', () => store.clear(prefix));
      if (!done) return;
      this.#pendingClears.delete(prefix);
    }
    const deletes = [...this.#pendingDeletes];
    if (deletes.length === 0) return;
    const done = await this.attempt('delete', () => store.delete(deletes));
    if (done) for (const key of deletes) this.#pendingDeletes.delete(key);
  }

  #clearPending(key: string): boolean {
    for (const prefix of this.#pendingClears) if (key.startsWith(prefix)) return true;
    return false;
  }

  #bytes() {
    const store = this.store;
    if (store.kind !== 'bytes') throw new TypeError(`Tier "${this.name}" holds objects, not bytes`);
    return store;
  }

  #bounded<T>(operation: string, run: () => T | Promise<T>): Promise<T> {
    let pending: T | Promise<T>;
    try {
      pending = run();
    } catch (error) {
      return Promise.reject(error);
    }
    if (!(pending instanceof Promise)) return Promise.resolve(pending);
    const failed = pending.catch((error: unknown) => {
      throw new BackendFailedError(
        `Cache tier "${this.name}" failed ${operation}: ${(error as Error)?.message ?? String(error)}`,
        { cause: error, context: { tier: this.name, operation } },
      );
    });
    return raceClock(this.#clock, failed, this.#timeoutMs, () => {
      throw new TimeoutError(
        `Cache tier "${this.name}" did not answer ${operation} within ${this.#timeoutMs} ms`,
        {
          context: { tier: this.name, operation, timeoutMs: this.#timeoutMs },
        },
      );
    });
  }
}
