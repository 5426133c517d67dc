/**
 * The instances (worker threads holding a runtime session) behind a GPUOptimizer, and their
 * lifecycle: load and warm up, watch for crashes and restart with backoff, swap the runtime,
 * resize, retire, stop. The GPUOptimizer owns the requests and asks this class which instance
 * may take a batch; this class calls back when the set of ready instances changes.
 */
import type { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../core/clock.js';
import { ClosedError, ConflictError, SalamaError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { GPUOptimizerEvents } from './gpu-optimizer-types.js';
import type { GpuRecorder } from './gpu-recorder.js';
import {
  checkImageInput,
  checkPadding,
  describeSpecs,
  type ParsedOptions,
  sameSpecs,
} from './model-checks.js';
import type { PreprocessSpec } from './preprocess/index.js';
import type { RuntimeSource } from './runtime.js';
import { warmupBatches } from './warmup.js';
import { type RuntimeInfo, WorkerInstance } from './worker-instance.js';

export interface Instance {
  readonly worker: WorkerInstance;
  state: 'loading' | 'ready' | 'stopped';
  /** Batches sent and not yet answered: the running one and up to `pipelineDepth - 1` behind it. */
  inFlight: number;
}

/** What the fleet needs from the GPUOptimizer that owns it. */
export interface FleetHost {
  readonly options: ParsedOptions;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly recorder: GpuRecorder;
  readonly events: EventEmitter<GPUOptimizerEvents>;
  /** Whether close() has been called. */
  closed(): boolean;
  /** Instances changed (one became ready, or the set was replaced): dispatch what waits. */
  changed(): void;
  /** A crashed instance could not be replaced while closing: fail what is queued with `error`. */
  cannotRestart(error: Error): void;
}

const MAX_RESTART_DELAY_MS = 5000;

export class InstanceFleet {
  readonly #host: FleetHost;
  #source: RuntimeSource;
  #info: RuntimeInfo | undefined;
  #instances: Instance[] = [];
  #started: Promise<RuntimeInfo> | undefined;
  #changes: Promise<void> = Promise.resolve();
  /** Set once stop() has begun: no more restarts. */
  #stopping = false;
  readonly #restartTimers = new Map<TimerHandle, () => void>();

  constructor(source: RuntimeSource, host: FleetHost) {
    this.#source = source;
    this.#host = host;
  }

  /** The runtime new batches run on. */
  get source(): RuntimeSource {
    return this.#source;
  }

  /** What the current runtime takes and returns, once loaded. */
  get info(): RuntimeInfo | undefined {
    return this.#info;
  }

  get size(): number {
    return this.#instances.length;
  }

  get busy(): number {
    return this.#instances.filter((i) => i.inFlight > 0).length;
  }

  /** A ready instance with nothing in flight. */
  idle(): Instance | undefined {
    return this.#instances.find((i) => i.state === 'ready' && i.inFlight === 0);
  }

  /** A ready instance with fewer than `depth` batches in flight. */
  withRoom(depth: number): Instance | undefined {
    return this.#instances.find((i) => i.state === 'ready' && i.inFlight < depth);
  }

  /** Loads `count` instances and checks the model against the options. Call once. */
  start(count: number): Promise<RuntimeInfo> {
    this.#started = this.#start(count);
    return this.#started;
  }

  async #start(count: number): Promise<RuntimeInfo> {
    const instances = await this.#load(this.#source, count);
    const info = instances[0]?.worker.info as RuntimeInfo;
    try {
      checkImageInput(info, this.#host.options, this.#source.label);
      checkPadding(info, this.#host.options, this.#source.label);
    } catch (error) {
      await stopAll(instances);
      throw error;
    }
    this.#info = info;
    this.#install(instances, instances, []);
    return info;
  }

  /** Replaces the runtime; see GPUOptimizer.swapRuntime(). Serialised with resize(). */
  swap(next: RuntimeSource): Promise<void> {
    return this.#oneAtATime(() => this.#swap(next));
  }

  /** Changes the instance count; see GPUOptimizer.resize(). Serialised with swap(). */
  resize(count: number): Promise<void> {
    return this.#oneAtATime(() => this.#resize(count));
  }

  /** Resolves once no swap or resize is pending. */
  async settled(): Promise<void> {
    await this.#changes;
  }

  /** Called when a batch on `instance` is answered: stops it if it was retired meanwhile. */
  batchDone(instance: Instance): void {
    if (!this.#instances.includes(instance)) this.#retireIfIdle(instance);
  }

  /** Stops restarting and stops every instance (after the GPUOptimizer has drained). */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const [timer, wake] of this.#restartTimers) {
      this.#host.clock.clearTimer(timer);
      wake();
    }
    this.#restartTimers.clear();
    for (const instance of this.#instances) instance.state = 'stopped';
    await stopAll(this.#instances);
  }

  #oneAtATime(change: () => Promise<void>): Promise<void> {
    const run = this.#changes.then(async () => {
      await this.#started;
      await change();
      this.#host.changed();
    });
    this.#changes = run.catch(() => {});
    return run;
  }

  async #swap(next: RuntimeSource): Promise<void> {
    const from = this.#source.label;
    const fresh = await this.#load(next, this.#instances.length);
    const current = this.#info as RuntimeInfo;
    const info = fresh[0]?.worker.info as RuntimeInfo;
    try {
      if (!sameSpecs(current.inputs, info.inputs)) {
        throw new ConflictError(
          `swapRuntime: ${next.label} takes inputs ${describeSpecs(info.inputs)}, but ${from} takes ${describeSpecs(current.inputs)}; queued requests would not fit`,
          { context: { from, to: next.label } },
        );
      }
      checkPadding(info, this.#host.options, next.label);
      this.#assertOpen('swapRuntime: the GPUOptimizer was closed while the new runtime loaded');
    } catch (error) {
      await stopAll(fresh);
      throw error;
    }
    this.#source = next;
    this.#info = info;
    this.#install(fresh, fresh, this.#instances);
    this.#host.recorder.swapped();
    this.#host.logger.info(
      { from, to: next.label, provider: info.provider },
      `swapped runtime ${from} -> ${next.label}`,
    );
    this.#host.events.emit('swap', { from, to: next.label });
  }

  async #resize(count: number): Promise<void> {
    const from = this.#instances.length;
    if (count > from) {
      const fresh = await this.#load(this.#source, count - from, from);
      try {
        this.#assertOpen('resize: the GPUOptimizer was closed while instances loaded');
      } catch (error) {
        await stopAll(fresh);
        throw error;
      }
      this.#install([...this.#instances, ...fresh], fresh, []);
    } else if (count < from) {
      this.#install(this.#instances.slice(0, count), [], this.#instances.slice(count));
    }
    this.#host.logger.info({ from, to: count }, `resized from ${from} to ${count} instances`);
    this.#host.events.emit('resize', { from, to: count });
  }

  #assertOpen(message: string): void {
    if (this.#host.closed()) throw new ClosedError(message);
  }

  /** Starts `count` instances of `source` and warms them up; stops them all if one fails. */
  async #load(source: RuntimeSource, count: number, firstIndex = 0): Promise<Instance[]> {
    const workers = Array.from({ length: count }, (_, i) => this.#worker(source, firstIndex + i));
    try {
      await Promise.all(workers.map((w) => this.#warm(w)));
    } catch (error) {
      await Promise.all(workers.map((w) => w.stop()));
      throw error;
    }
    return workers.map((worker) => ({ worker, state: 'ready' as const, inFlight: 0 }));
  }

  #worker(source: RuntimeSource, index: number): WorkerInstance {
    const p = this.#host.options.preprocess;
    let preprocess: { input: string; spec: PreprocessSpec } | undefined;
    if (p) {
      const { input, unpad: _unpad, ...spec } = p;
      preprocess = { input: input ?? '', spec };
    }
    return new WorkerInstance(source, index, this.#host.logger, preprocess);
  }

  #warm(worker: WorkerInstance): Promise<RuntimeInfo> {
    return worker.load((info) => warmupBatches(info, this.#host.options, this.#host.logger));
  }

  /**
   * Makes `instances` the ones batches go to, watching the `added` ones for crashes. `retired`
   * ones take no new batches; idle ones stop now, busy ones when their last batch is answered
   * (see batchDone()).
   */
  #install(instances: Instance[], added: Instance[], retired: Instance[]): void {
    this.#instances = instances;
    for (const instance of added) this.#watch(instance);
    for (const instance of retired) this.#retireIfIdle(instance);
  }

  /** Stops an instance that takes no new batches once it has none in flight. */
  #retireIfIdle(instance: Instance): void {
    if (instance.inFlight > 0 || instance.state === 'stopped') return;
    instance.state = 'stopped';
    void instance.worker.stop();
  }

  #watch(instance: Instance): void {
    instance.worker.once('exit', (error) => {
      if (instance.state === 'stopped') return;
      instance.state = 'stopped';
      this.#host.logger.error({ instance: instance.worker.index, err: error }, error.message);
      this.#host.events.emit('worker:exit', { instance: instance.worker.index, error });
      if (!this.#stopping && this.#instances.includes(instance)) void this.#restart(instance, 1);
    });
  }

  /**
   * Replaces a crashed instance, retrying with backoff. It keeps going while a draining close()
   * waits for queued work; if a replacement fails to load while closing, it gives up on that
   * slot, and only when no other instance is ready or loading does the host fail the queued
   * requests with that error instead of letting them wait forever. The backoff timer keeps the
   * process alive: queued requests wait for the replacement.
   */
  async #restart(dead: Instance, attempt: number): Promise<void> {
    const { clock, options, logger, recorder, events } = this.#host;
    const delay = Math.min(MAX_RESTART_DELAY_MS, options.restartDelayMs * 2 ** (attempt - 1));
    await new Promise<void>((resolve) => {
      const timer = clock.setTimeout(() => {
        this.#restartTimers.delete(timer);
        resolve();
      }, delay);
      this.#restartTimers.set(timer, resolve);
    });
    if (this.#stopping || !this.#instances.includes(dead)) return;
    recorder.restarted();
    events.emit('worker:restart', { instance: dead.worker.index, attempt });
    const worker = this.#worker(dead.worker.source, dead.worker.index);
    const replacement: Instance = { worker, state: 'loading', inFlight: 0 };
    this.#instances = this.#instances.map((i) => (i === dead ? replacement : i));
    try {
      await this.#warm(worker);
    } catch (error) {
      logger.warn(
        { instance: worker.index, attempt, err: error },
        'inference worker failed to restart',
      );
      await worker.stop();
      // Retired meanwhile (a swap, a resize or stop()): its load was cut short on purpose.
      if (!this.#instances.includes(replacement)) return;
      if (this.#host.closed()) {
        replacement.state = 'stopped';
        const serving = this.#instances.some((i) => i.state === 'ready' || i.state === 'loading');
        if (!serving)
          this.#host.cannotRestart(error instanceof Error ? error : new SalamaError(String(error)));
        return;
      }
      void this.#restart(replacement, attempt + 1);
      return;
    }
    if (!this.#instances.includes(replacement) || this.#stopping) {
      await worker.stop();
      return;
    }
    replacement.state = 'ready';
    this.#watch(replacement);
    this.#host.changed();
  }
}

function stopAll(instances: readonly Instance[]): Promise<unknown> {
  return Promise.all(instances.map((i) => i.worker.stop()));
}
