import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { systemClock } from '../core/clock.js';
import { ClosedError } from '../core/errors.js';
import { Lifecycle } from '../core/lifecycle.js';
import { componentLogger } from '../core/logger.js';
import { salamaMeter } from '../core/metrics.js';
import { parseOptions } from '../core/options.js';
import { CacheApi, type CacheShared } from './cache-api.js';
import { CacheCore } from './cache-core.js';
import type { CacheEvents, CacheStats } from './cache-events.js';
import { recordCacheMetrics } from './cache-metrics.js';
import {
  cacheOptionsSchema,
  type MultiLevelCacheOptions,
  type ResolvedEntryOptions,
} from './cache-options.js';
import { defaultCompression } from './entry-codec.js';
import { CacheLoader } from './loader.js';
import { jsonSerializer } from './serializers.js';
import { Tier } from './tier.js';

/**
 * A cache over tiers (memory, Redis, files, in the order given) that loads each missing key
 * once, serves stale copies while refreshing or when the loader fails, keeps going when a tier
 * is slow or down, and stays coherent with other caches through an invalidation bus.
 */
export class MultiLevelCache extends CacheApi {
  readonly #shared: CacheShared;
  readonly #events: EventEmitter<CacheEvents>;

  constructor(options: MultiLevelCacheOptions) {
    const opts = parseOptions('MultiLevelCache', cacheOptionsSchema, options);
    const clock = opts.clock ?? systemClock;
    const logger = componentLogger(opts.logger, 'MultiLevelCache');
    const events = new EventEmitter<CacheEvents>();
    const remote = {
      timeoutMs: opts.remote?.timeoutMs ?? 250,
      failureThreshold: opts.remote?.failureThreshold ?? 5,
      timeoutThreshold: opts.remote?.timeoutThreshold ?? 1,
      breakDurationMs: opts.remote?.breakDurationMs ?? 10_000,
    };
    let core: CacheCore | undefined;
    const tiers = opts.stores.map(
      (store) =>
        new Tier(store, remote, clock, {
          onError: (tier, operation, error) => core?.reportTierError(tier, operation, error),
          onCircuit: (tier, state) => core?.emit('circuit', { tier: tier.name, state }),
        }),
    );
    const defaults: ResolvedEntryOptions = Object.freeze({
      noCache: false,
      ttlMs: opts.ttlMs ?? 5 * 60_000,
      jitter: opts.jitter ?? 0,
      graceMs: opts.graceMs ?? 0,
      failSafe: opts.failSafe ?? true,
      failSafeThrottleMs: opts.failSafeThrottleMs ?? 30_000,
      softTimeoutMs: opts.softTimeoutMs ?? 0,
      hardTimeoutMs: opts.hardTimeoutMs,
      eagerRefresh: opts.eagerRefresh,
      tags: Object.freeze([]),
      negativeTtlMs: undefined,
      distributedLock: false,
    });
    core = new CacheCore({
      tiers,
      codec: {
        serializer: opts.serializer ?? jsonSerializer,
        compression:
          opts.compression === false ? false : { ...defaultCompression, ...opts.compression },
      },
      clock,
      logger,
      defaults,
      nodeId: opts.nodeId ?? randomBytes(9).toString('base64url'),
      bus: opts.bus,
      events,
    });
    const loader = new CacheLoader(core, {
      ttlMs: opts.lock?.ttlMs ?? 10_000,
      waitMs: opts.lock?.waitMs ?? 5_000,
      retryMs: opts.lock?.retryMs ?? 25,
    });
    let stopMetrics = () => {};
    const lifecycle = new Lifecycle('MultiLevelCache', async () => {
      stopMetrics();
      core.close();
      loader.abortAll(
        new ClosedError(
          'MultiLevelCache was closed while this loader ran; its value is not stored',
        ),
      );
      await Promise.all(opts.stores.map((store) => store.close()));
    });
    const shared: CacheShared = { core, loader, lifecycle };
    super(shared, '');
    this.#shared = shared;
    this.#events = events;
    for (const tier of tiers) {
      tier.store.onEvict((key, reason) => core.emit('evict', { tier: tier.name, key, reason }));
    }
    stopMetrics = recordCacheMetrics(salamaMeter(opts.meterProvider), opts.name ?? 'default', () =>
      this.stats(),
    );
  }

  /** This cache's identity on the bus. */
  get nodeId(): string {
    return this.#shared.core.nodeId;
  }

  /** Counters of the cache and of each tier. */
  stats(): CacheStats {
    const { core, loader } = this.#shared;
    const c = core.counters;
    const reads = c.hits + c.misses;
    return {
      hits: c.hits,
      misses: c.misses,
      hitRate: reads === 0 ? 0 : c.hits / reads,
      staleServed: c.staleServed,
      loaderCalls: c.loaderCalls,
      loaderErrors: c.loaderErrors,
      loaderTimeouts: c.loaderTimeouts,
      inflight: loader.inflight,
      bus: { published: c.busPublished, received: c.busReceived, errors: c.busErrors },
      tiers: core.tiers.map((tier) => tier.stats()),
    };
  }

  on<K extends keyof CacheEvents>(event: K, listener: (...args: CacheEvents[K]) => void): this {
    this.#events.on(event, listener as never);
    return this;
  }

  off<K extends keyof CacheEvents>(event: K, listener: (...args: CacheEvents[K]) => void): this {
    this.#events.off(event, listener as never);
    return this;
  }

  once<K extends keyof CacheEvents>(event: K, listener: (...args: CacheEvents[K]) => void): this {
    this.#events.once(event, listener as never);
    return this;
  }

  /**
   * Stops bus delivery and metrics and closes the stores (not a Redis client you passed in).
   * Loaders still running get their signal aborted with `E_CLOSED`; whatever they return goes
   * to their callers but is neither stored nor published.
   */
  close(): Promise<void> {
    return this.#shared.lifecycle.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
