/** Keys noted as invalidated while reads are out, at most. */
const MAX_NOTED = 10_000;

/**
 * Keeps a read from filling upper tiers with a value that was set, deleted or cleared while it
 * was reading a lower tier (the fill would bring the old value back until its TTL). While reads
 * are out, invalidations are numbered and noted per key; a read fills only if nothing it read
 * was invalidated since it began. With no read out, nothing is kept.
 */
export class FillFence {
  #reads = 0;
  #epoch = 0;
  /** Keys invalidated while reads were out, with the epoch of their last invalidation. */
  readonly #invalidatedAt = new Map<string, number>();
  #clearedAt = 0;

  /** A read begins: returns what it passes to {@link mayFill}, and must be followed by {@link end}. */
  begin(): number {
    this.#reads++;
    return this.#epoch;
  }

  end(): void {
    if (--this.#reads === 0) this.#invalidatedAt.clear();
  }

  /** Whether the read begun at `epoch` may fill upper tiers with what it found for `key`. */
  mayFill(key: string, epoch: number): boolean {
    return this.#clearedAt <= epoch && (this.#invalidatedAt.get(key) ?? 0) <= epoch;
  }

  invalidated(keys: readonly string[]): void {
    if (this.#reads === 0) return;
    const epoch = ++this.#epoch;
    for (const key of keys) this.#invalidatedAt.set(key, epoch);
    // Under reads that never all finish at once the map would only grow: past the cap, every
    // read now out skips its fill instead (a cost of one more lower-tier read, never a stale value).
    if (this.#invalidatedAt.size > MAX_NOTED) {
      this.#clearedAt = epoch;
      this.#invalidatedAt.clear();
    }
  }

  cleared(): void {
    if (this.#reads > 0) this.#clearedAt = ++this.#epoch;
  }
}
