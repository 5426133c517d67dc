/**
 * The seed's technical-debt register (SALAMA part 8, §19.5 `TechnicalDebtManager`): items
 * with a priority, the systems they affect and a target date, listed most pressing first by
 * the seed's score. In memory; time comes from an injectable clock.
 */
import { z } from 'zod';
import { type Clock, systemClock } from '../core/clock.js';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../core/errors.js';
import { commonOptionSchemas, parseOptions, toOptionIssues } from '../core/options.js';

/** How much an item matters. */
export type DebtPriority = 'high' | 'medium' | 'low';

/** The seed's priority weights. */
export const DEBT_PRIORITY_WEIGHTS: Readonly<Record<DebtPriority, number>> = Object.freeze({
  high: 5,
  medium: 3,
  low: 1,
});

const DAY_MS = 86_400_000;

/** A technical-debt item as passed to {@link TechDebtRegister.add}. */
export interface TechnicalDebtInput {
  readonly id: string;
  readonly title: string;
  readonly priority: DebtPriority;
  /** Systems the debt affects; each adds 0.5 to the score. @default [] */
  readonly systems?: readonly string[];
  /** When it should be paid off; the nearer (or the more overdue), the higher the score. */
  readonly targetDate?: Date;
  readonly description?: string;
}

/** A registered item. Frozen. */
export interface TechnicalDebt {
  readonly id: string;
  readonly title: string;
  readonly priority: DebtPriority;
  readonly systems: readonly string[];
  readonly targetDate: Date | undefined;
  readonly description: string | undefined;
  readonly createdAt: Date;
}

/** An item with its score as of the listing. */
export interface ScoredDebt extends TechnicalDebt {
  readonly score: number;
}

/**
 * The seed's `_calculate_debt_score`, exactly:
 *
 *     score = priority_weights[priority]            # high 5, medium 3, low 1
 *     score += len(affected_systems) * 0.5
 *     if target_date:
 *         days_until_target = (target_date - now).days
 *         score += max(0, (90 - days_until_target) / 30)
 *
 * Python's `timedelta.days` is the floor of the difference in days (`-1` for half a day
 * overdue), hence `Math.floor`. Urgency is 0 for targets 90 or more days out, 3 on the day,
 * and keeps growing once the target has passed.
 */
export function debtScore(
  item: Pick<TechnicalDebt, 'priority' | 'systems' | 'targetDate'>,
  nowMs: number,
): number {
  let score = DEBT_PRIORITY_WEIGHTS[item.priority] + item.systems.length * 0.5;
  if (item.targetDate) {
    const daysUntilTarget = Math.floor((item.targetDate.getTime() - nowMs) / DAY_MS);
    score += Math.max(0, (90 - daysUntilTarget) / 30);
  }
  return score;
}

const itemSchema = z.strictObject({
  id: z.string().min(1).max(128),
  title: z.string().min(1),
  priority: z.enum(['high', 'medium', 'low']),
  systems: z.array(z.string().min(1)).default([]),
  targetDate: z.date().optional(),
  description: z.string().optional(),
});

/** Options of {@link TechDebtRegister}. */
export interface TechDebtRegisterOptions {
  /** Items to start with. @default [] */
  readonly items?: readonly TechnicalDebtInput[];
  /** @default the system clock */
  readonly clock?: Clock;
}

/** Technical debt, listed most pressing first. */
export class TechDebtRegister {
  readonly #clock: Clock;
  readonly #items = new Map<string, TechnicalDebt>();

  constructor(options: TechDebtRegisterOptions = {}) {
    const parsed = parseOptions(
      'TechDebtRegister',
      z.strictObject({
        items: z.array(z.unknown()).default([]),
        clock: commonOptionSchemas.clock.default(systemClock),
      }),
      options,
    );
    this.#clock = parsed.clock;
    for (const item of parsed.items) this.add(item as TechnicalDebtInput);
  }

  /** Registers an item. `E_INVALID_ARGUMENT` when malformed, `E_CONFLICT` when the id is taken. */
  add(input: TechnicalDebtInput): TechnicalDebt {
    const result = itemSchema.safeParse(input, { reportInput: true });
    if (!result.success) {
      const issues = toOptionIssues(result.error.issues, Object.keys(itemSchema.shape));
      const lines = issues.map(
        (i) => `  - ${i.path}: expected ${i.expected}, received ${i.received}`,
      );
      throw new InvalidArgumentError(`Invalid technical-debt item:\n${lines.join('\n')}`, {
        cause: result.error,
        context: { issues },
      });
    }
    const { id, title, priority, systems, targetDate, description } = result.data;
    if (this.#items.has(id))
      throw new ConflictError(`A technical-debt item with id ${id} is already registered`, {
        context: { id },
      });
    const item: TechnicalDebt = Object.freeze({
      id,
      title,
      priority,
      systems: Object.freeze([...systems]),
      targetDate,
      description,
      createdAt: new Date(this.#clock.now()),
    });
    this.#items.set(id, item);
    return item;
  }

  /** Removes a paid-off item and returns it; `E_NOT_FOUND` when there is none. */
  resolve(id: string): TechnicalDebt {
    const item = this.#items.get(id);
    if (!item)
      throw new NotFoundError(`No technical-debt item with id ${String(id)}`, { context: { id } });
    this.#items.delete(id);
    return item;
  }

  /** How many items are open. */
  get size(): number {
    return this.#items.size;
  }

  /**
   * Open items with their score now, highest first; ties go to the earlier target date (items
   * without one last), then by id.
   */
  list(): ScoredDebt[] {
    const now = this.#clock.now();
    const target = (d: TechnicalDebt) => d.targetDate?.getTime() ?? Number.POSITIVE_INFINITY;
    return [...this.#items.values()]
      .map((item) => Object.freeze({ ...item, score: debtScore(item, now) }))
      .sort(
        (a, b) =>
          b.score - a.score || target(a) - target(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
      );
  }
}
