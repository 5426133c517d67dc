/**
 * The pending requests of a GPUOptimizer, grouped by batch key (inputs of one shape, after
 * padding) and ordered by priority, then arrival. `nextBatch` applies Triton's dynamic-batching
 * rules; the optimizer calls it only when an instance is free, so while every instance is busy
 * the pending batch keeps growing.
 */

/** What the queue needs to know of a request. */
export interface Queued {
  readonly key: string;
  readonly priority: number;
  readonly enqueuedAt: number;
  /** False once removed (dispatched, expired or aborted); removal is lazy. */
  queued: boolean;
}

/** How batches are formed. */
export interface BatchPolicy {
  readonly maxBatchSize: number;
  /** Ascending; a group that can fill one of these is dispatched at once. */
  readonly preferredBatchSizes: readonly number[];
  readonly maxQueueDelayMs: number;
}

class Level<R extends Queued> {
  readonly items: R[] = [];
  head = 0;

  first(): R | undefined {
    while (this.head < this.items.length && !(this.items[this.head] as R).queued) this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return this.items[this.head];
  }
}

class Group<R extends Queued> {
  readonly levels = new Map<number, Level<R>>();
  /** Priorities present, highest first. */
  priorities: number[] = [];
  size = 0;

  push(request: R): void {
    let level = this.levels.get(request.priority);
    if (!level) {
      level = new Level<R>();
      this.levels.set(request.priority, level);
      this.priorities = [...this.levels.keys()].sort((a, b) => b - a);
    }
    level.items.push(request);
    this.size++;
  }

  /** The request served next: highest priority, then oldest. */
  head(): R | undefined {
    for (const p of this.priorities) {
      const first = this.levels.get(p)?.first();
      if (first) return first;
    }
    return undefined;
  }

  /** When the oldest request of any priority arrived. */
  oldest(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const level of this.levels.values()) {
      const first = level.first();
      if (first && first.enqueuedAt < oldest) oldest = first.enqueuedAt;
    }
    return oldest;
  }

  take(count: number): R[] {
    const batch: R[] = [];
    for (const p of this.priorities) {
      const level = this.levels.get(p) as Level<R>;
      for (let r = level.first(); r && batch.length < count; r = level.first()) {
        r.queued = false;
        level.head++;
        batch.push(r);
      }
      if (batch.length === count) break;
    }
    this.size -= batch.length;
    return batch;
  }
}

/** A batch to run now, or when to look again. */
export type NextBatch<R> = { readonly batch: R[] } | { readonly waitUntil: number };

export class RequestQueue<R extends Queued> {
  readonly #groups = new Map<string, Group<R>>();
  #size = 0;

  /** Requests waiting. */
  get size(): number {
    return this.#size;
  }

  push(request: R): void {
    let group = this.#groups.get(request.key);
    if (!group) {
      group = new Group<R>();
      this.#groups.set(request.key, group);
    }
    group.push(request);
    request.queued = true;
    this.#size++;
  }

  /** Takes a request out (expired, aborted). Returns false if it was no longer queued. */
  remove(request: R): boolean {
    if (!request.queued) return false;
    request.queued = false;
    const group = this.#groups.get(request.key);
    if (group) group.size--;
    this.#size--;
    return true;
  }

  /** Every queued request, removing them all (for close without drain). */
  drain(): R[] {
    const all: R[] = [];
    for (const group of this.#groups.values()) all.push(...group.take(group.size));
    this.#groups.clear();
    this.#size = 0;
    return all;
  }

  /**
   * The batch to dispatch now, if any: a group that fills `maxBatchSize` or a preferred size,
   * or whose oldest request has waited `maxQueueDelayMs`. Among ready groups the one whose head
   * has the highest priority (then the oldest head) goes first. Otherwise, when to look again.
   */
  nextBatch(now: number, policy: BatchPolicy): NextBatch<R> | undefined {
    let best: { group: Group<R>; take: number; head: R } | undefined;
    let waitUntil = Number.POSITIVE_INFINITY;
    for (const [key, group] of this.#groups) {
      if (group.size === 0) {
        this.#groups.delete(key);
        continue;
      }
      const head = group.head() as R;
      const take = readyCount(group, now, policy);
      if (take === 0) {
        waitUntil = Math.min(waitUntil, group.oldest() + policy.maxQueueDelayMs);
        continue;
      }
      if (
        !best ||
        head.priority > best.head.priority ||
        (head.priority === best.head.priority && head.enqueuedAt < best.head.enqueuedAt)
      ) {
        best = { group, take, head };
      }
    }
    if (best) {
      const batch = best.group.take(best.take);
      this.#size -= batch.length;
      return { batch };
    }
    return Number.isFinite(waitUntil) ? { waitUntil } : undefined;
  }
}

/** How many of a group's requests are ready to go as one batch now; 0 to keep waiting. */
function readyCount<R extends Queued>(group: Group<R>, now: number, policy: BatchPolicy): number {
  const n = group.size;
  if (n >= policy.maxBatchSize) return policy.maxBatchSize;
  const preferred = policy.preferredBatchSizes;
  for (let i = preferred.length - 1; i >= 0; i--) {
    const size = preferred[i] as number;
    if (size <= n) return size;
  }
  return now >= group.oldest() + policy.maxQueueDelayMs ? n : 0;
}
