/**
 * The real workload: PP-OCRv4's recogniser on 3×48×320 crops of rendered plates, 32 callers
 * submitting one crop each in a closed loop. Four peers in one process, one after another:
 *   1. naive      — `session.run` per request on the main thread
 *   2. per-tick   — DataLoader batching on the main thread (everything queued in one tick)
 *   3. salama     — GPUOptimizer, configured by tune()
 *   4. limit      — pre-formed batches of the tuned size, back to back on the same workers
 * `BENCH_SECONDS` (default 15) per peer.
 */
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import DataLoader from 'dataloader';
import * as ort from 'onnxruntime-node';
import { GPUOptimizer, onnxRuntime, type Tensor, tune } from 'salama/gpu';
import { MemoryPool } from 'salama/memory';
import { silentLogger } from '../src/core/logger.js';
import { WorkerInstance } from '../src/gpu/worker-instance.js';
import {
  ctcGreedyDecode,
  loadDictionary,
  ocrModelPaths,
  plateCrops,
  plateKey,
} from '../test/support/ocr/index.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const CALLERS = 32;
const CROPS = 64;
const DIMS = [3, 48, 320] as const;
const PER = DIMS[0] * DIMS[1] * DIMS[2];
const CORES = availableParallelism();

interface PeerResult {
  items_per_s: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  event_loop_p99_ms: number;
  /** Share of the time the main thread was busy (0–1). */
  event_loop_utilization: number;
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
const percentile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;

/** Runs `callers` closed-loop callers of `infer` for `seconds`; measures latency and the event loop. */
async function closedLoop(
  infer: (crop: number) => Promise<unknown>,
  seconds = SECONDS,
): Promise<PeerResult> {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const latencies: number[] = [];
  let next = 0;
  const end = performance.now() + seconds * 1000;
  loop.enable();
  const elu = performance.eventLoopUtilization();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (performance.now() < end) {
        const crop = next++ % CROPS;
        const t = performance.now();
        await infer(crop);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  loop.disable();
  latencies.sort((a, b) => a - b);
  return {
    items_per_s: round(latencies.length / elapsed),
    p50_ms: round(percentile(latencies, 0.5)),
    p95_ms: round(percentile(latencies, 0.95)),
    p99_ms: round(percentile(latencies, 0.99)),
    event_loop_p99_ms: round(loop.percentile(99) / 1e6),
    event_loop_utilization: round(performance.eventLoopUtilization(elu).utilization),
  };
}

export default async function run() {
  const crops = plateCrops(CROPS, 2026, { width: DIMS[2] });
  const tensors: Tensor[] = crops.map((c) => ({
    dtype: 'float32',
    dims: DIMS,
    data: c.input.data,
  }));
  const dictionary = loadDictionary();
  const model = ocrModelPaths.recognizer;

  // 1. naive: one session on the main thread with default options, one run per request.
  const session = await ort.InferenceSession.create(model);
  const inputName = session.inputNames[0] as string;
  const outputName = session.outputNames[0] as string;
  const runBatch = async (indices: readonly number[]) => {
    const data = new Float32Array(indices.length * PER);
    for (const [i, c] of indices.entries()) data.set(crops[c]?.input.data as Float32Array, i * PER);
    const out = await session.run({
      [inputName]: new ort.Tensor('float32', data, [indices.length, ...DIMS]),
    });
    const output = out[outputName] as ort.Tensor;
    const per = output.data.length / indices.length;
    return indices.map((_, i) => (output.data as Float32Array).subarray(i * per, (i + 1) * per));
  };
  await runBatch([0]);
  const naive = await closedLoop((c) => runBatch([c]));

  // 2. per-tick batching on the main thread: DataLoader gathers what was queued in one tick.
  const loader = new DataLoader<number, Float32Array>((keys) => runBatch(keys), {
    cache: false,
    maxBatchSize: CALLERS,
  });
  const perTick = await closedLoop((c) => loader.load(c));
  await session.release();

  // For transparency: the naive peer again, with the intra-op threads the tuned setup uses
  // (ONNX Runtime's default thread count is slower on this machine).
  const threaded = await ort.InferenceSession.create(model, { intraOpNumThreads: CORES });
  const naiveSameThreads = await closedLoop(async (c) => {
    const data = crops[c]?.input.data as Float32Array;
    await threaded.run({ [inputName]: new ort.Tensor('float32', data, [1, ...DIMS]) });
  });
  await threaded.release();

  // 3. salama: tune (instances × batch size, the cores split between the instances' intra-op
  // threads), then run the best configuration.
  const setups = [1, 2].map((instances) => ({
    instances,
    base: {
      runtime: onnxRuntime({
        model,
        label: 'ppocr-rec-v4',
        intraOpNumThreads: Math.max(1, CORES / instances),
      }),
      maxQueueDelayMs: 2,
    },
  }));
  const tunings = [];
  for (const setup of setups) {
    const result = await tune(setup.base, {
      samples: tensors,
      batchSizes: [1, 2, 4, 8, 16],
      instances: [setup.instances],
      requests: 192,
      concurrency: CALLERS,
    });
    tunings.push({ setup, result });
  }
  const chosen = tunings.reduce((a, b) =>
    b.result.best.itemsPerS > a.result.best.itemsPerS ? b : a,
  );
  const base = chosen.setup.base;
  const { instances, maxBatchSize } = chosen.result.options;
  const gpu = new GPUOptimizer({ ...base, instances, maxBatchSize });
  await gpu.ready();
  const decoded: string[] = new Array(CROPS).fill('');
  const salama = await closedLoop(async (c) => {
    const result = await gpu.infer(tensors[c] as Tensor);
    const probs = result[outputName] as Tensor<Float32Array>;
    if (decoded[c] === '') {
      decoded[c] = ctcGreedyDecode(
        probs.data,
        probs.dims[0] as number,
        probs.dims[1] as number,
        dictionary,
      ).text;
    }
  });
  const gpuStats = gpu.stats();
  await gpu.close();
  const exact =
    crops.filter((crop, i) => plateKey(decoded[i] ?? '') === plateKey(crop.label)).length / CROPS;

  // 4. the limit: pre-formed batches of the tuned size, back to back on the same worker setup.
  const workers = Array.from(
    { length: instances },
    (_, i) => new WorkerInstance(base.runtime, i, silentLogger),
  );
  await Promise.all(workers.map((w) => w.load(() => [])));
  const pool = new MemoryPool({ shared: true, idleTimeoutMs: false });
  const limit = await closedLoopBatches(workers, pool, maxBatchSize, tensors);
  await Promise.all(workers.map((w) => w.stop()));
  await pool.close();

  return {
    workload: `PP-OCRv4 recogniser, float32[${DIMS.join('×')}] plate crops, ${CALLERS} concurrent callers, ${SECONDS} s per peer`,
    naive,
    naive_same_threads: naiveSameThreads,
    per_tick: perTick,
    salama: {
      ...salama,
      instances,
      max_batch_size: maxBatchSize,
      avg_batch_size: round(gpuStats.avgBatchSize),
    },
    limit: { ...limit, instances, batch_size: maxBatchSize },
    ratio_vs_naive: round(salama.items_per_s / naive.items_per_s),
    ratio_vs_naive_same_threads: round(salama.items_per_s / naiveSameThreads.items_per_s),
    ratio_vs_per_tick: round(salama.items_per_s / perTick.items_per_s),
    ratio_vs_limit: round(salama.items_per_s / limit.items_per_s),
    ocr_exact_match: round(exact, 3),
    tuning: tunings
      .flatMap((t) => t.result.table)
      .map((t) => ({
        instances: t.instances,
        max_batch_size: t.maxBatchSize,
        items_per_s: round(t.itemsPerS),
        p95_ms: round(t.p95Ms),
      })),
    targets: {
      ratio_vs_limit: '>= 0.9',
      ratio_vs_naive: '>= 1.5',
      salama_event_loop_p99_ms: '<= 10',
      ocr_exact_match: '>= 0.95',
    },
  };
}

/** Each worker runs the same pre-formed batch again as soon as the last one returns. */
async function closedLoopBatches(
  workers: WorkerInstance[],
  pool: MemoryPool,
  size: number,
  tensors: Tensor[],
): Promise<PeerResult> {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const batchMs: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  loop.enable();
  const elu = performance.eventLoopUtilization();
  const start = performance.now();
  await Promise.all(
    workers.map(async (worker) => {
      const lease = pool.acquireShape('float32', [size, ...DIMS]);
      for (let i = 0; i < size; i++)
        lease.array.set(tensors[i % tensors.length]?.data as Float32Array, i * PER);
      const name = worker.info?.inputs[0]?.name ?? 'x';
      const wire = {
        [name]: {
          dtype: 'float32' as const,
          dims: [size, ...DIMS],
          buffer: lease.buffer,
          offset: 0,
          length: size * PER,
        },
      };
      while (performance.now() < end) {
        const t = performance.now();
        await worker.run(wire);
        batchMs.push(performance.now() - t);
      }
      lease.release();
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  loop.disable();
  batchMs.sort((a, b) => a - b);
  return {
    items_per_s: round((batchMs.length * size) / elapsed),
    p50_ms: round(percentile(batchMs, 0.5)),
    p95_ms: round(percentile(batchMs, 0.95)),
    p99_ms: round(percentile(batchMs, 0.99)),
    event_loop_p99_ms: round(loop.percentile(99) / 1e6),
    event_loop_utilization: round(performance.eventLoopUtilization(elu).utilization),
  };
}
