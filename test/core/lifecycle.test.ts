import { isLogger, Lifecycle, type Logger, silentLogger } from 'salama';
import { describe, expect, it } from 'vitest';

describe('Lifecycle', () => {
  it('runs shutdown once however often close() is called', async () => {
    let runs = 0;
    const lifecycle = new Lifecycle('Widget', async () => {
      runs++;
    });
    const first = lifecycle.close();
    expect(lifecycle.close()).toBe(first);
    await first;
    await lifecycle.close();
    expect(runs).toBe(1);
    expect(lifecycle.closed).toBe(true);
  });

  it('throws E_CLOSED naming the component and operation after close', async () => {
    const lifecycle = new Lifecycle('Widget', () => {});
    lifecycle.assertOpen('run');
    await lifecycle.close();
    expect(() => lifecycle.assertOpen('run')).toThrowError(
      expect.objectContaining({
        code: 'E_CLOSED',
        message: expect.stringContaining('Widget.run()'),
      }),
    );
  });

  it('rejects close() with the shutdown error', async () => {
    const lifecycle = new Lifecycle('Widget', () => {
      throw new Error('disk gone');
    });
    await expect(lifecycle.close()).rejects.toThrow('disk gone');
  });
});

describe('logger', () => {
  it('accepts pino-shaped loggers and rejects others', () => {
    const lines: unknown[] = [];
    const log = (...args: unknown[]) => lines.push(args);
    const logger: Logger = { trace: log, debug: log, info: log, warn: log, error: log };
    expect(isLogger(logger)).toBe(true);
    expect(isLogger(silentLogger)).toBe(true);
    expect(isLogger(console)).toBe(true);
    expect(isLogger({ info: log })).toBe(false);
    expect(isLogger(null)).toBe(false);
  });
});
