/**
 * MemoryPool against `new Float32Array`, on the frame loop the OCR pipeline runs: a
 * 640×640×3 float32 detector input and eight 3×48×320 recogniser crops per frame, every
 * element written, then released. The two peers alternate in rounds in one process so drift
 * in the machine's load hits both; each gets `BENCH_SECONDS` (default 10) in total. A third
 * peer, a pool with `zero: true`, measures what zero-filling reused buffers costs.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { MemoryPool } from 'salama/memory';

const FRAME = 640 * 640 * 3;
const CROP = [3, 48, 320] as const;
const CROPS = 8;
const ROUNDS = 5;
const seconds = Number(process.env.BENCH_SECONDS ?? 10);

// One writer for both peers, so the JIT sees the same code and only allocation differs.
function write(array: Float32Array, seed: number): void {
  for (let i = 0; i < array.length; i++) array[i] = (i + seed) & 255;
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run through `npm run bench -- memory` (needs node --expose-gc)');

let gcPauseMs = 0;
let gcCount = 0;
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcPauseMs += entry.duration;
    gcCount++;
  }
});

interface Phase {
  frames: number;
  ms: number;
  gcPauseMs: number;
  gcCount: number;
}

// GC entries reach the observer on a later turn of the event loop; wait for them.
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

/** Runs `frame` for `ms`, starting from a clean heap, and counts the GC pauses it caused. */
async function timed(ms: number, frame: (seed: number) => void): Promise<Phase> {
  gc?.();
  await settle();
  const gcBefore = gcPauseMs;
  const countBefore = gcCount;
  const start = performance.now();
  let frames = 0;
  while (performance.now() - start < ms) frame(frames++);
  const elapsed = performance.now() - start;
  await settle();
  return { frames, ms: elapsed, gcPauseMs: gcPauseMs - gcBefore, gcCount: gcCount - countBefore };
}

function pooledFrame(pool: MemoryPool) {
  return (seed: number) => {
    const input = pool.acquire('float32', FRAME);
    write(input.array, seed);
    const crops = [];
    for (let c = 0; c < CROPS; c++) {
      const crop = pool.acquireShape('float32', CROP);
      write(crop.array, seed + c);
      crops.push(crop);
    }
    for (const crop of crops) crop.release();
    input.release();
  };
}

export default async function run() {
  const pool = new MemoryPool({ name: 'bench', maxBytes: 64 * 2 ** 20, idleTimeoutMs: false });
  const zeroing = new MemoryPool({
    name: 'zero',
    maxBytes: 64 * 2 ** 20,
    idleTimeoutMs: false,
    zero: true,
  });
  const pooled = pooledFrame(pool);
  const pooledZero = pooledFrame(zeroing);
  const cropLength = CROP[0] * CROP[1] * CROP[2];
  const allocated = (seed: number) => {
    const input = new Float32Array(FRAME);
    write(input, seed);
    const crops = [];
    for (let c = 0; c < CROPS; c++) {
      const crop = new Float32Array(cropLength);
      write(crop, seed + c);
      crops.push(crop);
    }
  };

  observer.observe({ entryTypes: ['gc'] });
  await timed(1000, pooled); // warm-up: JIT and the pool's buffers
  await timed(1000, allocated);
  await timed(1000, pooledZero);
  const allocationsAfterWarmup = pool.stats().allocations;

  const totals = { pool: zero(), alloc: zero(), zeroing: zero() };
  const roundMs = (seconds * 1000) / ROUNDS;
  for (let round = 0; round < ROUNDS; round++) {
    add(totals.pool, await timed(roundMs, pooled));
    add(totals.alloc, await timed(roundMs, allocated));
    add(totals.zeroing, await timed(roundMs, pooledZero));
  }
  observer.disconnect();

  const poolOps = (totals.pool.frames / totals.pool.ms) * 1000;
  const allocOps = (totals.alloc.frames / totals.alloc.ms) * 1000;
  const zeroOps = (totals.zeroing.frames / totals.zeroing.ms) * 1000;
  const stats = pool.stats();
  await pool.close();
  await zeroing.close();
  const round2 = (n: number) => Math.round(n * 100) / 100;
  return {
    workload: `per frame: 1×float32[${FRAME}] + ${CROPS}×float32[${CROP.join('×')}], every element written`,
    seconds_per_peer: seconds,
    pool_ops_per_s: round2(poolOps),
    alloc_ops_per_s: round2(allocOps),
    speedup: round2(poolOps / allocOps),
    pool_zero_ops_per_s: round2(zeroOps),
    zero_fill_cost_ms_per_frame: round2(1000 / zeroOps - 1000 / poolOps),
    pool_gc_pause_ms: round2(totals.pool.gcPauseMs),
    alloc_gc_pause_ms: round2(totals.alloc.gcPauseMs),
    gc_pause_reduction: round2(1 - totals.pool.gcPauseMs / totals.alloc.gcPauseMs),
    pool_gc_count: totals.pool.gcCount,
    alloc_gc_count: totals.alloc.gcCount,
    pool_steady_state_allocations: stats.allocations - allocationsAfterWarmup,
    pool_hit_rate: round2(stats.hitRate),
    targets: { speedup: '>= 1.5', gc_pause_reduction: '>= 0.9', pool_steady_state_allocations: 0 },
  };
}

function zero(): Phase {
  return { frames: 0, ms: 0, gcPauseMs: 0, gcCount: 0 };
}
function add(total: Phase, phase: Phase): void {
  total.frames += phase.frames;
  total.ms += phase.ms;
  total.gcPauseMs += phase.gcPauseMs;
  total.gcCount += phase.gcCount;
}
