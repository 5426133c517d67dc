import { availableParallelism } from 'node:os';
import type { MeterProvider } from '@opentelemetry/api';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { commonOptionSchemas } from '../core/options.js';

/**
 * The five levels of {@link PriorityScheduler}, the seed's CRITICAL … BACKGROUND. Use the
 * constants (`Priority.HIGH`) or the strings (`'high'`) interchangeably.
 */
export const Priority = Object.freeze({
  CRITICAL: 'critical',
  HIGH: 'high',
  NORMAL: 'normal',
  LOW: 'low',
  BACKGROUND: 'background',
} as const);

/** One of the five levels: `'critical' | 'high' | 'normal' | 'low' | 'background'`. */
export type Priority = (typeof Priority)[keyof typeof Priority];

/** Every level, highest first: the order in which work is served. */
export const PRIORITY_LEVELS: readonly Priority[] = Object.freeze([
  'critical',
  'high',
  'normal',
  'low',
  'background',
]);

/** What a scheduled function receives. */
export interface TaskContext {
  /** Aborts when the attempt times out, the caller's signal aborts or the scheduler closes. */
  readonly signal: AbortSignal;
  /** 1 for the first run, 2 for the first retry, and so on. */
  readonly attempt: number;
  /** The task's name, from `schedule(fn, { name })` or `task-<n>`. */
  readonly name: string;
}

/** Work handed to {@link PriorityScheduler.schedule}. */
export type ScheduledTask<T> = (context: TaskContext) => T | PromiseLike<T>;

/** Exponential backoff between retries, with full jitter: `random() × min(maxMs, baseMs × factor^(n-1))`. */
export interface BackoffOptions {
  /** Delay ceiling before the first retry, in ms. @default 100 */
  baseMs?: number;
  /** Largest delay ceiling, in ms. @default 30_000 */
  maxMs?: number;
  /** Growth of the ceiling per retry, >= 1. @default 2 */
  factor?: number;
}

/** Options of {@link PriorityScheduler}. */
export interface PrioritySchedulerOptions {
  /** Tasks running at once across all levels. @default os.availableParallelism() */
  concurrency?: number;
  /**
   * Tasks of one level running or handed to the runner at once (`{ background: 1 }`); a level
   * at its limit waits without holding back other levels. @default Infinity for every level
   */
  perLevel?: Partial<Record<Priority, number>>;
  /**
   * A task waiting this long, in ms, is served as one level higher, and again after each
   * further `agingMs`, up to critical; `Infinity` turns ageing off. @default 10_000
   */
  agingMs?: number;
  /** Default time limit of one attempt, in ms, from its start. @default none */
  timeoutMs?: number;
  /** Default number of retries after a failed attempt. @default 0 */
  retries?: number;
  /** Delay between attempts. @default { baseMs: 100, maxMs: 30_000, factor: 2 } */
  backoff?: BackoffOptions;
  /**
   * Whether a failed attempt (its error, including `E_TIMEOUT`) is retried; cancellation and
   * `close()` are never retried. @default every error
   */
  retryIf?: (error: unknown) => boolean;
  /** Uniform numbers in [0, 1) for backoff jitter. @default Math.random */
  random?: () => number;
  /** Wait-time samples per level behind the p50/p95 of `stats()`. @default 1024 */
  statsWindow?: number;
  /** Names the scheduler in errors and the `scheduler` metric attribute. @default 'default' */
  name?: string;
  /** Time source for ageing, timeouts, backoff and wait times. @default systemClock */
  clock?: Clock;
  /** Where metrics go. @default the global OpenTelemetry MeterProvider */
  meterProvider?: MeterProvider;
}

/** Per-call options of {@link PriorityScheduler.schedule}. */
export interface ScheduleOptions {
  /** The task's level. @default 'normal' */
  priority?: Priority;
  /** Time limit of each attempt, in ms. @default the scheduler's `timeoutMs` */
  timeoutMs?: number;
  /** Retries after a failed attempt. @default the scheduler's `retries` */
  retries?: number;
  /** Cancels the task: removed while waiting, its context signal aborted while running. */
  signal?: AbortSignal;
  /** Names the task in errors and in its context. @default 'task-<n>' */
  name?: string;
}

const levelLimit = z.custom<number>(
  (v) => v === Number.POSITIVE_INFINITY || (Number.isInteger(v) && (v as number) >= 1),
  { message: 'an integer >= 1 or Infinity' },
);
/** Node clamps longer timers to 1 ms, which would turn "practically never" into "at once". */
const MAX_TIMER_MS = 2 ** 31 - 1;
const positiveMs = z.number().positive().max(MAX_TIMER_MS);
const retries = z.number().int().nonnegative().max(1_000);

/** Validates {@link PrioritySchedulerOptions} once, at construction. */
export const prioritySchedulerOptionsSchema = z
  .object({
    concurrency: levelLimit.default(() => availableParallelism()),
    perLevel: z
      .object(Object.fromEntries(PRIORITY_LEVELS.map((p) => [p, levelLimit.optional()])))
      .strict()
      .default({}),
    agingMs: z
      .custom<number>(
        (v) =>
          v === Number.POSITIVE_INFINITY ||
          (typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= MAX_TIMER_MS),
        { message: `a number of ms from 1 to ${MAX_TIMER_MS}, or Infinity` },
      )
      .default(10_000),
    timeoutMs: positiveMs.optional(),
    retries: retries.default(0),
    backoff: z
      .object({
        baseMs: z.number().nonnegative().max(MAX_TIMER_MS).default(100),
        maxMs: z.number().nonnegative().max(MAX_TIMER_MS).default(30_000),
        factor: z.number().min(1).finite().default(2),
      })
      .strict()
      .default({ baseMs: 100, maxMs: 30_000, factor: 2 }),
    retryIf: z
      .custom<(error: unknown) => boolean>((v) => typeof v === 'function', {
        message: 'a function (error) => boolean',
      })
      .optional(),
    random: z
      .custom<() => number>((v) => typeof v === 'function', {
        message: 'a function returning numbers in [0, 1)',
      })
      .default(() => Math.random),
    statsWindow: z.number().int().positive().max(1_000_000).default(1024),
    name: z.string().min(1).default('default'),
    clock: commonOptionSchemas.clock.optional(),
    meterProvider: commonOptionSchemas.meterProvider.optional(),
  })
  .strict();

/** Validates {@link ScheduleOptions} on every `schedule()` call that passes options. */
export const scheduleOptionsSchema = z
  .object({
    priority: z.enum(PRIORITY_LEVELS as [Priority, ...Priority[]]).optional(),
    timeoutMs: positiveMs.optional(),
    retries: retries.optional(),
    signal: z
      .custom<AbortSignal>((v) => v instanceof AbortSignal, { message: 'an AbortSignal' })
      .optional(),
    name: z.string().min(1).optional(),
  })
  .strict();

/** The options after validation and defaults. */
export type ParsedSchedulerOptions = z.output<typeof prioritySchedulerOptionsSchema>;
