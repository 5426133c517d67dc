import { parseDuration, parseOptions, positiveDuration } from 'salama';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

describe('parseDuration', () => {
  it('reads milliseconds and unit strings', () => {
    expect(parseDuration(1500)).toBe(1500);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('90d')).toBe(90 * 86_400_000);
    expect(parseDuration('2w')).toBe(14 * 86_400_000);
    expect(parseDuration('90 days')).toBeUndefined();
    expect(parseDuration('-1d')).toBeUndefined();
    expect(parseDuration(Number.NaN)).toBeUndefined();
    expect(parseDuration(null)).toBeUndefined();
  });

  it('positiveDuration refuses zero, negatives and nonsense with the expected form', () => {
    const schema = z.strictObject({ maxAge: positiveDuration });
    expect(parseOptions('T', schema, { maxAge: '7d' }).maxAge).toBe(7 * 86_400_000);
    for (const bad of [0, -5, '0d', 'soon'])
      expect(() => parseOptions('T', schema, { maxAge: bad })).toThrow(
        /maxAge: expected a positive duration \(milliseconds, or a string such as '30s', '12h', '90d'\), received/,
      );
  });
});
