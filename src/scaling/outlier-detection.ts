import { z } from 'zod';
import type { Peer } from './balancers/balancing-rule.js';

/**
 * Envoy's consecutive-error outlier detection (`consecutive_5xx`), passive only: failures
 * reported through leases eject a target, time brings it back.
 */
export interface OutlierDetectionOptions {
  /** Failures in a row that eject a target; a success resets the count. @default 5 */
  consecutiveErrors?: number;
  /**
   * Base ejection time in ms; the n-th ejection in a row lasts `n × baseEjectionTimeMs`, up to
   * `maxEjectionTimeMs`. @default 30000
   */
  baseEjectionTimeMs?: number;
  /** Longest an ejection lasts, in ms; at least `baseEjectionTimeMs`. @default 300000 */
  maxEjectionTimeMs?: number;
  /**
   * Most targets ejected at once, as a percentage of all targets. Envoy's rule: an ejection
   * happens only if `100 × (ejected + 1) / targets <= maxEjectionPercent`, so with the default
   * 10 % fewer than ten targets are never ejected unless `alwaysEjectOneHost` is set.
   * @default 10
   */
  maxEjectionPercent?: number;
  /** Eject one target even when `maxEjectionPercent` would allow none (Envoy 1.31+). @default false */
  alwaysEjectOneHost?: boolean;
  /**
   * Healthy time, in ms, that takes one step off a target's ejection multiplier (Envoy's
   * `interval`, at whose sweeps the multiplier decays). @default 10000
   */
  intervalMs?: number;
}

const positiveMs = z
  .number()
  .int()
  .positive()
  .max(2 ** 31 - 1);

/** Validates {@link OutlierDetectionOptions} and fills in Envoy's defaults. */
export const outlierDetectionSchema = z
  .object({
    consecutiveErrors: z.number().int().positive().default(5),
    baseEjectionTimeMs: positiveMs.default(30_000),
    maxEjectionTimeMs: positiveMs.default(300_000),
    maxEjectionPercent: z.number().min(0).max(100).default(10),
    alwaysEjectOneHost: z.boolean().default(false),
    intervalMs: positiveMs.default(10_000),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.maxEjectionTimeMs < o.baseEjectionTimeMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxEjectionTimeMs'],
        input: o.maxEjectionTimeMs,
        message: 'a duration >= baseEjectionTimeMs',
      });
    }
  });

type Settings = z.output<typeof outlierDetectionSchema>;

interface HostState {
  consecutiveErrors: number;
  ejectedUntil: number;
  /** Envoy's `ejectTimeBackoff`: the multiplier of the next ejection's base time. */
  backoff: number;
  unejectedAt: number | undefined;
  ejections: number;
}

/** What a target's outlier state looks like in `stats()`. */
export interface OutlierState {
  readonly consecutiveErrors: number;
  readonly ejections: number;
  /** When the current ejection ends (ms since the epoch), or `undefined` when not ejected. */
  readonly ejectedUntilMs: number | undefined;
}

/** A target's state when outlier detection is off. */
export const NO_OUTLIER_STATE: OutlierState = Object.freeze({
  consecutiveErrors: 0,
  ejections: 0,
  ejectedUntilMs: undefined,
});

/** The ejection bookkeeping of one balancer; the balancer calls it with the clock's time. */
export class OutlierDetector {
  readonly #settings: Settings;
  readonly #hosts = new Map<Peer, HostState>();
  #ejected = 0;
  #overflows = 0;

  constructor(settings: Settings) {
    this.#settings = settings;
  }

  track(peer: Peer): void {
    this.#hosts.set(peer, {
      consecutiveErrors: 0,
      ejectedUntil: 0,
      backoff: 0,
      unejectedAt: undefined,
      ejections: 0,
    });
  }

  untrack(peer: Peer): void {
    if (peer.ejected) this.#ejected--;
    this.#hosts.delete(peer);
  }

  /** Ejections refused because `maxEjectionPercent` was reached (Envoy's `ejections_overflow`). */
  get overflows(): number {
    return this.#overflows;
  }

  success(peer: Peer): void {
    const host = this.#hosts.get(peer);
    if (host) host.consecutiveErrors = 0;
  }

  /** Counts a failure; returns the ejection time in ms when it ejected the peer. */
  failure(peer: Peer, now: number): number | undefined {
    const host = this.#hosts.get(peer);
    // A lease taken before the ejection may end after it; Envoy ignores those too.
    if (!host || peer.ejected) return undefined;
    if (++host.consecutiveErrors < this.#settings.consecutiveErrors) return undefined;
    host.consecutiveErrors = 0;
    const { maxEjectionPercent, alwaysEjectOneHost, baseEjectionTimeMs, maxEjectionTimeMs } =
      this.#settings;
    const allowed =
      (100 * (this.#ejected + 1)) / this.#hosts.size <= maxEjectionPercent ||
      (alwaysEjectOneHost && this.#ejected === 0);
    if (!allowed) {
      this.#overflows++;
      return undefined;
    }
    host.backoff = this.#decayedBackoff(host, now);
    if (host.backoff * baseEjectionTimeMs < maxEjectionTimeMs + baseEjectionTimeMs) host.backoff++;
    const durationMs = Math.min(baseEjectionTimeMs * host.backoff, maxEjectionTimeMs);
    host.ejectedUntil = now + durationMs;
    host.ejections++;
    peer.ejected = true;
    this.#ejected++;
    return durationMs;
  }

  /** Ends every ejection due by `now`; returns the peers that came back. */
  sweep(now: number): Peer[] {
    const back: Peer[] = [];
    if (this.#ejected === 0) return back;
    for (const [peer, host] of this.#hosts) {
      if (!peer.ejected || host.ejectedUntil > now) continue;
      peer.ejected = false;
      this.#ejected--;
      host.consecutiveErrors = 0;
      host.unejectedAt = host.ejectedUntil;
      back.push(peer);
    }
    return back;
  }

  /** When the earliest ejection ends, or `Infinity` when none is ejected. */
  nextReturnAt(): number {
    let next = Number.POSITIVE_INFINITY;
    if (this.#ejected === 0) return next;
    for (const [peer, host] of this.#hosts) {
      if (peer.ejected && host.ejectedUntil < next) next = host.ejectedUntil;
    }
    return next;
  }

  state(peer: Peer): OutlierState {
    const host = this.#hosts.get(peer);
    return {
      consecutiveErrors: host?.consecutiveErrors ?? 0,
      ejections: host?.ejections ?? 0,
      ejectedUntilMs: peer.ejected ? host?.ejectedUntil : undefined,
    };
  }

  /**
   * Envoy takes one off the multiplier at each `interval` sweep that finds the host healthy
   * for at least an interval since it came back; computed here from the time instead.
   */
  #decayedBackoff(host: HostState, now: number): number {
    if (host.unejectedAt === undefined) return host.backoff;
    const steps = Math.floor((now - host.unejectedAt) / this.#settings.intervalMs);
    return Math.max(0, host.backoff - steps);
  }
}
