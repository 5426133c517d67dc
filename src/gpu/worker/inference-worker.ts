/**
 * The inference worker: loads one runtime from its RuntimeSource, warms it up, then runs one
 * batch at a time. It only runs models; batching and routing stay on the main thread.
 */
import { parentPort } from 'node:worker_threads';
import { SalamaError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { resolveDType } from '../../memory/dtypes.js';
import type { DType } from '../../memory/index.js';
import { ImagePreprocessor, type PreprocessResult } from '../preprocess/index.js';
import type { InferenceRuntime, RuntimeFactory } from '../runtime.js';
import { elementCount, type Tensor, type TensorData } from '../tensor.js';
import type { FromWorker, ToWorker, WireError, WireImages, WireTensor } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('inference-worker must run in a worker thread');

const post = (message: FromWorker, transfer: ArrayBuffer[] = []) =>
  port.postMessage(message, transfer);

function logFn(level: 'trace' | 'debug' | 'info' | 'warn' | 'error') {
  return (objOrMsg: object | string, msg?: string) => {
    const obj = typeof objOrMsg === 'string' ? {} : (objOrMsg as Record<string, unknown>);
    post({ type: 'log', level, obj, msg: typeof objOrMsg === 'string' ? objOrMsg : (msg ?? '') });
  };
}
const logger: Logger = {
  trace: logFn('trace'),
  debug: logFn('debug'),
  info: logFn('info'),
  warn: logFn('warn'),
  error: logFn('error'),
};

function toWireError(error: unknown): WireError {
  if (error instanceof SalamaError) {
    return {
      code: error.code,
      name: error.name,
      message: error.message,
      stack: error.stack,
      context: { ...error.context },
    };
  }
  const e = error instanceof Error ? error : new Error(String(error));
  return { code: 'E_BACKEND_FAILED', name: e.name, message: e.message, stack: e.stack };
}

function fromWire(t: WireTensor): Tensor {
  const { View } = resolveDType(t.dtype);
  const bytes = resolveDType(t.dtype).bytesPerElement;
  return { dtype: t.dtype, dims: t.dims, data: new View(t.buffer, t.offset * bytes, t.length) };
}

function toWire(t: Tensor, transfer: ArrayBuffer[]): WireTensor {
  const data = t.data as TensorData;
  const bytes = data.BYTES_PER_ELEMENT;
  let buffer = data.buffer;
  let offset = data.byteOffset / bytes;
  // Transfer the runtime's own output buffer when it holds just this tensor; otherwise copy the
  // tensor out, since transferring a buffer shared with other data would detach that data.
  if (
    buffer instanceof ArrayBuffer &&
    data.byteLength === buffer.byteLength &&
    !transfer.includes(buffer)
  ) {
    transfer.push(buffer);
  } else {
    const copy = new (resolveDType(t.dtype).View)(new ArrayBuffer(data.byteLength), 0, data.length);
    (copy as { set(a: ArrayLike<number>): void }).set(data);
    buffer = copy.buffer;
    offset = 0;
    transfer.push(copy.buffer as ArrayBuffer);
  }
  return { dtype: t.dtype, dims: t.dims, buffer, offset, length: data.length };
}

function zeros(dtype: DType, dims: readonly number[]): Tensor {
  const { View } = resolveDType(dtype);
  const length = elementCount(dims);
  return {
    dtype,
    dims,
    data: new View(new ArrayBuffer(length * resolveDType(dtype).bytesPerElement), 0, length),
  };
}

let runtime: InferenceRuntime | undefined;
let preprocessor: ImagePreprocessor | undefined;
// The batch tensor images are preprocessed into; reused across batches (one runs at a time).
let scratch = new Float32Array(0);

function preprocessBatch(wire: WireImages, placements: PreprocessResult[]): Tensor {
  const p = preprocessor as ImagePreprocessor;
  const n = wire.images.length;
  if (scratch.length < n * p.length) scratch = new Float32Array(n * p.length);
  const out = scratch.subarray(0, n * p.length);
  for (let i = 0; i < n; i++) {
    const image = wire.images[i] as WireImages['images'][number];
    const data = new Uint8Array(wire.buffer, image.offset, image.length);
    placements.push(
      p.run(
        { data, width: image.width, height: image.height, format: image.format },
        out,
        i * p.length,
      ),
    );
  }
  return { dtype: 'float32', dims: [n, ...p.dims], data: out };
}

async function handle(message: ToWorker): Promise<void> {
  switch (message.type) {
    case 'init': {
      const mod = (await import(message.source.module)) as { default?: RuntimeFactory<unknown> };
      if (typeof mod.default !== 'function') {
        throw new SalamaError(
          `Runtime module ${message.source.module} must export a RuntimeFactory as default, found ${typeof mod.default}`,
        );
      }
      if (message.preprocess) preprocessor = new ImagePreprocessor(message.preprocess.spec);
      runtime = await mod.default(message.source.options, {
        instance: message.instance,
        label: message.source.label,
        logger,
      });
      post({
        type: 'loaded',
        inputs: runtime.inputs,
        outputs: runtime.outputs,
        provider: runtime.provider,
      });
      return;
    }
    case 'warmup': {
      const start = performance.now();
      for (const batch of message.batches) {
        const inputs: Record<string, Tensor> = {};
        for (const [name, spec] of Object.entries(batch.inputs))
          inputs[name] = zeros(spec.dtype, spec.dims);
        await runtime?.run(inputs);
      }
      post({ type: 'warm', ms: performance.now() - start });
      return;
    }
    case 'run': {
      if (!runtime) throw new SalamaError('run before init');
      const start = performance.now();
      const inputs: Record<string, Tensor> = {};
      const placements: PreprocessResult[] = [];
      for (const [name, wire] of Object.entries(message.inputs)) {
        inputs[name] = 'kind' in wire ? preprocessBatch(wire, placements) : fromWire(wire);
      }
      const outputs = await runtime.run(inputs);
      const ms = performance.now() - start;
      const transfer: ArrayBuffer[] = [];
      const wired: Record<string, WireTensor> = {};
      for (const [name, tensor] of Object.entries(outputs)) wired[name] = toWire(tensor, transfer);
      post(
        {
          type: 'result',
          id: message.id,
          outputs: wired,
          ms,
          ...(placements.length > 0 ? { placements } : {}),
        },
        transfer,
      );
      return;
    }
    case 'dispose': {
      await runtime?.dispose();
      runtime = undefined;
      post({ type: 'disposed' });
      return;
    }
  }
}

// Messages are handled strictly one after another: a runtime never sees two batches at once.
let chain = Promise.resolve();
port.on('message', (message: ToWorker) => {
  chain = chain.then(() =>
    handle(message).catch((error: unknown) => {
      post({
        type: 'failed',
        id: message.type === 'run' ? message.id : undefined,
        error: toWireError(error),
      });
    }),
  );
});
