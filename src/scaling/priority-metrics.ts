import type { Attributes, MeterProvider } from '@opentelemetry/api';
import { declareInstruments, salamaMeter } from '../core/metrics.js';
import { PRIORITY_LEVELS } from './priority-options.js';

const instrumentSpecs = {
  tasks: {
    kind: 'counter',
    name: 'salama.scaling.scheduler.tasks',
    description: 'Scheduled tasks settled, by priority and outcome',
    unit: '{task}',
  },
  retries: {
    kind: 'counter',
    name: 'salama.scaling.scheduler.retries',
    description: 'Failed attempts scheduled for another try',
    unit: '{attempt}',
  },
  timeouts: {
    kind: 'counter',
    name: 'salama.scaling.scheduler.timeouts',
    description: 'Attempts that hit their time limit',
    unit: '{attempt}',
  },
  aged: {
    kind: 'counter',
    name: 'salama.scaling.scheduler.aged',
    description: 'Ageing steps that moved a waiting task up one level',
    unit: '{step}',
  },
  wait: {
    kind: 'histogram',
    name: 'salama.scaling.scheduler.wait',
    description: 'Time from joining a level to starting an attempt',
    unit: 'ms',
  },
} as const;

/** How a scheduled task settled. */
export type TaskOutcome = 'completed' | 'failed' | 'cancelled';

/** The recording side of a scheduler's metrics, by level index (0 = critical). */
export interface SchedulerMetrics {
  settled(level: number, outcome: TaskOutcome): void;
  retried(level: number): void;
  timedOut(level: number): void;
  aged(level: number): void;
  wait(level: number, ms: number): void;
}

/**
 * The instruments of one PriorityScheduler, with their attribute sets built once so
 * recording allocates nothing. Attributes: `scheduler`, `priority` and, on tasks, `outcome`.
 */
export function schedulerMetrics(
  meterProvider: MeterProvider | undefined,
  scheduler: string,
): SchedulerMetrics {
  const m = declareInstruments(salamaMeter(meterProvider), instrumentSpecs);
  const levels: Attributes[] = PRIORITY_LEVELS.map((priority) =>
    Object.freeze({ scheduler, priority }),
  );
  const outcomes = PRIORITY_LEVELS.map((priority) => ({
    completed: Object.freeze({ scheduler, priority, outcome: 'completed' }),
    failed: Object.freeze({ scheduler, priority, outcome: 'failed' }),
    cancelled: Object.freeze({ scheduler, priority, outcome: 'cancelled' }),
  }));
  return {
    settled: (level, outcome) => m.tasks.add(1, outcomes[level]?.[outcome]),
    retried: (level) => m.retries.add(1, levels[level]),
    timedOut: (level) => m.timeouts.add(1, levels[level]),
    aged: (level) => m.aged.add(1, levels[level]),
    wait: (level, ms) => m.wait.record(ms, levels[level]),
  };
}
