/**
 * `npm run demo`: renders plate images, starts the LPR service in this process, sends every
 * image through HTTP with 16 at a time, and prints throughput, latency, accuracy and — on a
 * second pass — the cache hit rate; then a retention dry run and a backup with verify.
 * Nothing to download and nothing else to run: models come from npm, the access log is a
 * SQLite file in a temporary directory.
 *
 *   npm run demo                 # 200 images
 *   DEMO_IMAGES=500 npm run demo
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderScene, type Scene } from './scenes.js';
import { startLprService } from './service.js';

const IMAGES = Number(process.env.DEMO_IMAGES ?? 200);
const CONCURRENCY = 16;
const out = process.stdout;

function bar(label: string, done: number, total: number) {
  if (!out.isTTY && done !== total) return;
  const width = 30;
  const filled = Math.round((done / total) * width);
  out.write(
    `\r${label.padEnd(14)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`,
  );
  if (done === total) out.write('\n');
}

interface PassResult {
  seconds: number;
  latencies: number[];
  exact: number;
  cached: number;
  errors: number;
}

async function pass(url: string, scenes: Scene[], label: string): Promise<PassResult> {
  const latencies: number[] = [];
  let exact = 0;
  let cached = 0;
  let errors = 0;
  let next = 0;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < scenes.length; i = next++) {
        const scene = scenes[i] as Scene;
        const t = performance.now();
        const res = await fetch(`${url}/v1/recognize`, {
          method: 'POST',
          headers: { 'content-type': scene.type },
          body: scene.bytes,
        });
        latencies.push(performance.now() - t);
        if (!res.ok) errors++;
        else {
          const body = (await res.json()) as { plates: { text: string }[]; cached: boolean };
          const read = body.plates[0]?.text.replace(/\s+/g, '') ?? '';
          if (read === scene.label.replace(/\s+/g, '')) exact++;
          if (body.cached) cached++;
        }
        bar(label, ++done, scenes.length);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, latencies, exact, cached, errors };
}

const pct = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;

function row(name: string, r: PassResult, n: number) {
  const sorted = [...r.latencies].sort((a, b) => a - b);
  return {
    pass: name,
    'images/s': (n / r.seconds).toFixed(1),
    'p50 ms': pct(sorted, 0.5).toFixed(1),
    'p95 ms': pct(sorted, 0.95).toFixed(1),
    'exact match': `${((100 * r.exact) / n).toFixed(1)} %`,
    'cache hits': `${((100 * r.cached) / n).toFixed(1)} %`,
    errors: r.errors,
  };
}

const dataDir = await mkdtemp(join(tmpdir(), 'salama-lpr-demo-'));
try {
  out.write(`Rendering ${IMAGES} plate images...\n`);
  const scenes = Array.from({ length: IMAGES }, (_, i) =>
    renderScene(i + 1, i % 4 === 3 ? 'image/png' : 'image/jpeg'),
  );
  out.write('Starting the service (PP-OCRv4 detection + recognition, two GPUOptimizers)...\n');
  const service = await startLprService({ dataDir });
  out.write(`Listening on ${service.url}\n\n`);
  const first = await pass(service.url, scenes, 'first pass');
  const second = await pass(service.url, scenes, 'second pass');
  console.table([row('first (cold)', first, IMAGES), row('second (cached)', second, IMAGES)]);

  // Reads from two months ago, as a service running since then would have logged them.
  const now = Date.now();
  await service.db
    .insertInto('access_log')
    .values(
      Array.from({ length: 500 }, (_, i) => ({
        at: now - (45 + (i % 30)) * 86_400_000,
        image_sha256: `historic-${i}`,
        plates: '[]',
        cache_hit: 0,
        latency_ms: 0,
        status: 200,
      })),
    )
    .execute();
  out.write(
    '\nRetention dry run on the access log (rows older than 30 days; 500 logged 45-75 days ago):\n',
  );
  const retention = await service.operations.retentionDryRun();
  console.table(retention);

  out.write('\nEncrypted backup of the access log, then verify every byte:\n');
  const backup = await service.operations.backupNow();
  console.table([backup]);
  await service.close();
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
