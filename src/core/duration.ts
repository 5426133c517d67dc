import { z } from 'zod';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const PATTERN = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/;

/**
 * A duration as users write it in policies: milliseconds as a number, or a string with a
 * unit (`'500ms'`, `'30s'`, `'15m'`, `'12h'`, `'90d'`, `'2w'`). Returns milliseconds, or
 * `undefined` when the value is neither.
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = PATTERN.exec(value);
  if (!match) return undefined;
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** A zod schema for a strictly positive {@link parseDuration} value, output in milliseconds. */
export const positiveDuration = z
  .custom<number | string>((v) => (parseDuration(v) ?? 0) > 0, {
    message: "a positive duration (milliseconds, or a string such as '30s', '12h', '90d')",
  })
  .transform((v) => parseDuration(v) as number);
