/**
 * `npm run demo`: a camera frame loop on MemoryPool. Frames and OCR crops come from a
 * PoolGroup (one pool per stage, each with its own budget), every element is written as a
 * real preprocessor would, and the pool's stats are printed as the loop runs. At the end it
 * shows what happens on misuse: a leaked lease, an oversize request, a double release.
 */
import { SalamaError } from 'salama';
import { type Lease, PoolGroup } from 'salama/memory';

const MiB = 1024 * 1024;
const SECONDS = Number(process.env.DEMO_SECONDS ?? 3);
const CAMERAS = 4;

const group = new PoolGroup({
  maxBytes: 96 * MiB,
  pools: {
    frames: { maxBytes: 64 * MiB, shared: true }, // shared: ready to post to an inference worker
    crops: { maxBytes: 16 * MiB, zero: true },
  },
});
const frames = group.pool('frames');
const crops = group.pool('crops');
frames.on('leak', (e) =>
  console.log(
    `  leak event: a ${e.dtype}[${e.dims.join('×')}] lease (${e.bytes} B) was never released`,
  ),
);

function preprocess(lease: Lease<Float32Array>, seed: number): void {
  const a = lease.array;
  for (let i = 0; i < a.length; i++) a[i] = ((i + seed) & 255) / 255;
}

function bar(fraction: number): string {
  const width = 30;
  const done = Math.round(fraction * width);
  return `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${(fraction * 100).toFixed(0).padStart(3)}%`;
}

console.log(
  `salama MemoryPool demo: ${CAMERAS} cameras, 640×640 frames, up to 8 plate crops each\n`,
);
const start = performance.now();
let processed = 0;
let lastPrint = 0;
while (performance.now() - start < SECONDS * 1000) {
  for (let camera = 0; camera < CAMERAS; camera++) {
    using frame = frames.acquireShape('float32', [1, 3, 640, 640]);
    preprocess(frame, processed);
    const plates = 1 + ((processed + camera) % 8); // a varying number of plates per frame
    const batch: Lease<Float32Array>[] = [];
    for (let p = 0; p < plates; p++) {
      const width = 160 * (1 + (p % 4)); // width buckets 160/320/480/640 share size classes
      const crop = crops.acquireShape('float32', [1, 3, 48, width]);
      preprocess(crop, p);
      batch.push(crop);
    }
    for (const crop of batch) crop.release();
    processed++;
  }
  const elapsed = performance.now() - start;
  // Redraw in place on a terminal; when piped, a line per second keeps logs readable.
  const tty = process.stdout.isTTY === true;
  if (elapsed - lastPrint > (tty ? 250 : 1000)) {
    lastPrint = elapsed;
    const line = `  ${bar(Math.min(1, elapsed / (SECONDS * 1000)))}  ${processed} frames`;
    process.stdout.write(tty ? `\r${line}` : `${line}\n`);
  }
}
const seconds = (performance.now() - start) / 1000;
process.stdout.write(
  `${process.stdout.isTTY ? '\r' : ''}  ${bar(1)}  ${processed} frames in ${seconds.toFixed(1)} s\n\n`,
);

const stats = group.stats();
console.table(
  Object.fromEntries(
    Object.entries(stats.pools).map(([name, s]) => [
      name,
      {
        'hit rate': `${(s.hitRate * 100).toFixed(2)} %`,
        acquires: s.hits + s.misses,
        'buffers made': s.allocations,
        'leased MiB': (s.bytesLeased / MiB).toFixed(2),
        'pooled MiB': (s.bytesPooled / MiB).toFixed(2),
        'peak MiB': (s.peakBytes / MiB).toFixed(2),
      },
    ]),
  ),
);
console.log(
  `${(processed / seconds).toFixed(0)} frames/s; after warm-up every acquire reused a buffer.\n`,
);

console.log('What misuse gets:');
for (const attempt of [
  () => frames.acquire('float32', 100 * MiB),
  () => crops.acquire('int64' as 'float32', 16),
  () => {
    const lease = crops.acquire('float32', 16);
    lease.release();
    lease.release();
  },
]) {
  try {
    attempt();
  } catch (error) {
    if (!(error instanceof SalamaError)) throw error;
    console.log(`  ${error.code}: ${error.message}`);
  }
}

// A lease dropped without release() is reported when the garbage collector finds it.
(() => frames.acquire('float32', 1024))();
const gc = (globalThis as { gc?: () => void }).gc;
for (let i = 0; i < 20 && frames.stats().leaks === 0 && gc; i++) {
  gc();
  await new Promise((resolve) => setImmediate(resolve));
}
await group.close();
