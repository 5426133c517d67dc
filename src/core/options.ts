import type { MeterProvider } from '@opentelemetry/api';
import { z } from 'zod';
import type { Clock } from './clock.js';
import { describeValue, InvalidOptionsError } from './errors.js';
import { isLogger, type Logger } from './logger.js';

/** One bad option: where it is, what was expected there and what came instead. */
export interface OptionIssue {
  /** Dotted path of the option (`pools.ocr.maxBytes`), or `(options)` for the object itself. */
  readonly path: string;
  readonly expected: string;
  readonly received: string;
}

type ZodIssue = z.core.$ZodIssue & { input?: unknown };

function bound(issue: { origin?: string; inclusive?: boolean }, op: '<' | '>', limit: unknown) {
  const sign = `${op}${issue.inclusive ? '=' : ''}`;
  if (issue.origin === 'array' || issue.origin === 'set')
    return `${issue.origin} of length ${sign} ${String(limit)}`;
  if (issue.origin === 'string') return `string of length ${sign} ${String(limit)}`;
  return `${issue.origin ?? 'value'} ${sign} ${String(limit)}`;
}

function expectation(issue: ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.expected === 'int' ? 'an integer' : issue.expected;
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_big':
      return bound(issue, '<', issue.maximum);
    case 'too_small':
      return bound(issue, '>', issue.minimum);
    case 'not_multiple_of':
      return `a multiple of ${String(issue.divisor)}`;
    default:
      return issue.message;
  }
}

const joinPath = (path: readonly PropertyKey[]) =>
  path.length === 0 ? '(options)' : path.map(String).join('.');

/**
 * Turns zod issues into the `{ path, expected, received }` triples every salama message uses.
 * An unknown key becomes one issue per key, listing the valid names when `knownKeys` has them.
 */
export function toOptionIssues(
  issues: readonly z.core.$ZodIssue[],
  knownKeys: readonly string[] = [],
): OptionIssue[] {
  return issues.flatMap((raw) => {
    const issue = raw as ZodIssue;
    if (issue.code !== 'unrecognized_keys') {
      return [
        {
          path: joinPath(issue.path),
          expected: expectation(issue),
          received: describeValue(issue.input),
        },
      ];
    }
    const input = (issue.input ?? {}) as Record<string, unknown>;
    const expected =
      issue.path.length === 0 && knownKeys.length > 0
        ? `no such option (valid options: ${knownKeys.join(', ')})`
        : 'no such option';
    return issue.keys.map((key) => ({
      path: joinPath([...issue.path, key]),
      expected,
      received: describeValue(input[key]),
    }));
  });
}

/**
 * Validates `input` against `schema` once, at construction, and returns the parsed options
 * frozen. On failure throws `E_INVALID_OPTIONS` listing every bad path with what was expected
 * and what was received.
 */
export function parseOptions<S extends z.ZodType>(
  component: string,
  schema: S,
  input: unknown,
): Readonly<z.output<S>> {
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return Object.freeze(result.data);
  const knownKeys = schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
  const issues = toOptionIssues(result.error.issues, knownKeys);
  const lines = issues.map((i) => `  - ${i.path}: expected ${i.expected}, received ${i.received}`);
  throw new InvalidOptionsError(`Invalid ${component} options:\n${lines.join('\n')}`, {
    cause: result.error,
    context: { component, issues },
  });
}

/** Schema pieces every component's options share. */
export const commonOptionSchemas = {
  /** A {@link Clock}: `now`, `setTimeout`, `setInterval`, `clearTimer`. */
  clock: z.custom<Clock>(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      ['now', 'setTimeout', 'setInterval', 'clearTimer'].every(
        (m) => typeof (v as Record<string, unknown>)[m] === 'function',
      ),
    { message: 'a Clock (now, setTimeout, setInterval, clearTimer)' },
  ),
  /** A pino-compatible {@link Logger}. */
  logger: z.custom<Logger>(isLogger, {
    message: 'a pino-compatible logger (trace, debug, info, warn, error)',
  }),
  /** An OpenTelemetry MeterProvider. */
  meterProvider: z.custom<MeterProvider>(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      typeof (v as Record<string, unknown>).getMeter === 'function',
    { message: 'an OpenTelemetry MeterProvider (with getMeter)' },
  ),
};
