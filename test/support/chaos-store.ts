import type { ByteCacheStore, EvictionListener } from 'salama/cache';

/** What the next calls of a {@link ChaosStore} do. */
export type ChaosMode = 'pass' | 'fail' | 'hang';

/**
 * A fault-injecting wrapper around a real byte store: in `pass` mode it forwards every call,
 * in `fail` mode every call rejects like a dropped connection, in `hang` mode every call
 * never settles (a server that accepts and never answers). Used to prove fail-safe, timeouts
 * and the circuit breaker; the store under test is the cache, not this wrapper.
 */
export class ChaosStore implements ByteCacheStore {
  readonly kind = 'bytes';
  readonly shared: boolean;
  readonly name: string;
  mode: ChaosMode = 'pass';
  /** In `pass` mode, each `get` answers this long after the store did (a slow network). */
  readDelayMs = 0;
  /** In `pass` mode, each `delete` and `clear` reaches the store this long after it was made. */
  landDelayMs = 0;
  /** Calls that reached the wrapper, by operation. */
  readonly calls = { get: 0, set: 0, delete: 0, clear: 0 };
  readonly #inner: ByteCacheStore;

  constructor(inner: ByteCacheStore) {
    this.#inner = inner;
    this.shared = inner.shared;
    this.name = inner.name;
  }

  get(key: string) {
    this.calls.get++;
    return this.#apply(async () => {
      const record = await this.#inner.get(key);
      if (this.readDelayMs > 0)
        await new Promise((resolve) => setTimeout(resolve, this.readDelayMs));
      return record;
    });
  }

  set(key: string, record: Uint8Array, ttlMs: number | undefined) {
    this.calls.set++;
    return this.#apply(() => this.#inner.set(key, record, ttlMs));
  }

  delete(keys: readonly string[]) {
    this.calls.delete++;
    return this.#apply(async () => {
      await this.#landLater();
      return this.#inner.delete(keys);
    });
  }

  clear(prefix: string) {
    this.calls.clear++;
    return this.#apply(async () => {
      await this.#landLater();
      return this.#inner.clear(prefix);
    });
  }

  async #landLater(): Promise<void> {
    if (this.landDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.landDelayMs));
  }

  onEvict(listener: EvictionListener): void {
    this.#inner.onEvict(listener);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  async #apply<T>(run: () => T | Promise<T>): Promise<T> {
    if (this.mode === 'fail') throw new Error('ECONNREFUSED (injected)');
    if (this.mode === 'hang') return new Promise<T>(() => {});
    return run();
  }
}
