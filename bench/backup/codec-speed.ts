/**
 * How fast a chunk becomes stored bytes, in MB/s of plaintext (10^6 bytes), on 1 MiB chunks:
 * SHA-256 naming, encodeBlob raw + AES-256-GCM (random data, the probe decides not to
 * deflate), deflate + AES-256-GCM (JSON), and decoding both. Then the whole first-backup CPU
 * path (chunk, name, encode) done synchronously on the main thread, against the same path
 * with naming and sealing sent to the libuv thread pool through WebCrypto, to see whether
 * the second core pays for the hand-off.
 *
 *   node --import tsx bench/backup/codec-speed.ts   # BENCH_MIB=128 by default
 */
import { createCipheriv, randomBytes, webcrypto } from 'node:crypto';
import { type CodecOptions, decodeBlob, encodeBlob } from '../../src/backup/blob-codec.js';
import { Chunker, DEFAULT_CHUNKER_PARAMS } from '../../src/backup/chunker.js';
import { chunkId } from '../../src/backup/crypto.js';

const MiB = 1024 * 1024;
const mib = Number(process.env.BENCH_MIB ?? 128);
const ROUNDS = 5;

const random = createCipheriv('aes-256-ctr', randomBytes(32), Buffer.alloc(16)).update(
  Buffer.alloc(mib * MiB),
);
const records: string[] = [];
for (let i = 0, size = 0; size < mib * MiB; i++) {
  const record = JSON.stringify({
    camera: `cam-${i % 37}`,
    plate: `KA-${String(i % 100).padStart(2, '0')}-AB-${1000 + ((i * 7919) % 9000)}`,
    confidence: ((i * 7919) % 1000) / 1000,
    at: new Date(Date.UTC(2026, 10, 1) + i * 1500).toISOString(),
  });
  records.push(record);
  size += record.length + 1;
}
const json = Buffer.from(records.join('\n')).subarray(0, mib * MiB);

const slices = (data: Buffer) =>
  Array.from({ length: data.length / MiB }, (_, i) => data.subarray(i * MiB, (i + 1) * MiB));

/** Median MB/s of `fn` over ROUNDS, `bytes` of plaintext per call. */
async function rate(bytes: number, fn: () => unknown): Promise<number> {
  await fn();
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    await fn();
    rates.push(bytes / 1e6 / ((performance.now() - start) / 1000));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(ROUNDS / 2)] as number;
}

const key = randomBytes(32);
const encrypted: CodecOptions = { compression: 'auto', key };
const randomChunks = slices(random);
const jsonChunks = slices(json);
const storedRandom = randomChunks.map((c) => encodeBlob(c, encrypted));
const storedJson = jsonChunks.map((c) => encodeBlob(c, encrypted));
const ratio = storedJson.reduce((n, s) => n + s.length, 0) / json.length;

const plaintextOnly: CodecOptions = { compression: 'off', key };
const each =
  <T>(items: readonly T[], fn: (item: T) => unknown) =>
  () => {
    for (const item of items) fn(item);
  };

const results: Record<string, number> = {
  'sha-256 (chunkId)': await rate(random.length, each(randomChunks, chunkId)),
  'encode raw + aes-gcm (random, auto: probe says raw)': await rate(
    random.length,
    each(randomChunks, (c) => encodeBlob(c, encrypted)),
  ),
  'encode raw + aes-gcm (random, compression off)': await rate(
    random.length,
    each(randomChunks, (c) => encodeBlob(c, plaintextOnly)),
  ),
  'encode deflate-1 + aes-gcm (json)': await rate(
    json.length,
    each(jsonChunks, (c) => encodeBlob(c, encrypted)),
  ),
  'decode raw + aes-gcm (random)': await rate(
    random.length,
    each(storedRandom, (s) => decodeBlob(s, encrypted, 'bench')),
  ),
  'decode deflate + aes-gcm (json)': await rate(
    json.length,
    each(storedJson, (s) => decodeBlob(s, encrypted, 'bench')),
  ),
};

const READ = 64 * 1024;

/** Chunk, name and encode `random` on the main thread, as a 64 KiB-read file stream would. */
function pipelineSync(options: CodecOptions): void {
  const chunker = new Chunker(DEFAULT_CHUNKER_PARAMS);
  const handle = (chunk: Uint8Array) => {
    chunkId(chunk);
    encodeBlob(chunk, options);
  };
  for (let offset = 0; offset < random.length; offset += READ)
    for (const chunk of chunker.push(random.subarray(offset, offset + READ))) handle(chunk);
  for (const chunk of chunker.finish()) handle(chunk);
}

const gcmKey = await webcrypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt']);

/** The same, with SHA-256 and AES-GCM on the thread pool while the main thread chunks on. */
async function pipelineAsync(): Promise<void> {
  const chunker = new Chunker(DEFAULT_CHUNKER_PARAMS);
  const inFlight: Promise<unknown>[] = [];
  const handle = (chunk: Uint8Array) => {
    const iv = randomBytes(12);
    inFlight.push(
      Promise.all([
        webcrypto.subtle.digest('SHA-256', chunk),
        webcrypto.subtle.encrypt({ name: 'AES-GCM', iv }, gcmKey, chunk),
      ]),
    );
  };
  for (let offset = 0; offset < random.length; offset += READ) {
    for (const chunk of chunker.push(random.subarray(offset, offset + READ))) handle(chunk);
    if (inFlight.length >= 4) await inFlight.shift();
  }
  for (const chunk of chunker.finish()) handle(chunk);
  await Promise.all(inFlight);
}

results['pipeline sync: chunk + sha-256 + encode (random)'] = await rate(random.length, () =>
  pipelineSync(encrypted),
);
results['pipeline sync, compression off: chunk + sha-256 + encode (random)'] = await rate(
  random.length,
  () => pipelineSync(plaintextOnly),
);
results['pipeline async: chunk, sha-256 + aes-gcm on thread pool (random)'] = await rate(
  random.length,
  pipelineAsync,
);

for (const [label, value] of Object.entries(results))
  console.log(`${label.padEnd(70)} ${value.toFixed(0).padStart(6)} MB/s`);
console.log(`json stored at ${(ratio * 100).toFixed(1)} % of its size`);
