/**
 * How fast the FastCDC chunker cuts incompressible data, in MB/s of input (10^6 bytes),
 * fed the way a file stream feeds it (64 KiB reads) and in one call.
 *
 *   node --import tsx bench/backup/chunker-speed.ts   # BENCH_MIB=256 by default
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { Chunker, DEFAULT_CHUNKER_PARAMS } from '../../src/backup/chunker.js';

const mib = Number(process.env.BENCH_MIB ?? 256);
const ROUNDS = 5;
const data = createCipheriv('aes-256-ctr', randomBytes(32), Buffer.alloc(16)).update(
  Buffer.alloc(mib * 1024 * 1024),
);

function run(readBytes: number): { ms: number; chunks: number } {
  const chunker = new Chunker(DEFAULT_CHUNKER_PARAMS);
  const start = performance.now();
  let chunks = 0;
  for (let offset = 0; offset < data.length; offset += readBytes)
    chunks += chunker.push(data.subarray(offset, offset + readBytes)).length;
  chunks += chunker.finish().length;
  return { ms: performance.now() - start, chunks };
}

run(64 * 1024); // warm-up: let V8 optimise the scan loop
for (const [label, readBytes] of [
  ['64 KiB pushes', 64 * 1024],
  ['one push', data.length],
] as const) {
  const rates: number[] = [];
  let chunks = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const result = run(readBytes);
    rates.push(data.length / 1e6 / (result.ms / 1000));
    chunks = result.chunks;
  }
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(ROUNDS / 2)] as number;
  console.log(
    `${label}: ${median.toFixed(0)} MB/s median of ${ROUNDS} (min ${(rates[0] as number).toFixed(0)}, max ${(rates[ROUNDS - 1] as number).toFixed(0)}), ${chunks} chunks, mean ${(data.length / chunks / 2 ** 20).toFixed(2)} MiB`,
  );
}
