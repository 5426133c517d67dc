import type { InvalidationBus, InvalidationMessage } from '../bus.js';

/**
 * An in-process bus: caches in one process that share a `MemoryBus` (and a shared tier such as
 * Redis or a common directory) keep their memory tiers coherent. Delivery is asynchronous
 * (next microtask), as it would be over a network.
 */
export class MemoryBus implements InvalidationBus {
  readonly #listeners = new Set<(message: InvalidationMessage) => void>();
  #closed = false;

  async publish(message: InvalidationMessage): Promise<void> {
    if (this.#closed) return;
    await Promise.resolve();
    for (const listener of this.#listeners) listener(message);
  }

  subscribe(listener: (message: InvalidationMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
  }
}
