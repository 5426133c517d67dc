import { EventEmitter } from 'node:events';
import type { Attributes } from '@opentelemetry/api';
import { type Clock, systemClock } from '../core/clock.js';
import {
  BackendUnavailableError,
  ConflictError,
  describeValue,
  InvalidArgumentError,
} from '../core/errors.js';
import { componentLogger, type Logger } from '../core/logger.js';
import { declareInstruments, type Instruments, salamaMeter } from '../core/metrics.js';
import { parseOptions } from '../core/options.js';
import type { BalancingRule, Peer } from './balancers/balancing-rule.js';
import { createRule } from './balancers/rules.js';
import {
  type BalancingStrategy,
  type LoadBalancerOptions,
  loadBalancerOptionsSchema,
  type TargetSpec,
  targetSpecSchema,
} from './load-balancer-options.js';
import type {
  BalancerLease,
  LeaseOutcome,
  LoadBalancerEvents,
  LoadBalancerStats,
  RunOptions,
} from './load-balancer-types.js';
import { NO_OUTLIER_STATE, OutlierDetector } from './outlier-detection.js';

interface Member<T> extends Peer {
  readonly target: T;
  readonly attributes: Attributes;
  picks: number;
  successes: number;
  failures: number;
  removed: boolean;
}

const instrumentSpecs = {
  picks: {
    kind: 'counter',
    name: 'salama.scaling.balancer.picks',
    description: 'Targets handed out by pick()',
    unit: '{request}',
  },
  failures: {
    kind: 'counter',
    name: 'salama.scaling.balancer.failures',
    description: 'Leases released as failures',
    unit: '{request}',
  },
  ejections: {
    kind: 'counter',
    name: 'salama.scaling.balancer.ejections',
    description: 'Targets ejected by outlier detection',
    unit: '{ejection}',
  },
  active: {
    kind: 'upDownCounter',
    name: 'salama.scaling.balancer.active',
    description: 'Leases picked and not yet released',
    unit: '{request}',
  },
} as const;

/**
 * Spreads requests over a set of targets (GPUOptimizer instances, KServe endpoints, clients)
 * by one of NGINX's or Envoy's rules, counting active requests through leases and ejecting
 * targets that keep failing.
 *
 * ```ts
 * const lb = new LoadBalancer({
 *   targets: [{ id: 'gpu0', target: gpu0 }, { id: 'gpu1', target: gpu1, weight: 2 }],
 *   strategy: 'least-connections',
 *   outlierDetection: { consecutiveErrors: 5, alwaysEjectOneHost: true },
 * });
 * const result = await lb.run((gpu) => gpu.infer(input));
 * ```
 */
export class LoadBalancer<T> extends EventEmitter<LoadBalancerEvents> {
  readonly #name: string;
  readonly #strategy: BalancingStrategy;
  readonly #rule: BalancingRule;
  readonly #clock: Clock;
  readonly #logger: Logger;
  /** Every target is ejected and picks go to all of them; logged once per episode. */
  #panicking = false;
  readonly #detector: OutlierDetector | undefined;
  readonly #metrics: Instruments<typeof instrumentSpecs>;
  #members: Member<T>[] = [];
  #available: Member<T>[] = [];
  #nextReturnAt = Number.POSITIVE_INFINITY;
  #picks = 0;
  #failures = 0;
  #ejections = 0;

  constructor(options: LoadBalancerOptions<T>) {
    super();
    const o = parseOptions('LoadBalancer', loadBalancerOptionsSchema, options);
    this.#name = o.name;
    this.#strategy = o.strategy;
    this.#clock = o.clock ?? systemClock;
    this.#logger = componentLogger(o.logger, 'LoadBalancer');
    this.#detector = o.outlierDetection && new OutlierDetector(o.outlierDetection);
    this.#metrics = declareInstruments(salamaMeter(o.meterProvider), instrumentSpecs);
    this.#rule = createRule(o.strategy, o.virtualNodes, o.random);
    for (const spec of o.targets) this.#insert(spec as Required<TargetSpec<T>>);
    this.#membershipChanged();
  }

  /** The configured rule. */
  get strategy(): BalancingStrategy {
    return this.#strategy;
  }

  /**
   * Chooses a target and counts it as active until the lease is released. `key` is required
   * by `'consistent-hash'` (a camera id, say) and ignored by the other rules. When every
   * target is ejected, picks among all of them as Envoy's panic mode does (failing over to
   * nothing would fail every request). Throws `E_BACKEND_UNAVAILABLE` when there are no targets.
   */
  pick(key?: string): BalancerLease<T> {
    const now = this.#clock.now();
    if (now >= this.#nextReturnAt) this.#returnEjected(now);
    if (this.#members.length === 0) throw this.#unavailable();
    const panic = this.#available.length === 0;
    // Logged once per episode; the episode ends with the first pick that finds a target in.
    if (panic && !this.#panicking)
      this.#logger.warn(
        { balancer: this.#name, targets: this.#members.length },
        'every target is ejected: picking among all of them (panic mode)',
      );
    this.#panicking = panic;
    if (this.#strategy === 'consistent-hash' && typeof key !== 'string') {
      throw new InvalidArgumentError(
        `LoadBalancer '${this.#name}' uses 'consistent-hash': pick(key) expected a string key, received ${describeValue(key)}`,
        { context: { balancer: this.#name, key } },
      );
    }
    const pool = panic ? this.#members : this.#available;
    const member = this.#rule.pick(pool, this.#members, key) as Member<T>;
    member.active++;
    member.picks++;
    this.#picks++;
    this.#metrics.picks.add(1, member.attributes);
    this.#metrics.active.add(1, member.attributes);
    let released = false;
    return {
      id: member.id,
      target: member.target,
      release: (outcome: LeaseOutcome) => {
        if (outcome !== 'success' && outcome !== 'failure') {
          throw new InvalidArgumentError(
            `release(outcome) expected 'success' or 'failure', received ${describeValue(outcome)}`,
            { context: { balancer: this.#name, target: member.id } },
          );
        }
        if (released) return;
        released = true;
        this.#settle(member, outcome);
      },
    };
  }

  /**
   * Picks a target, runs `fn` on it and releases the lease: a success when `fn` resolves, a
   * failure when it throws (unless `countsAsFailure` says the error is not the target's fault,
   * which Envoy also counts as a success). Resolves or rejects as `fn` does.
   */
  async run<R>(
    fn: (target: T, id: string) => Promise<R> | R,
    options: RunOptions = {},
  ): Promise<R> {
    const lease = this.pick(options.key);
    let result: R;
    try {
      result = await fn(lease.target, lease.id);
    } catch (error) {
      let outcome: LeaseOutcome = 'failure';
      try {
        if (options.countsAsFailure?.(error) === false) outcome = 'success';
      } catch (classifierError) {
        // A broken classifier must not leak the lease or hide fn's error: count a failure.
        this.#logger.warn(
          { balancer: this.#name, target: lease.id, err: classifierError },
          'countsAsFailure threw; counted as a failure',
        );
      }
      lease.release(outcome);
      throw error;
    }
    lease.release('success');
    return result;
  }

  /** Adds a target. Throws `E_CONFLICT` when its id is taken, `E_INVALID_OPTIONS` when malformed. */
  add(spec: TargetSpec<T>): void {
    const parsed = parseOptions('LoadBalancer target', targetSpecSchema, spec);
    if (this.#members.some((m) => m.id === parsed.id)) {
      throw new ConflictError(
        `LoadBalancer '${this.#name}' already has a target '${parsed.id}'; remove it first or use another id`,
        { context: { balancer: this.#name, id: parsed.id } },
      );
    }
    this.#insert(parsed as Required<TargetSpec<T>>);
    this.#membershipChanged();
  }

  /**
   * Removes a target; returns false when there was none with this id. Its outstanding leases
   * may still be released; they no longer count anywhere.
   */
  remove(id: string): boolean {
    const member = this.#members.find((m) => m.id === id);
    if (!member) return false;
    member.removed = true;
    this.#detector?.untrack(member);
    this.#members = this.#members.filter((m) => m !== member);
    this.#membershipChanged();
    return true;
  }

  /** A snapshot of counts per target and in total. */
  stats(): LoadBalancerStats {
    const now = this.#clock.now();
    if (now >= this.#nextReturnAt) this.#returnEjected(now);
    const targets = this.#members.map((m) => ({
      id: m.id,
      weight: m.weight,
      active: m.active,
      picks: m.picks,
      successes: m.successes,
      failures: m.failures,
      ejected: m.ejected,
      ...(this.#detector?.state(m) ?? NO_OUTLIER_STATE),
    }));
    return {
      strategy: this.#strategy,
      available: this.#available.length,
      ejected: this.#members.length - this.#available.length,
      active: targets.reduce((sum, t) => sum + t.active, 0),
      picks: this.#picks,
      failures: this.#failures,
      ejections: this.#ejections,
      ejectionOverflows: this.#detector?.overflows ?? 0,
      targets,
    };
  }

  #insert(spec: Required<TargetSpec<T>>): void {
    const member: Member<T> = {
      id: spec.id,
      weight: spec.weight,
      target: spec.target,
      attributes: { balancer: this.#name, target: spec.id },
      active: 0,
      ejected: false,
      currentWeight: 0,
      picks: 0,
      successes: 0,
      failures: 0,
      removed: false,
    };
    this.#members.push(member);
    this.#detector?.track(member);
  }

  #membershipChanged(): void {
    this.#rule.membershipChanged?.(this.#members);
    this.#available = this.#members.filter((m) => !m.ejected);
    this.#nextReturnAt = this.#detector?.nextReturnAt() ?? Number.POSITIVE_INFINITY;
  }

  #settle(member: Member<T>, outcome: LeaseOutcome): void {
    // The gauge counted this lease when it was taken, removed target or not.
    this.#metrics.active.add(-1, member.attributes);
    if (member.removed) return;
    member.active--;
    if (outcome === 'success') {
      member.successes++;
      this.#detector?.success(member);
      return;
    }
    member.failures++;
    this.#failures++;
    this.#metrics.failures.add(1, member.attributes);
    const now = this.#clock.now();
    const durationMs = this.#detector?.failure(member, now);
    if (durationMs === undefined) return;
    this.#ejections++;
    this.#metrics.ejections.add(1, member.attributes);
    this.#available = this.#available.filter((m) => m !== member);
    this.#nextReturnAt = Math.min(this.#nextReturnAt, now + durationMs);
    const ejections = this.#detector?.state(member).ejections ?? 0;
    this.#logger.warn(
      { balancer: this.#name, target: member.id, durationMs, ejections },
      'target ejected after consecutive failures',
    );
    this.emit('eject', { id: member.id, durationMs, ejections });
  }

  #returnEjected(now: number): void {
    const back = this.#detector?.sweep(now) ?? [];
    this.#available = this.#members.filter((m) => !m.ejected);
    this.#nextReturnAt = this.#detector?.nextReturnAt() ?? Number.POSITIVE_INFINITY;
    for (const peer of back) {
      this.#logger.info({ balancer: this.#name, target: peer.id }, 'ejected target returned');
      this.emit('uneject', { id: peer.id });
    }
  }

  #unavailable(): BackendUnavailableError {
    return new BackendUnavailableError(
      `LoadBalancer '${this.#name}' has no targets; add one with add()`,
      { context: { balancer: this.#name, targets: 0 } },
    );
  }
}
