import type { BalancingStrategy } from './load-balancer-options.js';

/** How a request on a leased target ended: `'failure'` counts toward outlier ejection. */
export type LeaseOutcome = 'success' | 'failure';

/** A target handed out by {@link LoadBalancer.pick}, active until released. */
export interface BalancerLease<T> {
  /** The target's id. */
  readonly id: string;
  readonly target: T;
  /**
   * Ends the request: the target's active count drops, and the outcome feeds outlier
   * detection (a success resets the consecutive-failure count). Later calls do nothing.
   */
  release(outcome: LeaseOutcome): void;
}

/** Options of {@link LoadBalancer.run}. */
export interface RunOptions {
  /** The affinity key, required by `'consistent-hash'` (a camera id). */
  key?: string;
  /**
   * Whether an error thrown by the function is the target's fault. Errors it returns `false`
   * for (a malformed input, a cancelled request) release the lease as a success.
   * @default every error counts as a failure
   */
  countsAsFailure?: (error: unknown) => boolean;
}

/** Payload of the `eject` event. */
export interface EjectEvent {
  readonly id: string;
  /** How long the ejection lasts, in ms. */
  readonly durationMs: number;
  /** Ejections of this target so far, this one included. */
  readonly ejections: number;
}

/**
 * Events a {@link LoadBalancer} emits. `uneject` is noticed lazily: it fires on the first
 * `pick()` or `stats()` after the ejection time has passed.
 */
export interface LoadBalancerEvents {
  eject: [EjectEvent];
  uneject: [{ readonly id: string }];
}

/** One target in {@link LoadBalancerStats}. */
export interface TargetStats {
  readonly id: string;
  readonly weight: number;
  /** Leases picked and not yet released. */
  readonly active: number;
  readonly picks: number;
  readonly successes: number;
  readonly failures: number;
  /** Failures since the last success (0 without outlier detection). */
  readonly consecutiveErrors: number;
  readonly ejected: boolean;
  readonly ejections: number;
  /** When the current ejection ends, ms since the epoch on the balancer's clock. */
  readonly ejectedUntilMs: number | undefined;
}

/** A snapshot from {@link LoadBalancer.stats}. */
export interface LoadBalancerStats {
  readonly strategy: BalancingStrategy;
  /** Targets that may be picked now. */
  readonly available: number;
  readonly ejected: number;
  readonly active: number;
  readonly picks: number;
  readonly failures: number;
  readonly ejections: number;
  /** Ejections refused because `maxEjectionPercent` was reached. */
  readonly ejectionOverflows: number;
  /** Per target, in the order they were added. */
  readonly targets: readonly TargetStats[];
}
