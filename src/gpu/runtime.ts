import type { Logger } from '../core/logger.js';
import type { Tensor, TensorSpec } from './tensor.js';

/**
 * The contract every inference backend implements: ONNX Runtime, TensorFlow.js, a remote
 * KServe v2 / Triton server. A runtime runs whole batches; GPUOptimizer does the batching,
 * queueing and routing around it. One runtime instance serves one worker thread and is never
 * asked to run two batches at once.
 */
export interface InferenceRuntime {
  /** The model's inputs, per item (no batch dimension). */
  readonly inputs: readonly TensorSpec[];
  /** The model's outputs, per item (no batch dimension). */
  readonly outputs: readonly TensorSpec[];
  /**
   * The execution provider actually in use after fallback: `'cpu'`, `'cuda'`, `'tensorrt'`,
   * `'tfjs-node-gpu'`, `'tfjs-node'`, `'tfjs-cpu'`, `'kserve'`.
   */
  readonly provider: string;
  /**
   * Runs one batch. Every input tensor has the batch dimension first, and every output must
   * too, with the same batch size. Failures are `SalamaError`s: `E_BACKEND_FAILED` when the
   * backend rejects the batch, `E_BACKEND_UNAVAILABLE` when it cannot be reached, `E_TIMEOUT`.
   */
  run(inputs: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>>;
  /** Frees the session, model or connection. Called once; the runtime is not used afterwards. */
  dispose(): Promise<void>;
}

/** What a runtime factory receives besides its own options. */
export interface RuntimeContext {
  /** Index of the worker instance the runtime serves, from 0. */
  readonly instance: number;
  /** The label of the RuntimeSource, for the runtime's logs and errors. */
  readonly label: string;
  /** The host's logger bound to this runtime (silent unless the host gave one). */
  readonly logger: Logger;
}

/** Creates a runtime inside a worker thread from serialisable options. */
export type RuntimeFactory<O> = (
  options: O,
  context: RuntimeContext,
) => InferenceRuntime | Promise<InferenceRuntime>;

/**
 * Where a worker thread finds its runtime: a module whose default export is a
 * {@link RuntimeFactory}, and the options passed to it. `options` crosses to the worker by
 * structured clone, so it holds data only (paths, numbers, strings), never functions.
 */
export interface RuntimeSource<O = unknown> {
  /** A `file:` URL or an importable specifier of the factory module. */
  readonly module: string;
  readonly options: O;
  /** Names the model in logs, stats and events (`'ocr-rec@4'`). */
  readonly label: string;
}
