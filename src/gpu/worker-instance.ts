import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import {
  BackendFailedError,
  ClosedError,
  type ErrorCode,
  errors,
  type SalamaError,
} from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { workerEntry } from '../core/module-location.js';
import type { PreprocessResult, PreprocessSpec } from './preprocess/index.js';
import type { RuntimeSource } from './runtime.js';
import type { TensorSpec } from './tensor.js';
import type {
  FromWorker,
  ToWorker,
  WarmupBatch,
  WireError,
  WireImages,
  WireTensor,
} from './worker/protocol.js';

/** What a loaded runtime reports about itself. */
export interface RuntimeInfo {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly provider: string;
}

/** A batch's outputs as they come back from the worker, with the worker's run time. */
export interface BatchResult {
  readonly outputs: Record<string, WireTensor>;
  readonly ms: number;
  readonly placements: readonly PreprocessResult[] | undefined;
}

interface Pending {
  resolve(value: FromWorker): void;
  reject(error: Error): void;
}

/** Rebuilds a worker's error as the SalamaError class of its code. */
export function fromWireError(error: WireError, label: string): SalamaError {
  const ErrorClass = errors[error.code as ErrorCode] ?? BackendFailedError;
  const rebuilt = new ErrorClass(error.message, { context: { ...error.context, runtime: label } });
  if (error.stack) rebuilt.stack = error.stack;
  return rebuilt;
}

/**
 * One worker thread with one runtime session: the seeds' "CUDA stream". Runs one batch at a
 * time. Emits `exit` with the error when the thread dies unexpectedly; every call then pending
 * rejects with `E_BACKEND_FAILED`.
 */
export class WorkerInstance extends EventEmitter<{ exit: [Error] }> {
  readonly index: number;
  readonly source: RuntimeSource;
  readonly #worker: Worker;
  readonly #logger: Logger;
  /** Calls awaiting a reply, by run id; 0 is the one control call (init, warm-up, dispose). */
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #stopping = false;
  #dead: Error | undefined;
  /** Set once the runtime has loaded. */
  info: RuntimeInfo | undefined;

  readonly #preprocess: { readonly input: string; readonly spec: PreprocessSpec } | undefined;

  constructor(
    source: RuntimeSource,
    index: number,
    logger: Logger,
    preprocess?: { readonly input: string; readonly spec: PreprocessSpec },
  ) {
    super();
    this.source = source;
    this.#preprocess = preprocess;
    this.index = index;
    this.#logger = logger;
    const entry = workerEntry(import.meta.url, './worker/inference-worker.ts', [
      './gpu/inference-worker.js',
      './inference-worker.js',
    ]);
    this.#worker = new Worker(entry.url, {
      workerData: entry.workerData,
      name: `salama-gpu-${index}`,
    });
    this.#worker.on('message', (message: FromWorker) => this.#onMessage(message));
    this.#worker.on('error', (error) => this.#onDeath(error));
    this.#worker.on('exit', (code) => {
      if (!this.#stopping) this.#onDeath(new Error(`worker thread exited with code ${code}`));
    });
  }

  /** Loads the runtime and runs the warm-up batches; resolves with what the runtime reports. */
  async load(warmup: (info: RuntimeInfo) => readonly WarmupBatch[]): Promise<RuntimeInfo> {
    const loaded = await this.#call({
      type: 'init',
      source: this.source,
      instance: this.index,
      ...(this.#preprocess ? { preprocess: this.#preprocess } : {}),
    });
    if (loaded.type !== 'loaded') throw new Error(`unexpected ${loaded.type}`);
    this.info = { inputs: loaded.inputs, outputs: loaded.outputs, provider: loaded.provider };
    const batches = warmup(this.info);
    if (batches.length > 0) await this.#call({ type: 'warmup', batches });
    return this.info;
  }

  /**
   * Runs one batch. Rejects with the runtime's error, or `E_BACKEND_FAILED` if the thread dies.
   * Several runs may be outstanding: the worker runs them one after another, in order.
   */
  async run(inputs: Record<string, WireTensor | WireImages>): Promise<BatchResult> {
    const id = this.#nextId++;
    const reply = await this.#call({ type: 'run', id, inputs }, id);
    if (reply.type !== 'result') throw new Error(`unexpected ${reply.type}`);
    return { outputs: reply.outputs, ms: reply.ms, placements: reply.placements };
  }

  /** Disposes the runtime (best effort, bounded) and ends the thread. */
  async stop(timeoutMs = 5000): Promise<void> {
    if (this.#stopping) return;
    if (this.#dead === undefined && this.info !== undefined && this.#pending.size === 0) {
      const disposed = this.#call({ type: 'dispose' }).catch(() => undefined);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        disposed,
        new Promise((r) => {
          timer = setTimeout(r, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    this.#stopping = true;
    await this.#worker.terminate();
    // Calls still waiting (a load cut short by close or swap) will never be answered.
    const stopped = new ClosedError(
      `Inference worker ${this.index} (${this.source.label}) was stopped`,
    );
    for (const pending of this.#pending.values()) pending.reject(stopped);
    this.#pending.clear();
  }

  #call(message: ToWorker, id = 0): Promise<FromWorker> {
    if (this.#dead) return Promise.reject(this.#dead);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage(message);
    });
  }

  #onMessage(message: FromWorker): void {
    if (message.type === 'log') {
      this.#logger[message.level]({ ...message.obj, instance: this.index }, message.msg);
      return;
    }
    const id = message.type === 'result' || message.type === 'failed' ? (message.id ?? 0) : 0;
    const pending = this.#pending.get(id);
    this.#pending.delete(id);
    if (!pending) return;
    if (message.type === 'failed') pending.reject(fromWireError(message.error, this.source.label));
    else pending.resolve(message);
  }

  #onDeath(cause: Error): void {
    if (this.#dead) return;
    this.#dead = new BackendFailedError(
      `Inference worker ${this.index} (${this.source.label}) died: ${cause.message}`,
      { cause, context: { instance: this.index, runtime: this.source.label } },
    );
    for (const pending of this.#pending.values()) pending.reject(this.#dead);
    this.#pending.clear();
    this.emit('exit', this.#dead);
  }
}
