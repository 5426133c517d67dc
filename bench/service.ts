/**
 * HTTP load test of the example LPR service with autocannon on loopback, bounded in time:
 *   1. capacity: closed loop, `CONNECTIONS` connections, `SECONDS` s, every request a new image
 *      (the cache is off, so each is detected and read);
 *   2. sustained: a fixed request rate, starting at 70 % of that capacity, for `SECONDS` s,
 *      checked against the seeds' SLO, p95 < 200 ms; if it misses, the rate steps down by 15 %
 *      (at most 4 times). Two connections: autocannon paces each connection on its own and
 *      they fire together, so every extra connection adds a burst a real camera fleet would
 *      not send (at 10 req/s, p95 was 110 ms on one connection, 177 on two, 322 on four);
 *   3. cached: the same images again with the cache on, closed loop;
 *   4. unloaded: one request at a time through salama's own `runBenchmark` (salama/ops), cold
 *      and cached, for the latency of a single read.
 * Latency percentiles are computed from every response's time (autocannon's histogram has no
 * p95). Accuracy is exact-match of the first plate against the rendered registration.
 * Env: BENCH_SECONDS (default 15), BENCH_CONNECTIONS (4), BENCH_IMAGES (300).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { runBenchmark } from 'salama/ops';
import { renderScene, type Scene } from '../examples/lpr-service/scenes.js';
import { startLprService } from '../examples/lpr-service/service.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 4);
const IMAGES = Number(process.env.BENCH_IMAGES ?? 300);
const SUSTAINED_CONNECTIONS = Number(process.env.BENCH_SUSTAINED_CONNECTIONS ?? 2);
const SLO_P95_MS = 200;

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
const pct = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;

interface Phase {
  requests_per_s: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  errors: number;
  non_2xx: number;
  accuracy: number;
  requests: number;
}

async function run(
  url: string,
  scenes: Scene[],
  options: { rate?: number; connections?: number },
): Promise<Phase> {
  const times: number[] = [];
  let next = 0;
  let exact = 0;
  let read = 0;
  const loadOptions: autocannon.Options = {
    url: `${url}/v1/recognize`,
    connections: options.connections ?? CONNECTIONS,
    duration: SECONDS,
    ...(options.rate ? { overallRate: options.rate } : {}),
    requests: [
      {
        method: 'POST',
        setupRequest: (request: autocannon.Request, context: object) => {
          const scene = scenes[next++ % scenes.length] as Scene;
          (context as { label?: string }).label = scene.label;
          return { ...request, body: scene.bytes, headers: { 'content-type': scene.type } };
        },
        onResponse: (status: number, body: string, context: object) => {
          if (status !== 200) return;
          read++;
          const plates = (JSON.parse(body) as { plates: { text: string }[] }).plates;
          const key = (s: string) => s.replace(/\s+/g, '');
          if (key(plates[0]?.text ?? '') === key(String((context as { label?: string }).label)))
            exact++;
        },
      },
    ],
  };
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(loadOptions, (error, done) =>
      error ? reject(error) : resolve(done),
    );
    instance.on('response', (_client, _status, _bytes, ms) => {
      times.push(ms);
    });
  });
  times.sort((a, b) => a - b);
  return {
    requests_per_s: round(result.requests.total / SECONDS),
    p50_ms: round(pct(times, 0.5)),
    p95_ms: round(pct(times, 0.95)),
    p99_ms: round(pct(times, 0.99)),
    errors: result.errors + result.timeouts,
    non_2xx: result.non2xx,
    accuracy: read === 0 ? 0 : round(exact / read, 4),
    requests: result.requests.total,
  };
}

export default async function service() {
  const scenes = Array.from({ length: IMAGES }, (_, i) =>
    renderScene(10_000 + i, i % 4 === 3 ? 'image/png' : 'image/jpeg'),
  );
  const dir = await mkdtemp(join(tmpdir(), 'salama-bench-service-'));
  try {
    const cold = await startLprService({ dataDir: join(dir, 'cold'), cache: false });
    const capacity = await run(cold.url, scenes, {});
    const steps: (Phase & { target_rate: number })[] = [];
    let rate = Math.max(1, Math.floor(capacity.requests_per_s * 0.7));
    for (let attempt = 0; attempt < 5; attempt++) {
      const phase = await run(cold.url, scenes, { rate, connections: SUSTAINED_CONNECTIONS });
      steps.push({ target_rate: rate, ...phase });
      if (phase.p95_ms < SLO_P95_MS && phase.errors === 0) break;
      rate = Math.max(1, Math.floor(rate * 0.85));
    }
    const post = (scene: Scene) =>
      fetch(`${cold.url}/v1/recognize`, { method: 'POST', body: scene.bytes }).then((r) => {
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        return r.arrayBuffer();
      });
    let single = 0;
    const [unloadedCold] = await runBenchmark({
      cases: [
        {
          name: 'one request, cache off',
          fn: () => post(scenes[single++ % scenes.length] as Scene),
        },
      ],
      iterations: 60,
      concurrency: 1,
      warmup: 3,
    });
    await cold.close();
    const sustained = steps.at(-1) as Phase & { target_rate: number };

    const warm = await startLprService({ dataDir: join(dir, 'warm') });
    await run(warm.url, scenes, {}); // fills the cache
    const cached = await run(warm.url, scenes, {});
    const hitRate = warm.cache.stats().hitRate;
    const [unloadedCached] = await runBenchmark({
      cases: [
        {
          name: 'one request, cached',
          fn: () =>
            fetch(`${warm.url}/v1/recognize`, {
              method: 'POST',
              body: (scenes[0] as Scene).bytes,
            }).then((r) => r.arrayBuffer()),
        },
      ],
      iterations: 200,
      concurrency: 1,
      warmup: 10,
    });
    await warm.close();

    return {
      workload: `${IMAGES} rendered 640×400 scenes (JPEG and PNG) with one plate each, POST /v1/recognize over loopback by autocannon, ${SECONDS} s per phase (capacity and cached: ${CONNECTIONS} connections, closed loop; sustained: ${SUSTAINED_CONNECTIONS} connections at a fixed rate); PP-OCRv4 detection + recognition, one GPUOptimizer instance per model, CPU`,
      requests_per_s: sustained.requests_per_s,
      p95_ms: sustained.p95_ms,
      errors: sustained.errors + sustained.non_2xx,
      accuracy: sustained.accuracy,
      slo: {
        p95_ms_below: SLO_P95_MS,
        met: sustained.p95_ms < SLO_P95_MS && sustained.errors === 0,
      },
      capacity_closed_loop: capacity,
      sustained_steps: steps,
      cached_closed_loop: { ...cached, cache_hit_rate: round(hitRate, 3) },
      unloaded_run_benchmark: [unloadedCold, unloadedCached].map((r) => ({
        name: r?.name,
        avg_ms: round(r?.avgMs ?? 0),
        p50_ms: round(r?.p50Ms ?? 0),
        p95_ms: round(r?.p95Ms ?? 0),
        p99_ms: round(r?.p99Ms ?? 0),
        errors: r?.errors,
      })),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
