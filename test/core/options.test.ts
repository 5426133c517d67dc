import { InvalidOptionsError, parseOptions, SalamaError } from 'salama';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const schema = z
  .object({
    maxBytes: z.number().int().positive(),
    mode: z.enum(['throw', 'allocate']).default('throw'),
    nested: z.object({ label: z.string() }).optional(),
  })
  .strict();

function failure(input: unknown): InvalidOptionsError {
  try {
    parseOptions('Widget', schema, input);
  } catch (error) {
    if (error instanceof InvalidOptionsError) return error;
    throw error;
  }
  throw new Error('parseOptions accepted invalid options');
}

describe('parseOptions', () => {
  it('returns parsed options with defaults applied, frozen', () => {
    const options = parseOptions('Widget', schema, { maxBytes: 10 });
    expect(options).toEqual({ maxBytes: 10, mode: 'throw' });
    expect(Object.isFrozen(options)).toBe(true);
  });

  it('lists every bad path with what was expected and what was received', () => {
    const err = failure({ maxBytes: 1.5, mode: 'panic', nested: { label: 7 } });
    expect(err.code).toBe('E_INVALID_OPTIONS');
    expect(err.message).toContain('Invalid Widget options:');
    expect(err.message).toContain('maxBytes: expected an integer, received number 1.5');
    expect(err.message).toContain(
      'mode: expected one of "throw", "allocate", received string "panic"',
    );
    expect(err.message).toContain('nested.label: expected string, received number 7');
    expect(err.context.issues).toHaveLength(3);
    expect(err.cause).toBeInstanceOf(z.ZodError);
  });

  it('names unknown options and lists the valid ones', () => {
    const err = failure({ maxBytes: 1, maxbytes: 2 });
    expect(err.message).toContain(
      'maxbytes: expected no such option (valid options: maxBytes, mode, nested), received number 2',
    );
  });

  it('states the bound of a range check', () => {
    expect(failure({ maxBytes: -4 }).message).toContain(
      'maxBytes: expected number > 0, received number -4',
    );
  });

  it('reports a missing required option as undefined', () => {
    expect(failure({}).message).toContain('maxBytes: expected number, received undefined');
  });

  it('rejects a non-object with a path for the whole options object', () => {
    const err = failure('fast');
    expect(SalamaError.is(err, 'E_INVALID_OPTIONS')).toBe(true);
    expect(err.message).toContain('(options): expected object, received string "fast"');
  });
});
