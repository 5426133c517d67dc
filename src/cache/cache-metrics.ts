import type { Meter } from '@opentelemetry/api';
import { observeSnapshot } from '../core/metrics.js';
import type { CacheStats } from './cache-events.js';

const cacheSpecs = {
  hits: {
    kind: 'counter',
    name: 'salama.cache.hits',
    description: 'Reads answered with a fresh value',
    unit: '{read}',
  },
  misses: {
    kind: 'counter',
    name: 'salama.cache.misses',
    description: 'Reads that found nothing fresh',
    unit: '{read}',
  },
  staleServed: {
    kind: 'counter',
    name: 'salama.cache.stale_served',
    description: 'Stale copies served',
    unit: '{read}',
  },
  loaderCalls: {
    kind: 'counter',
    name: 'salama.cache.loader.calls',
    description: 'Loader runs',
    unit: '{call}',
  },
  loaderErrors: {
    kind: 'counter',
    name: 'salama.cache.loader.errors',
    description: 'Loader runs that failed or timed out',
    unit: '{call}',
  },
  inflight: {
    kind: 'gauge',
    name: 'salama.cache.loader.inflight',
    description: 'Keys being loaded',
    unit: '{key}',
  },
} as const;

const tierSpecs = {
  hits: {
    kind: 'counter',
    name: 'salama.cache.tier.hits',
    description: 'Reads a tier answered',
    unit: '{read}',
  },
  misses: {
    kind: 'counter',
    name: 'salama.cache.tier.misses',
    description: 'Reads a tier could not answer',
    unit: '{read}',
  },
  errors: {
    kind: 'counter',
    name: 'salama.cache.tier.errors',
    description: 'Tier calls that failed or timed out',
    unit: '{call}',
  },
  open: {
    kind: 'gauge',
    name: 'salama.cache.tier.circuit_open',
    description: '1 while the tier circuit is not closed',
    unit: '1',
  },
} as const;

/**
 * Registers the cache's observable metrics, read from `stats()` at collection time so the hot
 * path records nothing; returns the function that unregisters them.
 */
export function recordCacheMetrics(
  meter: Meter,
  cache: string,
  stats: () => CacheStats,
): () => void {
  const stops = [observeSnapshot(meter, cacheSpecs, stats, { cache })];
  const tiers = stats().tiers;
  tiers.forEach((tier, index) => {
    stops.push(
      observeSnapshot(
        meter,
        tierSpecs,
        () => {
          const t = stats().tiers[index] ?? tier;
          return {
            hits: t.hits,
            misses: t.misses,
            errors: t.errors,
            open: t.circuit === 'closed' ? 0 : 1,
          };
        },
        { cache, tier: `${index}:${tier.name}` },
      ),
    );
  });
  return () => {
    for (const stop of stops) stop();
  };
}
