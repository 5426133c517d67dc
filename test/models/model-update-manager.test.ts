import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { LocalBlobStore } from 'salama/blob';
import type { InferResult } from 'salama/gpu';
import {
  type CanaryAnalysis,
  type DeployReport,
  type EvaluationTarget,
  ModelRegistry,
  type ModelUpdateEvent,
  ModelUpdateManager,
  type ModelUpdateManagerOptions,
  redisNotifier,
} from 'salama/models';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type TestDatabase } from '../support/databases.js';
import { until } from '../support/until.js';
import { scaleArtifact, scaleOptimizer, scaleRuntime, vec } from './fixtures/scale-models.js';

/**
 * The "models" here are the scale runtime (y = x × factor) with its options as the artifact:
 * real worker threads and real batching, with answers that say which version gave them.
 */
const followerScript = fileURLToPath(new URL('./fixtures/follower.ts', import.meta.url));
const artifact = scaleArtifact;
const runtime = scaleRuntime;
const optimizer = scaleOptimizer;
const factorOf = (input: number, result: InferResult) => (result.y?.data[0] as number) / input;

/** A labelled set: input k must come back as 2k (the champion's factor). */
const dataset = Array.from({ length: 40 }, (_, i) => ({ x: (i % 9) + 1, y: ((i % 9) + 1) * 2 }));
type Item = (typeof dataset)[number];
async function accuracy(target: EvaluationTarget, items: readonly Item[]) {
  const answers = await Promise.all(items.map((item) => target.infer(vec(item.x))));
  const right = answers.filter((a, i) => a.y?.data[0] === items[i]?.y).length;
  return { accuracy: right / items.length };
}

let database: TestDatabase;
let dir: string;
let registry: ModelRegistry;
const managers: ModelUpdateManager<Item>[] = [];

beforeEach(async () => {
  database = await openDatabase('sqlite');
  dir = await mkdtemp(join(tmpdir(), 'salama-models-'));
  registry = await ModelRegistry.open({
    db: database.db,
    store: new LocalBlobStore({ root: dir }),
  });
  await registry.registerVersion('plates', artifact({ factor: 2 }), { format: 'scale' }); // 1
  await registry.registerVersion('plates', artifact({ factor: 3 }), { format: 'scale' }); // 2
  await registry.setAlias('plates', 'champion', 1, { actor: 'test', reason: 'first model' });
});

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
  await database.close();
  await rm(dir, { recursive: true, force: true });
});

function manager(options: Partial<ModelUpdateManagerOptions<Item>> = {}) {
  const m = new ModelUpdateManager<Item>({
    registry,
    name: 'plates',
    runtime,
    optimizer,
    ...options,
  });
  managers.push(m);
  return m;
}

const withValidation = (threshold = 0.99) => ({
  validation: {
    dataset,
    evaluate: accuracy,
    thresholds: { accuracy: { threshold, higherIsBetter: true } },
  },
});

/** 32 callers calling until stopped; counts failures and which factor answered. */
function traffic(m: ModelUpdateManager<Item>, callers = 32) {
  let running = true;
  const seen: number[] = [];
  const failures: unknown[] = [];
  const loops = Array.from({ length: callers }, async (_, c) => {
    for (let i = 0; running; i++) {
      const x = ((c + i) % 9) + 1;
      try {
        seen.push(factorOf(x, await m.infer(vec(x))));
      } catch (error) {
        failures.push(error);
      }
    }
  });
  return {
    seen,
    failures,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

function events(m: ModelUpdateManager<Item>) {
  const list: ModelUpdateEvent[] = [];
  m.on('event', (e) => list.push(e));
  return list;
}

describe('ModelUpdateManager', () => {
  it('serves the champion after start(), and refuses to start without one', async () => {
    const m = manager();
    await expect(m.infer(vec(1))).rejects.toMatchObject({ code: 'E_BACKEND_UNAVAILABLE' });
    expect((await m.start()).version).toBe(1);
    expect(factorOf(4, await m.infer(vec(4)))).toBe(2);

    await registry.deleteAlias('plates', 'champion');
    await expect(manager().start()).rejects.toMatchObject({
      code: 'E_NOT_FOUND',
      message: expect.stringContaining("no 'champion' alias"),
    });
  });

  it('validates a candidate: measured metrics, speed, and the gate that failed by how much', async () => {
    const m = manager(withValidation());
    await m.start();
    const bad = await m.validate(2);
    expect(bad.passed).toBe(false);
    expect(bad.metrics.accuracy).toBe(0);
    expect(bad.metrics.latencyP95Ms).toBeGreaterThan(0);
    expect(bad.metrics.throughputPerS).toBeGreaterThan(0);
    expect(bad.failures).toEqual(['accuracy 0 misses threshold 0.9900, short by 0.9900']);
    // The metrics are recorded on the version.
    expect((await registry.getVersion('plates', 2)).metrics.accuracy).toBe(0);

    await registry.registerVersion('plates', artifact({ factor: 2, version: 3 })); // 3
    const good = await m.validate('latest');
    expect(good).toMatchObject({ version: 3, passed: true, metrics: { accuracy: 1 } });
  });

  it('fails a metric the evaluator does not report, and compares with the champion for change gates', async () => {
    const m = manager({
      validation: {
        dataset,
        evaluate: accuracy,
        thresholds: {
          accuracy: { minAbsoluteChange: 0.01, higherIsBetter: true },
          falsePositiveRate: { threshold: 0.1, higherIsBetter: false },
        },
      },
    });
    await m.start();
    await registry.registerVersion('plates', artifact({ factor: 2, version: 3 })); // 3, as good as 1
    const report = await m.validate(3);
    expect(report.baseline).toEqual({
      version: 1,
      metrics: expect.objectContaining({ accuracy: 1 }),
    });
    expect(report.gates).toEqual([
      expect.objectContaining({
        metric: 'accuracy',
        gate: 'minAbsoluteChange',
        passed: false,
        required: 1.01,
      }),
      expect.objectContaining({ metric: 'falsePositiveRate', gate: 'present', passed: false }),
    ]);
    expect(report.failures).toEqual([
      'accuracy 1 misses minAbsoluteChange 1.010 (champion 1), short by 0.01000',
      'falsePositiveRate: the evaluator did not report it',
    ]);
  });

  it('a registry that cannot be read is E_BACKEND_FAILED, never "no champion": change gates do not pass', async () => {
    const m = manager({
      validation: {
        dataset,
        evaluate: accuracy,
        thresholds: { accuracy: { minAbsoluteChange: 0.01, higherIsBetter: true } },
      },
    });
    await m.start();
    await registry.registerVersion('plates', artifact({ factor: 2, version: 3 })); // 3, as good as 1
    expect((await m.validate(3)).passed).toBe(false);
    // The aliases table becomes unreadable (a failed migration, a lost connection).
    await sql`alter table salama_model_aliases rename to salama_model_aliases_lost`.execute(
      database.db,
    );
    await expect(m.validate(3)).rejects.toMatchObject({
      code: 'E_BACKEND_FAILED',
      message: expect.stringContaining('ModelRegistry could not'),
      cause: expect.objectContaining({ message: expect.stringContaining('no such table') }),
    });
    await expect(manager().start()).rejects.toMatchObject({ code: 'E_BACKEND_FAILED' });
  });

  it('replaces the champion while 32 callers keep calling: none fails, and the answers switch', async () => {
    await registry.registerVersion('plates', artifact({ factor: 2, version: 3 })); // 3
    const m = manager();
    await m.start();
    const log = events(m);
    const load = traffic(m);
    await until(() => load.seen.length > 200, 10_000);
    // Version 2 multiplies by 3: an "improved" model whose answers we can tell apart.
    const report = await m.deploy(2, { type: 'replace' }, { validate: false, reason: 'better' });
    const switchedAt = load.seen.length;
    await until(() => load.seen.length > switchedAt + 200, 10_000);
    // Batches in flight at the swap finished on version 1; after them it ran nothing more.
    const oldAnswered = m.stats().answered[1];
    await until(() => load.seen.length > switchedAt + 400, 10_000);
    await load.stop();
    expect(m.stats()).toMatchObject({ champion: 2, weight: 0, answered: { 1: oldAnswered } });
    expect(m.stats().answered[2]).toBeGreaterThan(400);

    expect(report).toMatchObject({ outcome: 'promoted', version: 2, previous: 1 });
    expect(load.failures).toEqual([]);
    expect(load.seen.slice(0, 100).every((f) => f === 2)).toBe(true);
    expect(load.seen.slice(-100).every((f) => f === 3)).toBe(true);
    expect(m.serving.champion.version).toBe(2);
    expect((await registry.aliases('plates')).champion).toBe(2);
    expect((await registry.aliasHistory('plates', 'champion')).at(-1)).toMatchObject({
      from: 1,
      to: 2,
      actor: 'ModelUpdateManager',
      reason: 'better',
    });
    expect(log.map((e) => e.type)).toEqual(['deploying', 'promoted']);
  });

  it('rejects a candidate that fails validation and keeps the champion serving', async () => {
    const m = manager(withValidation());
    await m.start();
    const log = events(m);
    const report = await m.deploy(2);
    expect(report.outcome).toBe('rejected');
    expect(report.validation?.failures[0]).toContain('accuracy 0 misses threshold');
    expect(factorOf(5, await m.infer(vec(5)))).toBe(2);
    expect((await registry.aliases('plates')).champion).toBe(1);
    expect(log.map((e) => e.type)).toEqual(['deploying', 'validated', 'rejected']);
  });

  it('rolls back to the previous champion, and says when there is none', async () => {
    const m = manager();
    await m.start();
    await expect(m.rollback()).rejects.toMatchObject({
      code: 'E_NOT_FOUND',
      message: expect.stringContaining('no previous champion'),
    });
    await m.deploy(2, { type: 'replace' }, { validate: false });
    const load = traffic(m, 8);
    await until(() => load.seen.length > 50, 10_000);
    const report = await m.rollback({ reason: 'complaints' });
    const at = load.seen.length;
    await until(() => load.seen.length > at + 50, 10_000);
    await load.stop();
    expect(report).toMatchObject({ from: 2, to: 1 });
    expect(load.failures).toEqual([]);
    expect(load.seen.slice(-20).every((f) => f === 2)).toBe(true);
    expect((await registry.aliasHistory('plates', 'champion')).at(-1)).toMatchObject({
      from: 2,
      to: 1,
      reason: 'complaints',
    });
  });
});

describe('ModelUpdateManager canary', () => {
  const errorsOnCandidate = (intervalMs = 40): CanaryAnalysis => ({
    intervalMs,
    count: 3,
    metrics: [
      {
        name: 'candidate-errors',
        measure: (w) => w.candidate.errors,
        failureCondition: (v) => v > 0,
      },
    ],
  });

  it('steps 10 → 50 → 100 % with analysis and promotes a healthy candidate without a failed request', async () => {
    const m = manager();
    await m.start();
    const log = events(m);
    const load = traffic(m);
    const report = await m.deploy(2, {
      type: 'canary',
      steps: [{ weight: 10 }, { weight: 50 }, { weight: 100 }],
      analysis: errorsOnCandidate(),
    });
    const at = load.seen.length;
    await until(() => load.seen.length > at + 100, 10_000);
    await load.stop();

    expect(report.outcome).toBe('promoted');
    expect(report.steps?.map((s) => [s.weight, s.analysis?.phase])).toEqual([
      [10, 'successful'],
      [50, 'successful'],
      [100, 'successful'],
    ]);
    expect(load.failures).toEqual([]);
    // Both versions answered during the canary; only the new one afterwards.
    expect(new Set(load.seen)).toEqual(new Set([2, 3]));
    expect(load.seen.slice(-50).every((f) => f === 3)).toBe(true);
    expect(await registry.aliases('plates')).toEqual({ champion: 2 });
    expect(
      log.filter((e) => e.type === 'canary-step').map((e) => (e as { weight: number }).weight),
    ).toEqual([10, 50, 100]);
  });

  it('aborts when the analysis fails: weight back to 0, the champion serves, callers never see the errors', async () => {
    await registry.registerVersion('plates', artifact({ factor: 3, failOn: 5 })); // 3: fails on 5
    const m = manager();
    await m.start();
    const load = traffic(m);
    const report = await m.deploy(3, {
      type: 'canary',
      steps: [{ weight: 30 }, { weight: 100 }],
      analysis: errorsOnCandidate(),
    });
    await load.stop();
    expect(report.outcome).toBe('aborted');
    expect(report.steps).toHaveLength(1);
    const analysis = report.steps?.[0]?.analysis;
    expect(analysis?.phase).toBe('failed');
    expect(analysis?.metrics[0]?.measurements.at(-1)?.value).toBeGreaterThan(0);
    // The candidate's failures were answered again by the champion.
    expect(load.failures).toEqual([]);
    expect(m.serving).toEqual({ champion: expect.objectContaining({ version: 1 }), weight: 0 });
    expect(await registry.aliases('plates')).toEqual({ champion: 1 });
  });

  it('pauses on an inconclusive analysis until resume(), and aborts on abort()', async () => {
    const m = manager();
    await m.start();
    const log = events(m);
    const noData: CanaryAnalysis = {
      intervalMs: 20,
      count: 1,
      metrics: [{ name: 'nothing', measure: () => undefined, successCondition: (v) => v < 1 }],
    };
    const deploying = m.deploy(2, {
      type: 'canary',
      steps: [{ weight: 20, analysis: noData }, { weight: 100 }],
    });
    await until(() => log.some((e) => e.type === 'paused'), 5_000);
    expect(m.serving.weight).toBe(20);
    m.resume();
    expect((await deploying).outcome).toBe('promoted');
    expect(log.map((e) => e.type)).toContain('resumed');

    await registry.registerVersion('plates', artifact({ factor: 5 })); // 3
    const second = m.deploy(3, { type: 'canary', steps: [{ weight: 20, analysis: noData }] });
    await until(() => log.filter((e) => e.type === 'paused').length === 2, 5_000);
    m.abort();
    expect((await second).outcome).toBe('aborted');
    expect(m.serving.champion.version).toBe(2);
  });

  it('abort() stops a replace, and a canary without analysis or pauses, before they promote', async () => {
    const m = manager();
    await m.start();
    const log = events(m);
    const abortAt = (type: ModelUpdateEvent['type']) =>
      m.on('event', function listener(e) {
        if (e.type !== type) return;
        m.off('event', listener);
        m.abort('operator pressed abort');
      });
    abortAt('deploying');
    const replaced = await m.deploy(2, { type: 'replace' });
    abortAt('canary-step');
    const canaried = await m.deploy(2, { type: 'canary', steps: [{ weight: 10 }, { weight: 50 }] });

    expect([replaced.outcome, canaried.outcome]).toEqual(['aborted', 'aborted']);
    // The first step ran (it had begun when abort() came); the second never did.
    expect(canaried.steps).toEqual([{ weight: 10 }]);
    expect(log.filter((e) => e.type === 'aborted')).toEqual([
      { type: 'aborted', version: 2, reason: 'operator pressed abort' },
      { type: 'aborted', version: 2, reason: 'operator pressed abort' },
    ]);
    expect(m.serving).toEqual({ champion: expect.objectContaining({ version: 1 }), weight: 0 });
    expect(factorOf(3, await m.infer(vec(3)))).toBe(2);
    expect(await registry.aliases('plates')).toEqual({ champion: 1 });
  });

  const noData: CanaryAnalysis = {
    intervalMs: 20,
    count: 1,
    metrics: [{ name: 'nothing', measure: () => undefined, successCondition: (v) => v < 1 }],
  };

  it('abort() right after resume() while paused still aborts', async () => {
    const m = manager();
    await m.start();
    m.on('event', (e) => {
      if (e.type !== 'paused') return;
      setImmediate(() => {
        m.resume();
        m.abort('operator changed their mind');
      });
    });
    const report = await m.deploy(2, {
      type: 'canary',
      steps: [{ weight: 10, analysis: noData }, { weight: 50 }],
    });
    expect(report.outcome).toBe('aborted');
    expect(m.serving.champion.version).toBe(1);
    expect(await registry.aliases('plates')).toEqual({ champion: 1 });
  });

  it("a 'paused' listener may call resume() at once", async () => {
    const m = manager();
    await m.start();
    const log = events(m);
    m.on('event', (e) => {
      if (e.type === 'paused') m.resume();
    });
    const report = await m.deploy(2, { type: 'canary', steps: [{ weight: 10, analysis: noData }] });
    expect(report.outcome).toBe('promoted');
    expect(log.map((e) => e.type)).toEqual([
      'deploying',
      'canary-step',
      'analysis',
      'paused',
      'resumed',
      'promoted',
    ]);
  });

  it('aborts after too many consecutive measurement errors', async () => {
    const m = manager();
    await m.start();
    const report = await m.deploy(2, {
      type: 'canary',
      steps: [{ weight: 10 }],
      analysis: {
        intervalMs: 5,
        count: 10,
        metrics: [
          {
            name: 'broken',
            measure: () => {
              throw new Error('metrics backend down');
            },
            failureCondition: (v) => v > 0,
            consecutiveErrorLimit: 2,
          },
        ],
      },
    });
    expect(report.outcome).toBe('aborted');
    expect(report.steps?.[0]?.analysis?.phase).toBe('error');
    expect(report.steps?.[0]?.analysis?.metrics[0]?.measurements).toHaveLength(3);
  });
});

describe('ModelUpdateManager shadow', () => {
  it('mirrors traffic without changing answers and reports agreement', async () => {
    await registry.registerVersion('plates', artifact({ factor: 2, version: 7 })); // 3: same answers as 1
    const m = manager();
    await m.start();
    const load = traffic(m, 8);
    // "info" says which batch and version answered: only "y" is the answer.
    const agree = (a: InferResult, b: InferResult) => a.y?.data[0] === b.y?.data[0];
    const differs = await m.deploy(2, { type: 'shadow', durationMs: 150, agree });
    const agrees = await m.deploy(3, {
      type: 'shadow',
      durationMs: 150,
      agree,
      promoteAtAgreement: 0.99,
    });
    await load.stop();

    expect(differs.outcome).toBe('shadowed');
    expect(differs.shadow?.mirrored).toBeGreaterThan(10);
    expect(differs.shadow?.agreement).toBe(0);
    // Every caller got the champion's answer while version 2 was shadowed.
    expect(load.failures).toEqual([]);
    expect(agrees).toMatchObject({
      outcome: 'promoted',
      shadow: { agreement: 1, candidateErrors: 0 },
    });
    expect(load.seen.every((f) => f === 2)).toBe(true);
    expect((await registry.aliases('plates')).champion).toBe(3);
  });
});

describe('ModelUpdateManager shadow sample size', () => {
  it('does not promote on fewer than minSamples mirrored requests (default 100)', async () => {
    await registry.registerVersion('plates', artifact({ factor: 2, version: 7 })); // 3: same answers as 1
    const m = manager();
    await m.start();
    const agree = (a: InferResult, b: InferResult) => a.y?.data[0] === b.y?.data[0];
    /** A shadow during which requests come one at a time until the candidate answered one. */
    const quietShadow = async (minSamples?: number) => {
      const deploying = m.deploy(3, {
        type: 'shadow',
        durationMs: 1_000,
        agree,
        promoteAtAgreement: 0.99,
        ...(minSamples === undefined ? {} : { minSamples }),
      });
      await until(() => m.serving.candidate !== undefined, 10_000);
      await until(async () => {
        await m.infer(vec(1));
        return (m.stats().answered[3] ?? 0) > 0;
      }, 10_000);
      return deploying;
    };
    const few = await quietShadow();
    expect(few.outcome).toBe('shadowed');
    expect(few.shadow).toMatchObject({ agreement: 1, mirrored: expect.any(Number) });
    expect(few.shadow?.mirrored).toBeLessThan(100);
    expect(await registry.aliases('plates')).toEqual({ champion: 1 });

    expect((await quietShadow(1)).outcome).toBe('promoted');
    expect((await registry.aliases('plates')).champion).toBe(3);
  });
});

describe('ModelUpdateManager start and close', () => {
  /** Worker threads alive in this process (one MessagePort each). */
  const workers = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;

  it('concurrent start() calls share one load, and close() unloads it', async () => {
    const before = workers();
    let loads = 0;
    const m = manager({
      runtime: (bytes, version) => {
        loads++;
        return runtime(bytes, version);
      },
    });
    const [a, b] = await Promise.all([m.start(), m.start()]);
    expect([a.version, b.version, loads]).toEqual([1, 1, 1]);
    await m.close();
    await until(() => workers() <= before, 5_000);
  });

  it('close() during start() unloads what start() loaded, and start() is E_CLOSED', async () => {
    const before = workers();
    const m = manager();
    const starting = m.start();
    await m.close();
    await expect(starting).rejects.toMatchObject({ code: 'E_CLOSED' });
    await until(() => workers() <= before, 5_000);
    await expect(m.start()).rejects.toMatchObject({ code: 'E_CLOSED' });
  });
});

describe('ModelUpdateManager bad input', () => {
  let m: ModelUpdateManager<Item>;
  beforeEach(async () => {
    m = manager();
    await m.start();
  });
  const untouched = async () => {
    expect(factorOf(3, await m.infer(vec(3)))).toBe(2);
    expect((await registry.aliases('plates')).champion).toBe(1);
  };

  it('champion and challenger aliases that are the same, reserved or malformed, and a bad name', async () => {
    for (const [options, message] of [
      [
        { challengerAlias: 'champion' },
        'challengerAlias: expected an alias other than championAlias ("champion")',
      ],
      [
        { championAlias: 'live', challengerAlias: 'live' },
        'challengerAlias: expected an alias other than championAlias ("live")',
      ],
      [{ championAlias: 'latest' }, 'championAlias: expected an alias name other than "latest"'],
      [{ challengerAlias: 'v2' }, 'challengerAlias: expected an alias name other than "latest"'],
      [{ challengerAlias: 'next model' }, 'challengerAlias: expected an alias name: 1–64'],
      [{ name: 'plates/v2' }, 'name: expected a model name'],
    ] as const)
      expect(() => manager(options)).toThrowError(
        expect.objectContaining({
          code: 'E_INVALID_OPTIONS',
          message: expect.stringContaining(message),
        }),
      );
    await untouched();
  });

  it('an unknown version or alias', async () => {
    await expect(m.deploy(9)).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await expect(m.deploy('nightly')).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await untouched();
  });

  it('an artifact that is not a valid model, in every strategy', async () => {
    await registry.registerVersion('plates', artifact({ failLoad: true })); // 3
    await registry.registerVersion('plates', new TextEncoder().encode('not json at all')); // 4
    const strategies = [
      { type: 'replace' },
      { type: 'canary', steps: [{ weight: 10 }] },
      { type: 'shadow', durationMs: 10 },
    ] as const;
    for (const version of [3, 4])
      for (const strategy of strategies) {
        const failed: DeployReport | Error = await m
          .deploy(version, strategy)
          .catch((e: Error) => e);
        expect(failed).toMatchObject({
          code: 'E_INVALID_INPUT',
          message: expect.stringContaining(`Model plates version ${version}: the artifact`),
        });
      }
    await untouched();
    expect((await registry.aliases('plates')).challenger).toBeUndefined();
  });

  it('a canary weight outside 0–100 or a strategy that does not exist', async () => {
    await expect(m.deploy(2, { type: 'canary', steps: [{ weight: 150 }] })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringContaining(
        'expected steps[0].weight to be a percentage from 0 to 100, received 150',
      ),
    });
    await expect(m.deploy(2, { type: 'canary', steps: [] })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
    });
    await expect(m.deploy(2, { type: 'blue-green' } as never)).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
    });
    await untouched();
  });

  it('a second deploy while one runs, and a deploy of the champion itself', async () => {
    const first = m.deploy(2, { type: 'canary', steps: [{ weight: 10, pauseMs: 200 }] });
    await expect(m.deploy(2)).rejects.toMatchObject({ code: 'E_CONFLICT' });
    expect((await first).outcome).toBe('promoted');
    await expect(m.deploy(2)).rejects.toMatchObject({
      code: 'E_CONFLICT',
      message: expect.stringContaining('is the champion already'),
    });
  });
});

describe('ModelUpdateManager across processes', () => {
  it('a second instance on another connection follows a promotion by polling', async () => {
    const other = await ModelRegistry.open({
      db: await database.another(),
      store: new LocalBlobStore({ root: dir }),
    });
    const a = manager();
    const b = manager({ registry: other });
    await a.start();
    await b.start();
    const adopted = events(b);
    await b.watch({ intervalMs: 20 });
    await a.deploy(2, { type: 'replace' }, { validate: false });
    await until(() => adopted.some((e) => e.type === 'adopted'), 5_000);
    expect(adopted).toContainEqual({ type: 'adopted', from: 1, to: 2 });
    expect(factorOf(2, await b.infer(vec(2)))).toBe(3);
  });
  it('another process follows a promotion at once through a Redis notification', async () => {
    const channelPrefix = `salama-test:${randomUUID()}:`;
    const publisher = new Redis({ host: '127.0.0.1', port: 6379 });
    const subscriber = new Redis({ host: '127.0.0.1', port: 6379 });
    const follower = spawn(
      process.execPath,
      ['--import', 'tsx', followerScript, database.location as string, dir, channelPrefix],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const lines: Record<string, unknown>[] = [];
    createInterface({ input: follower.stdout }).on('line', (line) => lines.push(JSON.parse(line)));
    try {
      const a = manager({ notifier: redisNotifier({ publisher, subscriber, channelPrefix }) });
      await a.start();
      await until(() => lines.some((l) => l.watching), 30_000);
      expect(lines[0]).toEqual({ serving: 1 });
      await a.deploy(2, { type: 'replace' }, { validate: false });
      // The follower polls once a minute: only the notification can make this quick.
      await until(() => lines.some((l) => l.adopted), 10_000);
      expect(lines.find((l) => l.adopted)).toEqual({ adopted: 2, from: 1, factor: 3 });
    } finally {
      follower.kill('SIGTERM');
      await once(follower, 'exit');
      publisher.disconnect();
      subscriber.disconnect();
    }
  });
});
