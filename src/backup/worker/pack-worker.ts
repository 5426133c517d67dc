/**
 * The worker thread that encodes chunks and assembles packs, so a backup uses a second core:
 * the main thread reads, chunks, hashes and deduplicates; this thread compresses, encrypts,
 * fills packs and hashes them. Chunks arrive in batches copied into buffers that go back and
 * forth between the threads; packs are built in buffers that come back once stored. Nothing
 * is copied on the way, and after the first few packs nothing is allocated either.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { CodecOptions } from '../blob-codec.js';
import { PackBuilder } from '../pack.js';
import type { FromPackWorker, ToPackWorker } from './pack-worker-protocol.js';

const { codec, packSize } = (workerData as { init: { codec: CodecOptions; packSize: number } })
  .init;
const port = parentPort;
if (!port) throw new Error('pack-worker must run in a worker thread');

/** A new pack buffer's size: room for a pack plus the chunk that crosses `packSize`. */
const capacity = Math.ceil(packSize * 1.5);
/** Buffers of stored packs, ready for the next ones. */
const spare: ArrayBuffer[] = [];
let builder: PackBuilder | undefined;

function finish() {
  if (!builder || builder.count === 0) return;
  const pack = builder.finish(codec);
  builder = undefined;
  const message: FromPackWorker = {
    type: 'pack',
    id: pack.id,
    bytes: pack.bytes,
    blobs: pack.blobs,
  };
  port?.postMessage(message, [pack.bytes.buffer as ArrayBuffer]);
}

function onMessage(message: ToPackWorker) {
  if (message.type === 'batch') {
    for (const item of message.items) {
      builder ??= new PackBuilder(new Uint8Array(spare.pop() ?? new ArrayBuffer(capacity)));
      builder.addPlain(item.id, new Uint8Array(message.buffer, item.offset, item.length), codec);
      if (builder.size >= packSize) finish();
    }
    const back: FromPackWorker = { type: 'batch-done', buffer: message.buffer };
    port?.postMessage(back, [message.buffer]);
  } else if (message.type === 'recycle') {
    spare.push(message.buffer);
  } else {
    finish();
    port?.postMessage({ type: 'flushed' } satisfies FromPackWorker);
  }
}

port.on('message', (message: ToPackWorker) => {
  try {
    onMessage(message);
  } catch (error) {
    port.postMessage({ type: 'error', message: (error as Error).message } satisfies FromPackWorker);
  }
});
