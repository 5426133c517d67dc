/**
 * The worker thread that encodes chunks and assembles packs, so a backup uses a second core:
 * the main thread reads, chunks, hashes and deduplicates; this thread compresses, encrypts,
 * fills packs and hashes them. Chunks arrive transferred (no copy back), packs leave
 * transferred.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { CodecOptions } from '../blob-codec.js';
import { encodeBlob } from '../blob-codec.js';
import { PackBuilder } from '../pack.js';
import type { FromPackWorker, ToPackWorker } from './pack-worker-protocol.js';

const { codec, packSize } = (workerData as { init: { codec: CodecOptions; packSize: number } })
  .init;
const port = parentPort;
if (!port) throw new Error('pack-worker must run in a worker thread');

let builder = new PackBuilder();

function finish() {
  if (builder.count === 0) return;
  const pack = builder.finish(codec);
  builder = new PackBuilder();
  const bytes = new Uint8Array(pack.bytes.buffer, pack.bytes.byteOffset, pack.bytes.byteLength);
  const message: FromPackWorker = { type: 'pack', id: pack.id, bytes, blobs: pack.blobs };
  port?.postMessage(message, [bytes.buffer as ArrayBuffer]);
}

port.on('message', (message: ToPackWorker) => {
  try {
    if (message.type === 'chunk') {
      const plain = new Uint8Array(message.data);
      builder.add(message.id, encodeBlob(plain, codec), plain.byteLength);
      if (builder.size >= packSize) finish();
      port.postMessage({ type: 'done', bytes: plain.byteLength } satisfies FromPackWorker);
    } else {
      finish();
      port.postMessage({ type: 'flushed' } satisfies FromPackWorker);
    }
  } catch (error) {
    port.postMessage({ type: 'error', message: (error as Error).message } satisfies FromPackWorker);
  }
});
