/**
 * GPUOptimizer: many callers submit one item each; requests are checked, queued by batch key
 * and priority, formed into batches by Triton's dynamic-batching rules, assembled in shared
 * pooled buffers, and run on worker threads that each hold a runtime session. This file is one
 * thing, the request lifecycle: enqueue, deadline and abort, schedule, dispatch, settle, drain
 * on close. It runs over 300 lines because those steps share each request's state on the hot
 * path of every inference, and splitting them would put that state behind another object.
 * Everything else is elsewhere: the instances (load, restart, swap, resize) in
 * instance-fleet.ts, the batch rules and their tuning in batching-policy.ts, model checks,
 * warm-up, batch tensors and statistics in their own files.
 */
import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import type { Attributes } from '@opentelemetry/api';
import { type Clock, systemClock, type TimerHandle } from '../core/clock.js';
import {
  AbortedError,
  BackendFailedError,
  ClosedError,
  DeadlineExceededError,
  describeValue,
  InvalidArgumentError,
  InvalidOptionsError,
  QueueFullError,
  SalamaError,
} from '../core/errors.js';
import { Lifecycle } from '../core/lifecycle.js';
import { componentLogger, type Logger } from '../core/logger.js';
import { observeSnapshot, salamaMeter } from '../core/metrics.js';
import { type Lease, MemoryPool } from '../memory/index.js';
import { assembleBatch, outputCut, splitOutputs } from './batch-tensors.js';
import { BatchingPolicy } from './batching-policy.js';
import type { GPUOptimizerOptions } from './gpu-optimizer-options.js';
import type {
  CloseOptions,
  GPUOptimizerEvents,
  ImageInferResult,
  InferOptions,
  InferResult,
  Settled,
} from './gpu-optimizer-types.js';
import { GpuRecorder } from './gpu-recorder.js';
import { type GPUOptimizerStats, gpuObserved } from './gpu-stats.js';
import { batchKey, type CheckedInput, checkImage, checkInputs } from './input-check.js';
import { type Instance, InstanceFleet } from './instance-fleet.js';
import { checkInferOptions, imageInputName, parseGpuOptions } from './model-checks.js';
import type { ImageInput, PreprocessResult } from './preprocess/index.js';
import { type Queued, RequestQueue } from './request-queue.js';
import type { RuntimeSource } from './runtime.js';
import type { Tensor, TensorSpec } from './tensor.js';
import type { RuntimeInfo } from './worker-instance.js';

interface Request extends Queued {
  readonly inputs: Record<string, CheckedInput>;
  readonly deadlineAt: number;
  readonly resolve: (result: Settled) => void;
  readonly reject: (error: Error) => void;
  settled: boolean;
  timer: TimerHandle | undefined;
  cleanup: (() => void) | undefined;
}

/**
 * Dynamic-batching inference off the event loop.
 *
 * @example
 * ```ts
 * const ocr = new GPUOptimizer({ runtime: onnxRuntime({ model: 'rec.onnx' }), maxBatchSize: 8 });
 * await ocr.ready();
 * const { output } = await ocr.infer({ dtype: 'float32', dims: [3, 48, 320], data: crop });
 * ```
 */
export class GPUOptimizer extends EventEmitter<GPUOptimizerEvents> {
  readonly #options: ReturnType<typeof parseGpuOptions>;
  readonly #batching: BatchingPolicy;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #pool: MemoryPool;
  readonly #ownsPool: boolean;
  readonly #lifecycle: Lifecycle;
  readonly #queue = new RequestQueue<Request>();
  readonly #recorder: GpuRecorder;
  readonly #stopMetrics: () => void;
  readonly #attributes: Attributes;
  readonly #ready: Promise<RuntimeInfo>;
  readonly #fleet: InstanceFleet;
  #inFlight = 0;
  #timer: TimerHandle | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #drain = true;
  #idleWaiters: (() => void)[] = [];

  constructor(options: GPUOptimizerOptions) {
    super();
    const o = parseGpuOptions(options);
    this.#options = o;
    this.#batching = new BatchingPolicy(o);
    this.#clock = o.clock ?? systemClock;
    this.#logger = componentLogger(o.logger, 'GPUOptimizer');
    this.#ownsPool = o.pool === undefined;
    this.#pool = o.pool ?? new MemoryPool({ name: 'gpu', shared: true, clock: this.#clock });
    this.#lifecycle = new Lifecycle('GPUOptimizer', () => this.#shutdown());
    this.#attributes = { runtime: o.runtime.label };
    const meter = salamaMeter(o.meterProvider);
    this.#recorder = new GpuRecorder(meter, this.#attributes);
    this.#stopMetrics = observeSnapshot(meter, gpuObserved, () => this.stats(), this.#attributes);
    const count =
      o.instances === 'auto'
        ? Math.max(1, Math.min(4, Math.floor(availableParallelism() / 2)))
        : o.instances;
    this.#fleet = new InstanceFleet(o.runtime, {
      options: o,
      clock: this.#clock,
      logger: this.#logger,
      recorder: this.#recorder,
      events: this,
      closed: () => this.#lifecycle.closed,
      changed: () => this.#schedule(),
      cannotRestart: (error) => this.#failQueued(error),
    });
    this.#ready = this.#start(count);
    // ready() may never be awaited; a load failure surfaces through it and through infer().
    this.#ready.catch(() => {});
  }

  /** Resolves once every instance has loaded its runtime and warmed up. */
  async ready(): Promise<void> {
    await this.#ready;
  }

  /** What the current runtime expects per item, once loaded. */
  get inputs(): readonly TensorSpec[] | undefined {
    return this.#fleet.info?.inputs;
  }

  /** What the current runtime returns per item, once loaded. */
  get outputs(): readonly TensorSpec[] | undefined {
    return this.#fleet.info?.outputs;
  }

  /**
   * Runs one item: a tensor (single-input models) or a record of tensors by input name.
   * Resolves with that item's outputs. The input is read when its batch is dispatched, not when
   * `infer` is called: do not reuse its buffer until the promise settles.
   */
  async infer(
    input: Tensor | Record<string, Tensor>,
    options: InferOptions = {},
  ): Promise<InferResult> {
    this.#lifecycle.assertOpen('infer');
    const info = this.#fleet.info ?? (await this.#ready);
    if (this.#lifecycle.closed) this.#lifecycle.assertOpen('infer');
    let inputs: Record<string, CheckedInput>;
    try {
      inputs = checkInputs(this.#fleet.source.label, info.inputs, input, this.#options.padding);
    } catch (error) {
      this.#count('invalid');
      throw error;
    }
    return (await this.#enqueue(inputs, options)).outputs;
  }

  /**
   * Runs one image (HWC 8-bit RGB/RGBA/BGR/BGRA) through the `preprocess` spec — resized,
   * normalised and laid out NCHW inside the worker — and then the model. Needs the `preprocess`
   * option. Resolves with the outputs and where the image landed in the model input.
   */
  async inferImage(image: ImageInput, options: InferOptions = {}): Promise<ImageInferResult> {
    this.#lifecycle.assertOpen('inferImage');
    const preprocess = this.#options.preprocess;
    if (!preprocess) {
      throw new InvalidOptionsError(
        'GPUOptimizer.inferImage() needs the preprocess option (width, height, resize, mean, std); pass tensors to infer() otherwise',
        { context: { component: 'GPUOptimizer', path: 'preprocess' } },
      );
    }
    const info = this.#fleet.info ?? (await this.#ready);
    if (this.#lifecycle.closed) this.#lifecycle.assertOpen('inferImage');
    let inputs: Record<string, CheckedInput>;
    try {
      inputs = checkImage(imageInputName(info, this.#options), image, [
        3,
        preprocess.height,
        preprocess.width,
      ]);
    } catch (error) {
      this.#count('invalid');
      throw error;
    }
    const settled = await this.#enqueue(inputs, options);
    return { outputs: settled.outputs, placement: settled.placement as PreprocessResult };
  }

  /** Runs many items; resolves when all have, in order. Rejects with the first failure. */
  inferMany(
    inputs: readonly (Tensor | Record<string, Tensor>)[],
    options: InferOptions = {},
  ): Promise<InferResult[]> {
    return Promise.all(inputs.map((input) => this.infer(input, options)));
  }

  /**
   * Replaces the model with zero failed requests: starts and warms up `next` on fresh
   * instances, then routes new batches to them while batches in flight finish on the old ones.
   * If `next` fails to load, or its inputs differ from the current model's (`E_CONFLICT`), the
   * current model keeps serving and the promise rejects.
   */
  swapRuntime(next: RuntimeSource): Promise<void> {
    this.#lifecycle.assertOpen('swapRuntime');
    return this.#fleet.swap(next);
  }

  /**
   * Changes the number of instances (worker threads), as an autoscaler does: added ones load
   * and warm up before they take batches; removed ones (the newest) take no new batches and
   * stop once their batches in flight are answered, so nothing fails. Runs after any pending
   * swapRuntime or resize. `E_INVALID_ARGUMENT` unless `count` is an integer from 1 to 64.
   */
  resize(count: number): Promise<void> {
    this.#lifecycle.assertOpen('resize');
    if (!Number.isInteger(count) || count < 1 || count > 64)
      return Promise.reject(
        new InvalidArgumentError(
          `GPUOptimizer.resize(): expected an instance count from 1 to 64, received ${describeValue(count)}`,
        ),
      );
    return this.#fleet.resize(count);
  }

  /** Stops accepting work, drains or rejects what is queued, then ends every worker. */
  close(options: CloseOptions = {}): Promise<void> {
    if (!this.#lifecycle.closed) this.#drain = options.drain ?? true;
    return this.#lifecycle.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  stats(): GPUOptimizerStats {
    return {
      runtime: this.#fleet.source.label,
      provider: this.#fleet.info?.provider,
      instances: this.#fleet.size,
      busyInstances: this.#fleet.busy,
      queued: this.#queue.size,
      ...this.#recorder.snapshot(),
      tuned: this.#batching.tuned,
    };
  }

  async #start(count: number): Promise<RuntimeInfo> {
    const info = await this.#fleet.start(count);
    const runtime = this.#fleet.source.label;
    this.#logger.info(
      { runtime, instances: count, provider: info.provider },
      `GPUOptimizer ready: ${count} instance(s) of ${runtime} on ${info.provider}`,
    );
    this.emit('ready', { instances: count, provider: info.provider });
    this.#schedule();
    return info;
  }

  #enqueue(inputs: Record<string, CheckedInput>, options: InferOptions): Promise<Settled> {
    const { signal } = options;
    const badOption = checkInferOptions(options);
    if (badOption) {
      this.#count('invalid');
      return Promise.reject(badOption);
    }
    if (signal?.aborted) {
      this.#count('aborted');
      return Promise.reject(this.#aborted(signal));
    }
    if (this.#queue.size >= this.#options.maxQueueSize) {
      this.#count('queueFull');
      return Promise.reject(
        new QueueFullError(
          `GPUOptimizer queue is full: ${this.#queue.size} requests wait (maxQueueSize ${this.#options.maxQueueSize}); retry later or add instances`,
          {
            context: {
              runtime: this.#fleet.source.label,
              maxQueueSize: this.#options.maxQueueSize,
            },
          },
        ),
      );
    }
    const now = this.#clock.now();
    this.#batching.arrival(now);
    const deadlineMs = options.deadlineMs ?? this.#options.defaultDeadlineMs;
    return new Promise<Settled>((resolve, reject) => {
      const request: Request = {
        key: batchKey(inputs),
        priority: options.priority ?? 0,
        enqueuedAt: now,
        deadlineAt: deadlineMs === undefined ? Number.POSITIVE_INFINITY : now + deadlineMs,
        queued: false,
        inputs,
        resolve,
        reject,
        settled: false,
        timer: undefined,
        cleanup: undefined,
      };
      if (deadlineMs !== undefined) {
        request.timer = this.#clock.setTimeout(() => this.#expire(request), deadlineMs);
      }
      if (signal) {
        const onAbort = () => {
          if (this.#queue.remove(request)) this.#count('aborted');
          this.#settle(request, this.#aborted(signal));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        request.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      this.#queue.push(request);
      this.#schedule();
    });
  }

  #expire(request: Request): void {
    if (!this.#queue.remove(request)) return;
    this.#count('deadline');
    this.#settle(request, this.#deadlineError(request));
  }

  #deadlineError(request: Request): DeadlineExceededError {
    const waited = this.#clock.now() - request.enqueuedAt;
    return new DeadlineExceededError(
      `GPUOptimizer request waited ${waited} ms, past its deadline of ${request.deadlineAt - request.enqueuedAt} ms; it was not run`,
      { context: { runtime: this.#fleet.source.label, waitedMs: waited } },
    );
  }

  #aborted(signal: AbortSignal): AbortedError {
    return new AbortedError('GPUOptimizer request was aborted by its signal', {
      cause: signal.reason,
      context: { runtime: this.#fleet.source.label },
    });
  }

  #settle(request: Request, outcome: Settled | Error): void {
    if (request.settled) return;
    request.settled = true;
    if (request.timer) this.#clock.clearTimer(request.timer);
    request.cleanup?.();
    if (outcome instanceof Error) request.reject(outcome);
    else request.resolve(outcome);
  }

  /**
   * Dispatches batches while an instance is free and a batch is ready; else arms the timer.
   * When every instance is busy, a full batch may still go to an instance with room in its
   * pipeline; anything less keeps growing in the queue.
   */
  #schedule(): void {
    if (this.#fleet.info === undefined) return;
    for (;;) {
      const now = this.#clock.now();
      let instance = this.#fleet.idle();
      let next: ReturnType<RequestQueue<Request>['nextBatch']>;
      if (instance) {
        next = this.#queue.nextBatch(now, this.#batching.current);
        if (next && 'waitUntil' in next) {
          this.#arm(next.waitUntil, now);
          break;
        }
      } else {
        instance = this.#fleet.withRoom(this.#options.pipelineDepth);
        next = instance ? this.#queue.nextBatch(now, this.#batching.fullOnly) : undefined;
      }
      if (!instance || !next || 'waitUntil' in next) break;
      const batch = next.batch.filter((r) => {
        if (r.settled) return false;
        if (r.deadlineAt > now) return true;
        this.#count('deadline');
        this.#settle(r, this.#deadlineError(r));
        return false;
      });
      if (batch.length > 0) this.#dispatch(batch, instance, now);
    }
    this.#notifyIdle();
  }

  #arm(at: number, now: number): void {
    if (this.#timer && this.#timerAt <= at) return;
    if (this.#timer) this.#clock.clearTimer(this.#timer);
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Number.POSITIVE_INFINITY;
        this.#schedule();
      },
      Math.max(0, at - now),
    );
  }

  #dispatch(batch: Request[], instance: Instance, now: number): void {
    const info = this.#fleet.info as RuntimeInfo;
    instance.inFlight++;
    this.#inFlight++;
    let leases: Lease<ArrayLike<number>>[] = [];
    const start = this.#clock.now();
    for (const r of batch) this.#recorder.dispatched(now - r.enqueuedAt);
    let recorded: { executionMs: number } | undefined;
    void (async () => {
      try {
        const assembled = assembleBatch(
          batch.map((r) => r.inputs),
          info.inputs,
          this.#pool,
          this.#options.padding?.value ?? 0,
        );
        leases = assembled.leases;
        const result = await instance.worker.run(assembled.wire);
        // The inputs are no longer needed once the worker answers: give the buffers back first.
        for (const lease of leases.splice(0)) lease.release();
        const cut = outputCut(
          this.#options,
          info,
          result.placements,
          (i) => (batch[i] as Request).inputs,
        );
        const items = splitOutputs(result.outputs, batch.length, cut);
        for (let i = 0; i < batch.length; i++) {
          const request = batch[i] as Request;
          // A request aborted while its batch ran was already answered (and counted) as aborted.
          if (request.settled) continue;
          this.#recorder.completed();
          this.#settle(request, {
            outputs: items[i] as InferResult,
            placement: result.placements?.[i],
          });
        }
        recorded = { executionMs: result.ms };
      } catch (error) {
        const err =
          error instanceof SalamaError
            ? error
            : new BackendFailedError(
                `GPUOptimizer batch failed: ${error instanceof Error ? error.message : String(error)}`,
                {
                  cause: error,
                  context: { runtime: this.#fleet.source.label, size: batch.length },
                },
              );
        for (const r of batch) {
          if (r.settled) continue;
          this.#recorder.failed();
          this.#settle(r, err);
        }
        this.#logger.warn(
          { runtime: this.#fleet.source.label, size: batch.length, err },
          `batch failed: ${err.message}`,
        );
      } finally {
        for (const lease of leases) lease.release();
        this.#inFlight--;
        instance.inFlight--;
        if (recorded) {
          const queueMs = now - Math.min(...batch.map((r) => r.enqueuedAt));
          this.#recordBatch(batch.length, instance, queueMs, recorded.executionMs);
        }
        this.#fleet.batchDone(instance);
        this.#logger.trace({ size: batch.length, ms: this.#clock.now() - start }, 'batch done');
        this.#schedule();
      }
    })();
  }

  #recordBatch(size: number, instance: Instance, queueMs: number, executionMs: number): void {
    const now = this.#clock.now();
    this.#recorder.batch(size, executionMs, now);
    this.#batching.batch(size, executionMs, now);
    // A listener's error must not fail requests that already ran; report it and carry on.
    try {
      this.emit('batch', {
        size,
        instance: instance.worker.index,
        queueMs,
        executionMs,
        runtime: instance.worker.source.label,
      });
    } catch (error) {
      this.#logger.error({ err: error }, 'a GPUOptimizer "batch" event listener threw');
    }
  }

  #count(reason: keyof GPUOptimizerStats['rejected']): void {
    this.#recorder.rejected(reason);
  }

  /** Fails every queued request with `error` (no instance is left to run them). */
  #failQueued(error: Error): void {
    for (const r of this.#queue.drain()) {
      this.#recorder.failed();
      this.#settle(r, error);
    }
    this.#notifyIdle();
  }

  #notifyIdle(): void {
    if (this.#queue.size > 0 || this.#inFlight > 0) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  async #shutdown(): Promise<void> {
    if (!this.#drain) {
      for (const r of this.#queue.drain()) {
        this.#count('closed');
        this.#settle(
          r,
          new ClosedError('GPUOptimizer was closed without draining; the request was not run'),
        );
      }
    }
    try {
      await this.#ready;
    } catch {
      // Never loaded: nothing to drain.
    }
    await this.#fleet.settled();
    await new Promise<void>((resolve) => {
      this.#idleWaiters.push(resolve);
      this.#notifyIdle();
    });
    if (this.#timer) this.#clock.clearTimer(this.#timer);
    await this.#fleet.stop();
    this.#stopMetrics();
    if (this.#ownsPool) await this.#pool.close();
  }
}
