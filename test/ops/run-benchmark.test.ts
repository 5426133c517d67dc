import { describe, expect, it } from 'vitest';
import { type BenchmarkProgress, runBenchmark } from '../../src/ops/run-benchmark.js';
import { rejection } from '../support/rejection.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('runBenchmark', () => {
  it('runs setup, the warmup, the measured iterations and teardown of each case in order', async () => {
    const log: string[] = [];
    const iterations: number[] = [];
    const results = await runBenchmark({
      cases: [
        {
          name: 'ocr_single',
          setup: () => log.push('setup a'),
          fn: (i) => {
            iterations.push(i);
          },
          teardown: async () => {
            await tick();
            log.push(`teardown a after ${iterations.length}`);
          },
        },
        { name: 'ocr_batch', fn: () => log.push('b') },
      ],
      iterations: 5,
      warmup: 2,
    });
    expect(log).toEqual(['setup a', 'teardown a after 7', ...Array(7).fill('b')]);
    expect(iterations).toEqual([0, 1, 0, 1, 2, 3, 4]);
    expect(results.map((r) => [r.name, r.iterations, r.concurrency, r.errors])).toEqual([
      ['ocr_single', 5, 1, 0],
      ['ocr_batch', 5, 1, 0],
    ]);
  });

  it('reports ordered latency figures and throughput for each case', async () => {
    const [result] = await runBenchmark({
      cases: [{ name: 'tick', fn: tick }],
      iterations: 50,
      concurrency: 2,
    });
    const r = result as NonNullable<typeof result>;
    expect(r.minMs).toBeGreaterThanOrEqual(0);
    expect(r.minMs).toBeLessThanOrEqual(r.p50Ms);
    expect(r.p50Ms).toBeLessThanOrEqual(r.p95Ms);
    expect(r.p95Ms).toBeLessThanOrEqual(r.p99Ms);
    expect(r.p99Ms).toBeLessThanOrEqual(r.maxMs);
    expect(r.avgMs).toBeGreaterThanOrEqual(r.minMs);
    expect(r.avgMs).toBeLessThanOrEqual(r.maxMs);
    expect(r.durationMs).toBeGreaterThan(0);
    expect(r.throughput).toBeCloseTo((50 / r.durationMs) * 1000, 6);
  });

  it('counts thrown and rejected iterations as errors, keeping the first, and throughput counts successes', async () => {
    const [mixed, failing] = await runBenchmark({
      cases: [
        {
          name: 'mixed',
          fn: async (i) => {
            if (i % 5 === 0) throw new Error(`iteration ${i} failed`);
            if (i % 5 === 1) return Promise.reject(new Error('rejected'));
          },
        },
        {
          name: 'failing',
          fn: () => {
            throw new TypeError('always');
          },
        },
      ],
      iterations: 20,
    });
    expect(mixed?.errors).toBe(8);
    expect(mixed?.firstError).toEqual(new Error('iteration 0 failed'));
    expect(mixed?.throughput).toBeCloseTo((12 / (mixed?.durationMs ?? 1)) * 1000, 6);
    expect(failing).toMatchObject({ errors: 20, throughput: 0 });
    expect(failing?.firstError).toBeInstanceOf(TypeError);
  });

  it('keeps exactly `concurrency` iterations in flight, never more', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const [result] = await runBenchmark({
      cases: [
        {
          name: 'io',
          fn: async () => {
            maxInFlight = Math.max(maxInFlight, ++inFlight);
            await tick();
            await tick();
            inFlight--;
          },
        },
      ],
      iterations: 40,
      concurrency: 4,
      warmup: 8,
    });
    expect(maxInFlight).toBe(4);
    expect(result?.concurrency).toBe(4);
  });

  it('never starts more workers than iterations', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    await runBenchmark({
      cases: [
        {
          name: 'few',
          fn: async () => {
            maxInFlight = Math.max(maxInFlight, ++inFlight);
            await tick();
            inFlight--;
          },
        },
      ],
      iterations: 3,
      concurrency: 16,
    });
    expect(maxInFlight).toBe(3);
  });

  it('reports progress after every measured iteration', async () => {
    const progress: BenchmarkProgress[] = [];
    await runBenchmark({
      cases: [
        { name: 'a', fn: () => {} },
        { name: 'b', fn: () => {} },
      ],
      iterations: 2,
      warmup: 3,
      onProgress: (p) => progress.push(p),
    });
    expect(
      progress.map((p) => `${p.caseName}#${p.caseIndex}/${p.cases} ${p.completed}/${p.iterations}`),
    ).toEqual(['a#0/2 1/2', 'a#0/2 2/2', 'b#1/2 1/2', 'b#1/2 2/2']);
  });

  it('rejects the run when a setup fails, and still tears down a case whose iterations ran', async () => {
    const log: string[] = [];
    const error = new Error('no model file');
    await expect(
      runBenchmark({
        cases: [
          { name: 'ok', fn: () => {}, teardown: () => log.push('teardown ok') },
          {
            name: 'broken',
            fn: () => log.push('never'),
            setup: () => Promise.reject(error),
            teardown: () => log.push('teardown broken'),
          },
        ],
        iterations: 1,
      }),
    ).rejects.toBe(error);
    expect(log).toEqual(['teardown ok']);
  });

  it('rejects bad options with E_INVALID_OPTIONS saying what was expected and received', async () => {
    const error = await rejection(
      runBenchmark({
        cases: [{ name: 'a', fn: 'not a function' as never }],
        iterations: 0,
        concurrency: 1.5,
        warmup: -1,
      }),
    );
    expect(error.code).toBe('E_INVALID_OPTIONS');
    expect(error.context.issues).toEqual(
      expect.arrayContaining([
        {
          path: 'cases.0.fn',
          expected: 'a function (iteration) => unknown',
          received: 'string "not a function"',
        },
        { path: 'iterations', expected: 'number >= 1', received: 'number 0' },
        { path: 'concurrency', expected: 'an integer', received: 'number 1.5' },
        { path: 'warmup', expected: 'number >= 0', received: 'number -1' },
      ]),
    );
  });

  it('rejects an empty case list, duplicate case names and unknown options', async () => {
    const empty = await rejection(runBenchmark({ cases: [], iterations: 1 }));
    expect(empty.message).toContain(
      'cases: expected array of length >= 1, received array of length 0',
    );
    const duplicate = await rejection(
      runBenchmark({
        cases: [
          { name: 'x', fn: () => {} },
          { name: 'x', fn: () => {} },
        ],
        iterations: 1,
      }),
    );
    expect(duplicate.message).toContain('cases: expected cases with distinct names');
    const unknown = await rejection(
      runBenchmark({ cases: [{ name: 'x', fn: () => {} }], iterations: 1, iters: 5 } as never),
    );
    expect(unknown.message).toContain('iters: expected no such option');
  });
});
