/**
 * Turns new chunks into stored packs off the main thread. The main thread posts each chunk
 * (copied into a buffer it transfers) to a worker that encodes it and fills packs; finished
 * packs come back and are stored one at a time while the worker goes on. At most
 * `maxInFlightBytes` of chunks wait in the worker, so memory stays bounded when the store is
 * slower than the reader.
 */
import { Worker } from 'node:worker_threads';
import { BackendFailedError } from '../core/errors.js';
import { workerEntry } from '../core/module-location.js';
import type { CodecOptions } from './blob-codec.js';
import type { FinishedPack } from './pack.js';
import type { FromPackWorker, ToPackWorker } from './worker/pack-worker-protocol.js';

export class PackWriter {
  readonly #worker: Worker;
  readonly #store: (pack: FinishedPack) => Promise<void>;
  readonly #maxInFlight: number;
  #inFlight = 0;
  #waiters: (() => void)[] = [];
  #upload: Promise<void> = Promise.resolve();
  #failure: Error | undefined;
  #flushed: (() => void) | undefined;
  #closing = false;

  constructor(
    codec: CodecOptions,
    packSize: number,
    store: (pack: FinishedPack) => Promise<void>,
    maxInFlightBytes = 64 * 1024 * 1024,
  ) {
    this.#store = store;
    this.#maxInFlight = maxInFlightBytes;
    const entry = workerEntry(import.meta.url, './worker/pack-worker.ts', [
      './backup/pack-worker.js',
      './pack-worker.js',
    ]);
    this.#worker = new Worker(entry.url, {
      workerData: { ...entry.workerData, init: { codec, packSize } },
      name: 'salama-backup-packs',
    });
    this.#worker.on('message', (message: FromPackWorker) => this.#onMessage(message));
    this.#worker.on('error', (error) => this.#fail(error));
    this.#worker.on('exit', (code) => {
      if (!this.#closing) this.#fail(new Error(`pack worker exited with code ${code}`));
    });
  }

  /** Queues a new chunk; waits while too many bytes are queued. */
  async add(id: string, plain: Uint8Array): Promise<void> {
    this.#check();
    while (this.#inFlight >= this.#maxInFlight) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
      this.#check();
    }
    const data = new ArrayBuffer(plain.byteLength);
    new Uint8Array(data).set(plain);
    this.#inFlight += plain.byteLength;
    const message: ToPackWorker = { type: 'chunk', id, data };
    this.#worker.postMessage(message, [data]);
  }

  /** Finishes the last pack and waits until every pack is stored. */
  async flush(): Promise<void> {
    this.#check();
    await new Promise<void>((resolve, reject) => {
      this.#flushed = resolve;
      this.#waiters.push(() => {
        if (this.#failure) reject(this.#failure);
      });
      this.#worker.postMessage({ type: 'flush' } satisfies ToPackWorker);
    });
    this.#flushed = undefined;
    await this.#upload;
    this.#check();
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.#worker.terminate();
  }

  #onMessage(message: FromPackWorker) {
    if (message.type === 'done') {
      this.#inFlight -= message.bytes;
      this.#wake();
    } else if (message.type === 'pack') {
      const pack: FinishedPack = { id: message.id, bytes: message.bytes, blobs: message.blobs };
      this.#upload = this.#upload
        .then(() => this.#store(pack))
        .catch((error: unknown) => this.#fail(error as Error));
    } else if (message.type === 'flushed') {
      const done = this.#flushed;
      this.#flushed = undefined;
      done?.();
    } else {
      this.#fail(new Error(message.message));
    }
  }

  #fail(error: Error) {
    this.#failure ??= new BackendFailedError(`Storing packs failed: ${error.message}`, {
      cause: error,
    });
    this.#wake();
  }

  #wake() {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  #check() {
    if (this.#failure) throw this.#failure;
  }
}
