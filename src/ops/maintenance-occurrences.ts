/**
 * When windows happen and whether two of them collide. A one-off window has one occurrence,
 * `[start, start + durationMs)`; a recurring one has an occurrence at every run time of its
 * cron expression (croner, in its time zone) at or after `start`. Occurrences are half-open,
 * so a window ending at 02:00 and one starting at 02:00 do not overlap.
 *
 * Recurrences are infinite, so conflict checks look ahead a bounded horizon (the scheduler's
 * `conflictHorizonMs`, 90 days by default) and at most {@link MAX_OCCURRENCES} occurrences
 * per window; overlaps beyond that are not detected.
 */
import { Cron } from 'croner';
import { WindowConflictError } from '../core/errors.js';
import type { ParsedWindow } from './maintenance-window.js';

/** The most occurrences of one window expanded for a listing or a conflict check. */
export const MAX_OCCURRENCES = 10_000;

/**
 * The zone a recurrence without `timezone` is read in: the same on every replica, whatever
 * its local zone (pg_cron's `cron.timezone` defaults to GMT likewise).
 */
export const DEFAULT_TIMEZONE = 'UTC';

/** An occurrence as milliseconds since the epoch, `[start, end)`. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

type Timed = Pick<ParsedWindow, 'start' | 'durationMs' | 'recurrence' | 'timezone'>;

/** The occurrences of `window` that overlap `[fromMs, toMs)`, in order, at most `limit`. */
export function occurrencesBetween(
  window: Timed,
  fromMs: number,
  toMs: number,
  limit = MAX_OCCURRENCES,
): Span[] {
  const start = window.start.getTime();
  if (window.recurrence === undefined) {
    const end = start + window.durationMs;
    return start < toMs && end > fromMs ? [{ start, end }] : [];
  }
  const cron = new Cron(window.recurrence, {
    timezone: window.timezone ?? DEFAULT_TIMEZONE,
    paused: true,
  });
  const spans: Span[] = [];
  // An occurrence overlaps [from, to) when it starts after from - durationMs.
  let cursor = Math.max(start - 1, fromMs - window.durationMs);
  while (spans.length < limit) {
    const next = cron.nextRun(new Date(cursor))?.getTime();
    if (next === undefined || next >= toMs) break;
    spans.push({ start: next, end: next + window.durationMs });
    cursor = next;
  }
  return spans;
}

/**
 * The first occurrence of `window` that starts after `afterMs` (the last one run) and has not
 * ended at `nowMs`: occurrences that passed entirely while nothing ran are skipped.
 */
export function nextOccurrence(window: Timed, afterMs: number, nowMs: number): Span | undefined {
  // end > from selects both: end > now, and start > afterMs (end > afterMs + durationMs).
  const from = Math.max(nowMs, afterMs + window.durationMs);
  return occurrencesBetween(window, from, Number.POSITIVE_INFINITY, 1)[0];
}

/**
 * The first two occurrences of `window` between `fromMs` and `toMs` that overlap each other
 * (it lasts longer than the time between two of its run times), or `undefined`.
 */
export function selfOverlap(window: Timed, fromMs: number, toMs: number): [Span, Span] | undefined {
  const spans = occurrencesBetween(window, fromMs, toMs);
  for (let i = 1; i < spans.length; i++) {
    const previous = spans[i - 1] as Span;
    const next = spans[i] as Span;
    if (next.start < previous.end) return [previous, next];
  }
  return undefined;
}

/** Where two windows collide. */
export interface Collision<W> {
  readonly other: W;
  /** The systems both windows take down. */
  readonly systems: readonly string[];
  /** The colliding occurrences of the new window and of the other one. */
  readonly mine: Span;
  readonly theirs: Span;
}

/**
 * The first window of `others` sharing a system with `window` whose occurrences overlap one
 * of its own between `fromMs` and `toMs`, or `undefined`.
 */
export function findCollision<W extends Timed & { readonly systems: readonly string[] }>(
  window: Timed & { readonly systems: readonly string[] },
  others: readonly W[],
  fromMs: number,
  toMs: number,
): Collision<W> | undefined {
  const mine = occurrencesBetween(window, fromMs, toMs);
  for (const other of others) {
    const systems = other.systems.filter((s) => window.systems.includes(s));
    if (systems.length === 0) continue;
    const theirs = occurrencesBetween(other, fromMs, toMs);
    const hit = firstOverlap(mine, theirs);
    if (hit) return { other, systems, mine: hit[0], theirs: hit[1] };
  }
  return undefined;
}

/** Both lists are sorted by start and each list's spans have equal length: a merge walk. */
function firstOverlap(a: readonly Span[], b: readonly Span[]): [Span, Span] | undefined {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as Span;
    const y = b[j] as Span;
    if (x.start < y.end && y.start < x.end) return [x, y];
    if (x.end <= y.end) i++;
    else j++;
  }
  return undefined;
}

/** The `E_WINDOW_CONFLICT` error for `collision`, naming the other window and what they share. */
export function windowConflictError(
  window: Pick<ParsedWindow, 'id' | 'name'>,
  collision: Collision<Pick<ParsedWindow, 'id' | 'name' | 'recurrence'>>,
): WindowConflictError {
  const { other, systems, mine, theirs } = collision;
  const range = (span: Span) =>
    `${new Date(span.start).toISOString()} to ${new Date(span.end).toISOString()}`;
  const recurring = other.recurrence ? `, recurring ${JSON.stringify(other.recurrence)}` : '';
  return new WindowConflictError(
    `Maintenance window ${JSON.stringify(window.name)} (${window.id}) from ${range(mine)} overlaps window ${JSON.stringify(other.name)} (${other.id}${recurring}) from ${range(theirs)} on ${systems.length === 1 ? 'system' : 'systems'} ${systems.join(', ')}; move one of them or cancel ${other.id} first`,
    {
      context: {
        window: window.id,
        other: other.id,
        otherName: other.name,
        systems,
        start: new Date(mine.start),
        end: new Date(mine.end),
        otherStart: new Date(theirs.start),
        otherEnd: new Date(theirs.end),
      },
    },
  );
}
