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
  /** Deletes and clears waiting for the circuit to close, to be replayed then. */
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
 * reported, and answers as a miss; deletes that could not reach the store are replayed when
 * its circuit closes again, so no value deleted while it was down comes back.
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
        ? new CircuitBreaker(remote, clock, (state) => {
            hooks.onCircuit(this, state);
            if (state === 'closed') void this.#replay();
          })
        : undefined;
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
      circuit: this.#breaker?.state ?? 'closed',
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

  /** Deletes keys, remembering them for replay if the store cannot be reached now. */
  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const done = await this.call('delete', async () => {
      await this.store.delete(keys);
      return true;
    });
    if (!done) this.#remember(this.#pendingDeletes, keys);
  }

  /** Clears a prefix, remembering it for replay if the store cannot be reached now. */
  async clear(prefix: string): Promise<void> {
    const done = await this.call('clear', async () => {
      await this.store.clear(prefix);
      return true;
    });
    if (!done) this.#remember(this.#pendingClears, [prefix]);
  }

  #remember(set: Set<string>, keys: readonly string[]): void {
    for (const key of keys) {
      set.delete(key);
      set.add(key);
      if (set.size > MAX_PENDING) set.delete(set.values().next().value as string);
    }
  }

  async #replay(): Promise<void> {
    const clears = [...this.#pendingClears];
    const deletes = [...this.#pendingDeletes];
    this.#pendingClears.clear();
    this.#pendingDeletes.clear();
    for (const prefix of clears) await this.clear(prefix);
    await this.delete(deletes);
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
