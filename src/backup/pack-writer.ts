/**
 * Turns new chunks into stored packs off the main thread. The main thread copies each chunk
 * into a batch buffer (8 MiB) and hands full batches to a worker that encodes them and fills
 * packs; finished packs come back and are stored, two at a time, while the worker goes on.
 * Batch buffers and pack buffers travel back to where they came from to be reused, so a long
 * backup allocates a few dozen MiB once instead of fresh memory for every chunk and pack. At
 * most `maxInFlightBytes` of batches are out at once, so memory stays bounded when the store
 * is slower than the reader.
 */
import { Worker } from 'node:worker_threads';
import { BackendFailedError } from '../core/errors.js';
import { workerEntry } from '../core/module-location.js';
import type { CodecOptions } from './blob-codec.js';
import type { FinishedPack } from './pack.js';
import type { BatchItem, FromPackWorker, ToPackWorker } from './worker/pack-worker-protocol.js';

/** The size of a batch buffer; a larger chunk gets a buffer of its own. */
const BATCH_BYTES = 8 * 1024 * 1024;
/** Packs stored at once: one can be written while another waits on fsync or the network. */
const UPLOADS = 2;

export class PackWriter {
  readonly #worker: Worker;
  readonly #store: (pack: FinishedPack) => Promise<void>;
  /** How many batch buffers may exist at once (in use here, in the worker, or spare). */
  readonly #maxBatches: number;
  #batches = 0;
  readonly #spare: ArrayBuffer[] = [];
  #batch: Uint8Array | undefined;
  #items: BatchItem[] = [];
  #used = 0;
  #waiters: (() => void)[] = [];
  /** Packs waiting to be stored, and how many are being stored. */
  readonly #packs: FinishedPack[] = [];
  #storing = 0;
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
    this.#maxBatches = Math.max(2, Math.floor(maxInFlightBytes / BATCH_BYTES));
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

  /** Queues a new chunk (copying it); waits while every batch buffer is out. */
  async add(id: string, plain: Uint8Array): Promise<void> {
    this.#check();
    if (this.#batch && this.#used + plain.byteLength > this.#batch.byteLength) this.#send();
    this.#batch ??= await this.#takeBatch(plain.byteLength);
    this.#batch.set(plain, this.#used);
    this.#items.push({ id, offset: this.#used, length: plain.byteLength });
    this.#used += plain.byteLength;
  }

  async #takeBatch(bytes: number): Promise<Uint8Array> {
    for (;;) {
      this.#check();
      // Packs waiting for the store hold back new batches: memory stays bounded.
      if (this.#packs.length >= UPLOADS) {
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
        continue;
      }
      if (bytes <= BATCH_BYTES) {
        const spare = this.#spare.pop();
        if (spare) return new Uint8Array(spare);
      }
      if (this.#batches < this.#maxBatches) {
        this.#batches++;
        return new Uint8Array(Math.max(bytes, BATCH_BYTES));
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  #send() {
    const batch = this.#batch;
    if (!batch) return;
    const message: ToPackWorker = {
      type: 'batch',
      buffer: batch.buffer as ArrayBuffer,
      items: this.#items,
    };
    this.#worker.postMessage(message, [batch.buffer as ArrayBuffer]);
    this.#batch = undefined;
    this.#items = [];
    this.#used = 0;
  }

  /** Finishes the last pack and waits until every pack is stored. */
  async flush(): Promise<void> {
    this.#check();
    await new Promise<void>((resolve, reject) => {
      this.#flushed = resolve;
      this.#waiters.push(() => {
        if (this.#failure) reject(this.#failure);
      });
      this.#send();
      this.#worker.postMessage({ type: 'flush' } satisfies ToPackWorker);
    });
    this.#flushed = undefined;
    while (this.#storing > 0 || this.#packs.length > 0) {
      this.#check();
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    this.#check();
  }

  /** Stores waiting packs, {@link UPLOADS} at a time; a stored pack's buffer goes back. */
  #pump() {
    while (this.#storing < UPLOADS && !this.#failure && !this.#closing) {
      const pack = this.#packs.shift();
      if (!pack) return;
      this.#storing++;
      this.#store(pack)
        .then(() => {
          if (this.#closing) return;
          const buffer = pack.bytes.buffer as ArrayBuffer;
          this.#worker.postMessage({ type: 'recycle', buffer } satisfies ToPackWorker, [buffer]);
        })
        .catch((error: unknown) => this.#fail(error as Error))
        .finally(() => {
          this.#storing--;
          this.#pump();
          this.#wake();
        });
    }
  }

  /**
   * Stops the worker; packs not yet stored are dropped and no store call starts after this.
   * Calls already running are not waited for (a store that hangs would hang the caller): the
   * caller ignores what they report (see `Repository.close`).
   */
  async close(): Promise<void> {
    this.#closing = true;
    this.#packs.length = 0;
    await this.#worker.terminate();
  }

  #onMessage(message: FromPackWorker) {
    if (message.type === 'batch-done') {
      if (message.buffer.byteLength === BATCH_BYTES && this.#spare.length < this.#maxBatches)
        this.#spare.push(message.buffer);
      else this.#batches--;
      this.#wake();
    } else if (message.type === 'pack') {
      this.#packs.push({ id: message.id, bytes: message.bytes, blobs: message.blobs });
      this.#pump();
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
