import {
  DoubleReleaseError,
  errors,
  InvalidOptionsError,
  QueueFullError,
  SalamaError,
  VERSION,
} from 'salama';
import { describe, expect, it } from 'vitest';
import pkg from '../../package.json' with { type: 'json' };

describe('SalamaError', () => {
  it('carries its class code, name, cause and frozen context', () => {
    const cause = new Error('socket hang up');
    const err = new QueueFullError('queue is full', { cause, context: { maxQueueSize: 8 } });
    expect(err).toBeInstanceOf(SalamaError);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('E_QUEUE_FULL');
    expect(err.name).toBe('QueueFullError');
    expect(err.cause).toBe(cause);
    expect(err.context).toEqual({ maxQueueSize: 8 });
    expect(Object.isFrozen(err.context)).toBe(true);
    expect(err.stack).toContain('QueueFullError');
  });

  it('has no cause property when none was given', () => {
    expect('cause' in new DoubleReleaseError('twice')).toBe(false);
  });

  it('maps every code to a class whose instances carry that code', () => {
    for (const [code, ErrorClass] of Object.entries(errors)) {
      const err = new ErrorClass('x');
      expect(err.code).toBe(code);
      expect(ErrorClass.code).toBe(code);
    }
    expect(new Set(Object.values(errors)).size).toBe(Object.keys(errors).length);
  });

  it('is() narrows by class and code', () => {
    const err: unknown = new InvalidOptionsError('bad');
    expect(SalamaError.is(err)).toBe(true);
    expect(SalamaError.is(err, 'E_INVALID_OPTIONS')).toBe(true);
    expect(SalamaError.is(err, 'E_CLOSED')).toBe(false);
    expect(SalamaError.is(new Error('plain'))).toBe(false);
  });
});

describe('VERSION', () => {
  it('equals the package version', () => {
    expect(VERSION).toBe(pkg.version);
  });
});
