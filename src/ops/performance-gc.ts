import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import type { GcKind, GcPauseStats, GcStats } from './performance-types.js';

const KINDS: readonly GcKind[] = ['minor', 'major', 'incremental', 'weakcb'];

const kindOf = (code: number | undefined): GcKind | undefined =>
  code === constants.NODE_PERFORMANCE_GC_MINOR
    ? 'minor'
    : code === constants.NODE_PERFORMANCE_GC_MAJOR
      ? 'major'
      : code === constants.NODE_PERFORMANCE_GC_INCREMENTAL
        ? 'incremental'
        : code === constants.NODE_PERFORMANCE_GC_WEAKCB
          ? 'weakcb'
          : undefined;

/** A `gc` entry: Node puts the collection's kind in `detail`. */
type GcEntry = PerformanceEntry & { readonly detail?: { readonly kind?: number } };

interface MutablePauses {
  count: number;
  totalPauseMs: number;
  maxPauseMs: number;
}

/**
 * Counts garbage-collection pauses from the `gc` performance entries V8 reports. Node delivers
 * the entries in batches after the pauses, so counts trail the collections by a tick or so.
 * Totals accumulate across `start()`/`stop()` cycles.
 */
export class GcPauseObserver {
  readonly #byKind = new Map<GcKind, MutablePauses>(
    KINDS.map((kind) => [kind, { count: 0, totalPauseMs: 0, maxPauseMs: 0 }]),
  );
  #observer: PerformanceObserver | undefined;

  /** Begins observing; a no-op while observing. */
  start(): void {
    if (this.#observer) return;
    this.#observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) this.#add(entry);
    });
    this.#observer.observe({ type: 'gc' });
  }

  stop(): void {
    this.#observer?.disconnect();
    this.#observer = undefined;
  }

  stats(): GcStats {
    const byKind = {} as Record<GcKind, GcPauseStats>;
    let count = 0;
    let totalPauseMs = 0;
    let maxPauseMs = 0;
    for (const [kind, pauses] of this.#byKind) {
      byKind[kind] = { ...pauses };
      count += pauses.count;
      totalPauseMs += pauses.totalPauseMs;
      maxPauseMs = Math.max(maxPauseMs, pauses.maxPauseMs);
    }
    return { count, totalPauseMs, maxPauseMs, byKind };
  }

  #add(entry: PerformanceEntry): void {
    const kind = kindOf((entry as GcEntry).detail?.kind);
    const pauses = kind && this.#byKind.get(kind);
    if (!pauses) return;
    pauses.count++;
    pauses.totalPauseMs += entry.duration;
    pauses.maxPauseMs = Math.max(pauses.maxPauseMs, entry.duration);
  }
}
