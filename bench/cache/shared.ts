/**
 * Data and measurement helpers shared by bench/cache.ts and its child processes: the 1 KiB
 * JSON values, the Zipf key sequence, a latency recorder and percentiles.
 */

export const REDIS_HOST = process.env.REDIS_HOST ?? '127.0.0.1';
export const REDIS_PORT = Number(process.env.REDIS_PORT ?? 6379);
/** Every key this benchmark writes starts with this, so it can clean up after itself. */
export const ROOT_PREFIX = 'bench:cache:';
export const KEY_COUNT = 100_000;
export const VALUE_BYTES = 1024;
export const ZIPF_S = 0.99;
export const TTL_MS = 60 * 60_000;
export const LOADER_MS = 50;

import { mulberry32 as prng } from '../../test/support/random.js';

const WORDS = (
  'camera frame plate vehicle detection lane speed north south east west entry exit gate ' +
  'truck car bus van motorbike red blue white black silver green confidence region zone ' +
  'parking violation stop signal queue night day rain clear fog tracking model batch'
).split(' ');

export interface CachedValue {
  id: number;
  key: string;
  camera: { id: string; site: string; lane: number; heading: number };
  plate: string;
  confidence: number;
  bbox: number[];
  tags: string[];
  seenAt: string;
  description: string;
}

/** A JSON object whose `JSON.stringify` is exactly `VALUE_BYTES` bytes (ASCII only). */
export function makeValue(i: number): CachedValue {
  const rand = prng(i + 1);
  const word = () => WORDS[Math.floor(rand() * WORDS.length)] as string;
  const value: CachedValue = {
    id: i,
    key: keyOf(i),
    camera: {
      id: `cam-${Math.floor(rand() * 4096)}`,
      site: `site-${Math.floor(rand() * 64)}`,
      lane: Math.floor(rand() * 6),
      heading: Math.round(rand() * 3600) / 10,
    },
    plate: Math.floor(rand() * 36 ** 7)
      .toString(36)
      .toUpperCase()
      .padStart(7, '0'),
    confidence: Math.round(rand() * 1e4) / 1e4,
    bbox: [0, 0, 0, 0].map(() => Math.floor(rand() * 1920)),
    tags: [word(), word(), word()],
    seenAt: new Date(1_780_000_000_000 + Math.floor(rand() * 1e10)).toISOString(),
    description: '',
  };
  const room = VALUE_BYTES - JSON.stringify(value).length;
  let text = '';
  while (text.length < room) text += `${word()} `;
  value.description = text.slice(0, room);
  return value;
}

export const keyOf = (i: number) => `k:${i}`;

/**
 * `length` key indices drawn from a Zipf(s) distribution over `n` keys (rank 0 is the hottest),
 * by inverting the cumulative distribution with a binary search.
 */
export function zipfSequence(n: number, s: number, length: number, seed: number): Int32Array {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    total += 1 / (k + 1) ** s;
    cdf[k] = total;
  }
  const rand = prng(seed);
  const out = new Int32Array(length);
  for (let i = 0; i < length; i++) {
    const u = rand() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cdf[mid] as number) < u) lo = mid + 1;
      else hi = mid;
    }
    out[i] = lo;
  }
  return out;
}

/** Latencies (ns) of one peer in one scenario, added up over its slots. */
export class Recorder {
  #samples = new Float64Array(1 << 16);
  count = 0;
  /** Wall time of the slots (ns), measurement overhead included. */
  wallNs = 0;
  /** Calls that answered `undefined` where a value was expected. */
  misses = 0;
  errors = 0;
  /** Calls still pending when the benchmark's own bound ran out. */
  unanswered = 0;

  push(ns: number): void {
    if (this.count === this.#samples.length) {
      const bigger = new Float64Array(this.#samples.length * 2);
      bigger.set(this.#samples);
      this.#samples = bigger;
    }
    this.#samples[this.count++] = ns;
  }

  sorted(): Float64Array {
    return this.#samples.slice(0, this.count).sort();
  }
}

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
