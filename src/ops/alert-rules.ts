import { EventEmitter } from 'node:events';
import type { MeterProvider } from '@opentelemetry/api';
import { z } from 'zod';
import { type Clock, systemClock, type TimerHandle } from '../core/clock.js';
import { BackendFailedError } from '../core/errors.js';
import { type Closable, Lifecycle } from '../core/lifecycle.js';
import { componentLogger, type Logger } from '../core/logger.js';
import { type ObservedSpec, observeSnapshot, salamaMeter } from '../core/metrics.js';
import { commonOptionSchemas, parseOptions } from '../core/options.js';

/** How a rule compares its metric with its threshold. */
export type AlertComparison = '>' | '<' | '>=' | '<=';

/** How urgent a firing alert is; the seeds use `warning` and `critical`. */
export type AlertSeverity = 'info' | 'warning' | 'critical';

/**
 * One alerting rule, the shape of a Prometheus rule: it fires once `metric(snapshot) op
 * threshold` has held at every evaluation for `forMs`.
 */
export interface AlertRule<S> {
  /** Unique within the group (`HighOCRProcessingTime`). */
  readonly name: string;
  /** Reads the watched number from a snapshot; `undefined` (no data yet) never breaches. */
  readonly metric: (snapshot: S) => number | undefined;
  readonly op: AlertComparison;
  readonly threshold: number;
  /** How long the condition must hold before the alert fires, in ms. @default 0 */
  readonly forMs?: number;
  /** @default 'warning' */
  readonly severity?: AlertSeverity;
  /** What an operator reads; `{{ $value }}` is replaced by the metric's value. */
  readonly summary: string;
}

/**
 * A rule's state, as Prometheus reports it: `pending` while the condition holds for less than
 * `forMs`, `firing` after, `resolved` once a firing alert's condition stops holding (until it
 * holds again); `inactive` otherwise.
 */
export type AlertState = 'inactive' | 'pending' | 'firing' | 'resolved';

/** A rule's state after the last evaluation. */
export interface AlertStatus {
  readonly name: string;
  readonly state: AlertState;
  readonly severity: AlertSeverity;
  /** The metric at the last evaluation (`undefined` before the first, or with no data). */
  readonly value: number | undefined;
  /** When the condition started holding, ms since the epoch; set while pending or firing. */
  readonly activeSinceMs?: number;
  /** When the alert last fired; kept after it resolves. */
  readonly firedAtMs?: number;
  /** When the alert last resolved. */
  readonly resolvedAtMs?: number;
}

/** Payload of the `alert` event: a rule started or stopped firing. */
export interface AlertEvent {
  readonly name: string;
  readonly state: 'firing' | 'resolved';
  readonly severity: AlertSeverity;
  /** The rule's summary with `{{ $value }}` filled in. */
  readonly summary: string;
  /** The metric at this evaluation; for `resolved`, the value that no longer breaches. */
  readonly value: number | undefined;
  /** When the condition started holding, ms since the epoch. */
  readonly sinceMs: number;
  /** When this evaluation ran, ms since the epoch. */
  readonly atMs: number;
}

/** Events an {@link AlertRuleGroup} emits. */
export interface AlertRuleGroupEvents {
  alert: [AlertEvent];
  /** `source()` or a rule's `metric()` threw (`E_BACKEND_FAILED`); states stay as they were. */
  'evaluate:error': [Error];
}

/** Options of {@link AlertRuleGroup}. */
export interface AlertRuleGroupOptions<S> {
  /** At least one rule, with distinct names. */
  rules: readonly AlertRule<S>[];
  /** Reads the snapshot every rule evaluates, once per evaluation (`() => monitor.snapshot()`). */
  source: () => S;
  /** How often the rules are evaluated, in ms (Prometheus's `evaluation_interval`). @default 15000 */
  evaluateEveryMs?: number;
  /** Names the group in logs and the `group` metric attribute. @default 'default' */
  name?: string;
  /** Time source for evaluations and `forMs`. @default systemClock */
  clock?: Clock;
  /** A pino-compatible logger; firing at `warn`, resolved at `info`. @default silent */
  logger?: Logger;
  /** Where metrics go. @default the global OpenTelemetry MeterProvider */
  meterProvider?: MeterProvider;
}

const ruleSchema = z
  .object({
    name: z.string().min(1),
    metric: z.custom<(snapshot: unknown) => number | undefined>((v) => typeof v === 'function', {
      message: 'a function (snapshot) => number | undefined',
    }),
    op: z.enum(['>', '<', '>=', '<=']),
    threshold: z.number().finite(),
    forMs: z.number().min(0).finite().default(0),
    severity: z.enum(['info', 'warning', 'critical']).default('warning'),
    summary: z.string().min(1),
  })
  .strict();

const optionsSchema = z
  .object({
    rules: z
      .array(ruleSchema)
      .min(1)
      .refine((rules) => new Set(rules.map((r) => r.name)).size === rules.length, {
        message: 'rules with distinct names',
      }),
    source: z.custom<() => unknown>((v) => typeof v === 'function', {
      message: 'a function returning the snapshot rules evaluate',
    }),
    evaluateEveryMs: z.number().int().positive().max(2_147_483_647).default(15_000),
    name: z.string().min(1).default('default'),
    clock: commonOptionSchemas.clock.optional(),
    logger: commonOptionSchemas.logger.optional(),
    meterProvider: commonOptionSchemas.meterProvider.optional(),
  })
  .strict();

type ParsedRule = z.output<typeof ruleSchema>;

const alertGauge = (state: 'firing' | 'pending'): ObservedSpec => ({
  kind: 'gauge',
  name: `salama.ops.alerts.${state}`,
  description: `Alert rules ${state}`,
  unit: '{alert}',
});
const observed = { firing: alertGauge('firing'), pending: alertGauge('pending') };

const breaches: Record<AlertComparison, (value: number, threshold: number) => boolean> = {
  '>': (v, t) => v > t,
  '<': (v, t) => v < t,
  '>=': (v, t) => v >= t,
  '<=': (v, t) => v <= t,
};

/**
 * A Prometheus rule group in-process: every `evaluateEveryMs` it reads one snapshot from
 * `source`, moves each rule through inactive → pending → firing → resolved, and emits `alert`
 * when a rule fires or resolves.
 *
 * ```ts
 * const alerts = new AlertRuleGroup({
 *   source: () => monitor.snapshot(),
 *   rules: performanceAlertRules({ requestOperation: 'http.request' }),
 * });
 * alerts.on('alert', (a) => console.log(`[${a.state}] ${a.name}: ${a.summary}`));
 * ```
 */
export class AlertRuleGroup<S> extends EventEmitter<AlertRuleGroupEvents> implements Closable {
  readonly #name: string;
  readonly #rules: readonly ParsedRule[];
  readonly #source: () => S;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #lifecycle: Lifecycle;
  readonly #timer: TimerHandle;
  readonly #stopMetrics: () => void;
  readonly #statuses = new Map<string, AlertStatus>();
  #evaluations = 0;
  #errors = 0;

  /** Starts evaluating: the first evaluation runs one `evaluateEveryMs` after construction. */
  constructor(options: AlertRuleGroupOptions<S>) {
    super();
    const o = parseOptions('AlertRuleGroup', optionsSchema, options);
    this.#name = o.name;
    this.#rules = o.rules;
    this.#source = o.source as () => S;
    this.#clock = o.clock ?? systemClock;
    this.#logger = componentLogger(o.logger, 'AlertRuleGroup');
    this.#lifecycle = new Lifecycle('AlertRuleGroup', () => this.#shutdown());
    for (const { name, severity } of o.rules) {
      this.#statuses.set(name, { name, severity, state: 'inactive', value: undefined });
    }
    const meter = salamaMeter(o.meterProvider);
    this.#stopMetrics = observeSnapshot(meter, observed, () => this.stats(), { group: o.name });
    this.#timer = this.#clock.setInterval(() => this.evaluate(), o.evaluateEveryMs).unref();
  }

  /**
   * Evaluates every rule now and returns their states; a failing `source()` or `metric()` is
   * emitted as `evaluate:error` and leaves the states it concerns unchanged. Throws `E_CLOSED`
   * after `close()`.
   */
  evaluate(): readonly AlertStatus[] {
    this.#lifecycle.assertOpen('evaluate');
    this.#evaluations++;
    let snapshot: S;
    try {
      snapshot = this.#source();
    } catch (error) {
      this.#failed(error, 'source()', undefined);
      return this.alerts();
    }
    const now = this.#clock.now();
    for (const rule of this.#rules) {
      let value: number | undefined;
      try {
        value = rule.metric(snapshot);
      } catch (error) {
        this.#failed(error, `rules.${rule.name}.metric()`, rule.name);
        continue;
      }
      this.#advance(rule, Number.isNaN(value) ? undefined : value, now);
    }
    return this.alerts();
  }

  /** Every rule's state after the last evaluation, in rule order. */
  alerts(): readonly AlertStatus[] {
    return [...this.#statuses.values()];
  }

  /** Counts for dashboards: evaluations run, failures, rules firing and pending now. */
  stats(): { evaluations: number; errors: number; firing: number; pending: number } {
    let firing = 0;
    let pending = 0;
    for (const status of this.#statuses.values()) {
      if (status.state === 'firing') firing++;
      else if (status.state === 'pending') pending++;
    }
    return { evaluations: this.#evaluations, errors: this.#errors, firing, pending };
  }

  /** Stops evaluating; idempotent. Firing alerts are not resolved. */
  close(): Promise<void> {
    return this.#lifecycle.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #advance(rule: ParsedRule, value: number | undefined, now: number): void {
    const prev = this.#statuses.get(rule.name) as AlertStatus;
    const holds = value !== undefined && breaches[rule.op](value, rule.threshold);
    let next: AlertStatus = { ...prev, value };
    if (holds) {
      // Only pending and firing keep activeSinceMs, so this is "since when it has held".
      const activeSinceMs = prev.activeSinceMs ?? now;
      const firedAtMs = prev.state === 'firing' ? prev.firedAtMs : now;
      next =
        now - activeSinceMs < rule.forMs
          ? { ...next, state: 'pending', activeSinceMs }
          : { ...next, state: 'firing', activeSinceMs, firedAtMs };
    } else if (prev.state === 'firing') {
      next = { ...next, state: 'resolved', activeSinceMs: undefined, resolvedAtMs: now };
    } else if (prev.state === 'pending') {
      next = { ...next, state: 'inactive', activeSinceMs: undefined };
    }
    this.#statuses.set(rule.name, next);
    if (next.state === prev.state || (next.state !== 'firing' && next.state !== 'resolved')) return;
    const event: AlertEvent = {
      name: rule.name,
      state: next.state,
      severity: rule.severity,
      summary: renderSummary(rule.summary, value),
      value,
      sinceMs: next.activeSinceMs ?? (prev.activeSinceMs as number),
      atMs: now,
    };
    const log = { group: this.#name, alert: rule.name, value, severity: rule.severity };
    if (event.state === 'firing') this.#logger.warn(log, `alert firing: ${event.summary}`);
    else this.#logger.info(log, `alert resolved: ${rule.name}`);
    this.emit('alert', event);
  }

  #failed(error: unknown, what: string, rule: string | undefined): void {
    this.#errors++;
    const wrapped = new BackendFailedError(
      `AlertRuleGroup '${this.#name}': ${what} failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error, context: { group: this.#name, rule } },
    );
    this.#logger.warn({ err: wrapped, group: this.#name }, 'alert evaluation failed');
    this.emit('evaluate:error', wrapped);
  }

  #shutdown(): void {
    this.#clock.clearTimer(this.#timer);
    this.#stopMetrics();
  }
}

/** Fills Prometheus's `{{ $value }}` placeholder (also `{{$value}}`) with the value. */
function renderSummary(template: string, value: number | undefined): string {
  const text = value === undefined ? 'no data' : String(Number(value.toPrecision(6)));
  return template.replace(/\{\{\s*\$value\s*\}\}/g, text);
}
