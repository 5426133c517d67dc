import type { Clock } from '../core/clock.js';

/** `closed`: calls pass. `open`: calls are skipped. `half-open`: one probe call is let through. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** When a tier's circuit opens and how long it stays open. */
export interface CircuitBreakerOptions {
  /** Consecutive failures (errors or timeouts) that open the circuit. @default 5 */
  failureThreshold: number;
  /**
   * Consecutive timeouts that open the circuit. A tier that stops answering costs a full
   * timeout per call, so by default one is enough. @default 1
   */
  timeoutThreshold: number;
  /** How long an open circuit skips the tier before one probe is let through (ms). @default 10000 */
  breakDurationMs: number;
}

/**
 * A consecutive-failure circuit breaker. After `failureThreshold` failures (or
 * `timeoutThreshold` timeouts) in a row the circuit
 * opens and {@link allow} answers false; after `breakDurationMs` one call is let through
 * (half-open): its success closes the circuit, its failure opens it for another period.
 */
export class CircuitBreaker {
  readonly #options: CircuitBreakerOptions;
  readonly #clock: Clock;
  readonly #onChange: (state: CircuitState) => void;
  #state: CircuitState = 'closed';
  #failures = 0;
  #timeouts = 0;
  #openedAt = 0;
  #probing = false;

  constructor(
    options: CircuitBreakerOptions,
    clock: Clock,
    onChange: (state: CircuitState) => void,
  ) {
    this.#options = options;
    this.#clock = clock;
    this.#onChange = onChange;
  }

  get state(): CircuitState {
    return this.#state;
  }

  /** True while the circuit is open and its break is not over: every call is skipped. */
  get resting(): boolean {
    return (
      this.#state === 'open' && this.#clock.now() - this.#openedAt < this.#options.breakDurationMs
    );
  }

  /** True when a call may go to the tier now; a true answer while half-open is the probe. */
  allow(): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'open') {
      if (this.#clock.now() - this.#openedAt < this.#options.breakDurationMs) return false;
      this.#set('half-open');
    }
    if (this.#probing) return false;
    this.#probing = true;
    return true;
  }

  success(): void {
    this.#failures = 0;
    this.#timeouts = 0;
    this.#probing = false;
    if (this.#state !== 'closed') this.#set('closed');
  }

  /** Records a failed call; `timedOut` when it failed by not answering in time. */
  failure(timedOut: boolean): void {
    this.#probing = false;
    this.#failures++;
    this.#timeouts = timedOut ? this.#timeouts + 1 : 0;
    const { failureThreshold, timeoutThreshold } = this.#options;
    if (
      this.#state === 'half-open' ||
      (this.#state === 'closed' &&
        (this.#failures >= failureThreshold || this.#timeouts >= timeoutThreshold))
    ) {
      this.#openedAt = this.#clock.now();
      this.#set('open');
    }
  }

  #set(state: CircuitState): void {
    this.#state = state;
    this.#onChange(state);
  }
}
