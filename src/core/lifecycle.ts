import { ClosedError } from './errors.js';

/**
 * Idempotent close for a component: the first `close()` runs the component's shutdown once,
 * every later call returns the same promise, and `assertOpen()` throws `E_CLOSED` afterwards.
 * Components hold one of these rather than inheriting from a base class.
 */
export class Lifecycle {
  readonly #component: string;
  readonly #shutdown: () => Promise<void> | void;
  #closing: Promise<void> | undefined;

  constructor(component: string, shutdown: () => Promise<void> | void) {
    this.#component = component;
    this.#shutdown = shutdown;
  }

  /** True once `close()` has been called, even before shutdown finishes. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Runs the shutdown on the first call; later calls return the first call's promise. */
  close(): Promise<void> {
    this.#closing ??= (async () => this.#shutdown())();
    return this.#closing;
  }

  /** Throws `E_CLOSED` naming the component and the operation when already closed. */
  assertOpen(operation: string): void {
    if (this.#closing !== undefined) {
      throw new ClosedError(
        `${this.#component}.${operation}() was called after close(); create a new ${this.#component} instead`,
        { context: { component: this.#component, operation } },
      );
    }
  }
}

/** Something that releases its resources with an idempotent `close()`. */
export interface Closable {
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
