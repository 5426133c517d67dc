import { EventEmitter } from 'node:events';
import { type Clock, systemClock, type TimerHandle } from '../core/clock.js';
import { BackendFailedError, describeValue, InvalidArgumentError } from '../core/errors.js';
import { type Closable, Lifecycle } from '../core/lifecycle.js';
import { componentLogger, type Logger } from '../core/logger.js';
import { observeSnapshot, salamaMeter } from '../core/metrics.js';
import { parseOptions } from '../core/options.js';
import {
  type AutoscalerEvents,
  type AutoscalerOptions,
  type AutoscalerStats,
  autoscalerOptionsSchema,
  type MetricReadings,
} from './autoscaler-options.js';
import { desiredReplicas } from './hpa.js';
import { externalReadingSchema, podReadingsSchema } from './hpa-schema.js';
import type { HpaDecision, HpaHistory, HpaMetric, PodSample } from './hpa-types.js';

const observed = {
  replicas: {
    kind: 'gauge',
    name: 'salama.scaling.autoscaler.replicas',
    description: "The target's replica count at the last sync",
    unit: '{replica}',
  },
  desiredReplicas: {
    kind: 'gauge',
    name: 'salama.scaling.autoscaler.desired_replicas',
    description: 'The replica count the last sync decided on',
    unit: '{replica}',
  },
  scaleEvents: {
    kind: 'counter',
    name: 'salama.scaling.autoscaler.scale_events',
    description: 'Replica count changes applied to the target',
    unit: '{event}',
  },
} as const;

/**
 * The Kubernetes HPA controller loop in-process: every `syncPeriodMs` it reads the target's
 * replicas and metrics, runs {@link desiredReplicas} with the history of earlier syncs, and
 * calls `target.scale()` when the count changes.
 *
 * ```ts
 * const hpa = new Autoscaler({
 *   target: workers,
 *   metrics: [{ type: 'Resource', name: 'cpu', averageUtilization: 70 }],
 *   minReplicas: 2,
 *   maxReplicas: 8,
 * });
 * hpa.on('scale', ({ from, to }) => console.log(`${from} → ${to}`));
 * ```
 */
export class Autoscaler extends EventEmitter<AutoscalerEvents> implements Closable {
  readonly #options: ReturnType<typeof parseAutoscalerOptions>;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #lifecycle: Lifecycle;
  readonly #timer: TimerHandle;
  readonly #stopMetrics: () => void;
  #history: HpaHistory = { recommendations: [], scaleUpEvents: [], scaleDownEvents: [] };
  #running: Promise<HpaDecision> | undefined;
  #stats = {
    replicas: undefined as number | undefined,
    desiredReplicas: undefined as number | undefined,
    lastReason: undefined as HpaDecision['reason'] | undefined,
    lastSyncAtMs: undefined as number | undefined,
    syncs: 0,
    scaleUps: 0,
    scaleDowns: 0,
    errors: 0,
  };

  /** Starts the loop: the first sync runs one `syncPeriodMs` after construction. */
  constructor(options: AutoscalerOptions) {
    super();
    this.#options = parseAutoscalerOptions(options);
    const { name, clock, logger, meterProvider, syncPeriodMs } = this.#options;
    this.#clock = clock ?? systemClock;
    this.#logger = componentLogger(logger, 'Autoscaler');
    this.#lifecycle = new Lifecycle('Autoscaler', () => this.#shutdown());
    this.#stopMetrics = observeSnapshot(
      salamaMeter(meterProvider),
      observed,
      () => ({
        replicas: this.#stats.replicas ?? 0,
        desiredReplicas: this.#stats.desiredReplicas ?? 0,
        scaleEvents: this.#stats.scaleUps + this.#stats.scaleDowns,
      }),
      { autoscaler: name },
    );
    this.#timer = this.#clock
      .setInterval(() => {
        this.sync().catch(() => {});
      }, syncPeriodMs)
      .unref();
  }

  /**
   * Runs one sync now and resolves with its decision. A sync already running is joined, not
   * repeated. A failing `metrics()` makes this sync an `InvalidMetrics` no-op; a failing
   * `replicas()` or `scale()` rejects with `E_BACKEND_FAILED`. Every failure is also emitted
   * as `sync:error`. Throws `E_CLOSED` after `close()`.
   */
  sync(): Promise<HpaDecision> {
    this.#lifecycle.assertOpen('sync');
    this.#running ??= this.#sync().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** A snapshot of the last sync and the totals so far. */
  stats(): AutoscalerStats {
    return { ...this.#stats };
  }

  /** Stops the loop and waits for a running sync; idempotent. */
  close(): Promise<void> {
    return this.#lifecycle.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #sync(): Promise<HpaDecision> {
    const o = this.#options;
    const current = await this.#call('replicas', () => o.target.replicas());
    if (!Number.isInteger(current) || current < 0) {
      throw this.#failed(
        new InvalidArgumentError(
          `Autoscaler '${o.name}': target.replicas() expected an integer >= 0, received ${describeValue(current)}`,
          { context: { autoscaler: o.name } },
        ),
      );
    }
    let readings: MetricReadings = {};
    try {
      readings = await o.target.metrics();
    } catch (error) {
      this.#failed(this.#wrap('metrics', error));
    }
    const history = this.#history;
    let decision: HpaDecision;
    try {
      decision = desiredReplicas({
        currentReplicas: current,
        minReplicas: o.minReplicas,
        maxReplicas: o.maxReplicas,
        tolerance: o.tolerance,
        behavior: o.behavior,
        metrics: o.metrics.map((spec) => this.#withReading(spec, readings[spec.name])),
        history,
        nowMs: this.#clock.now(),
      });
    } catch (error) {
      throw this.#failed(error as Error);
    }
    this.#history = decision.history;
    Object.assign(this.#stats, {
      replicas: current,
      desiredReplicas: decision.replicas,
      lastReason: decision.reason,
      lastSyncAtMs: this.#clock.now(),
      syncs: this.#stats.syncs + 1,
    });
    if (decision.replicas !== current) {
      try {
        await this.#call('scale', () => o.target.scale(decision.replicas));
      } catch (error) {
        // The controller records a scale event only once the update went through.
        this.#history = {
          ...decision.history,
          scaleUpEvents: history.scaleUpEvents,
          scaleDownEvents: history.scaleDownEvents,
        };
        throw error;
      }
      if (decision.replicas > current) this.#stats.scaleUps++;
      else this.#stats.scaleDowns++;
      this.#logger.info(
        { autoscaler: o.name, from: current, to: decision.replicas, reason: decision.reason },
        'scaled',
      );
      this.emit('scale', { from: current, to: decision.replicas, decision });
    }
    this.emit('sync', decision);
    return decision;
  }

  async #call<R>(method: string, fn: () => Promise<R> | R): Promise<R> {
    try {
      return await fn();
    } catch (error) {
      throw this.#failed(this.#wrap(method, error));
    }
  }

  #wrap(method: string, error: unknown): BackendFailedError {
    return new BackendFailedError(
      `Autoscaler '${this.#options.name}': target.${method}() failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error, context: { autoscaler: this.#options.name, method } },
    );
  }

  /**
   * Pairs a metric spec with its reading. A reading of the wrong shape (a negative or NaN
   * sample, a string) makes that metric unavailable for this sync, reported as `sync:error`,
   * as the controller treats a metric it cannot read: the other metrics still count.
   */
  #withReading(spec: AutoscalerOptions['metrics'][number], reading: unknown): HpaMetric {
    const external = spec.type === 'External';
    const parsed = (external ? externalReadingSchema : podReadingsSchema).safeParse(reading);
    if (reading !== undefined && !parsed.success)
      this.#badReading(
        spec.name,
        reading,
        external ? 'a number >= 0' : 'one { value >= 0, ready? } per pod',
      );
    const value = parsed.success ? parsed.data : undefined;
    return external
      ? { ...spec, value: value as number | undefined }
      : { ...spec, pods: value as PodSample[] | undefined };
  }

  #badReading(name: string, reading: unknown, expected: string): void {
    this.#failed(
      new InvalidArgumentError(
        `Autoscaler '${this.#options.name}': metric ${name} expected ${expected}, received ${describeValue(reading)}; it counts as unavailable this sync`,
        { context: { autoscaler: this.#options.name, metric: name } },
      ),
    );
  }

  #failed<E extends Error>(error: E): E {
    this.#stats.errors++;
    this.#logger.warn({ err: error, autoscaler: this.#options.name }, 'sync failed');
    this.emit('sync:error', error);
    return error;
  }

  async #shutdown(): Promise<void> {
    this.#clock.clearTimer(this.#timer);
    this.#stopMetrics();
    await this.#running?.catch(() => {});
  }
}

function parseAutoscalerOptions(options: AutoscalerOptions) {
  return parseOptions('Autoscaler', autoscalerOptionsSchema, options);
}
