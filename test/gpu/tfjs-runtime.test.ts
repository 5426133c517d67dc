import * as tf from '@tensorflow/tfjs';
import { type ErrorCode, type Logger, SalamaError, silentLogger } from 'salama';
import type { Tensor } from 'salama/gpu';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  importTfjs,
  type TfjsNamespace,
  TfjsRuntime,
  type TfjsRuntimeOptions,
  tfjsProvider,
} from '../../src/gpu/runtimes/tfjs-runtime.js';
import createDenseRuntime, { denseReference } from './fixtures/tfjs-dense-factory.js';
import { controlFlowGraph, matmulGraph, stringGraph } from './fixtures/tfjs-graphs.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  // tfjs's own test mode: no "install tfjs-node" hint, and kernels are checked for leaks.
  tf.env().set('IS_TEST', true);
});

const runtimes: TfjsRuntime[] = [];
function runtime(options: Omit<TfjsRuntimeOptions, 'tf'>): TfjsRuntime {
  const r = new TfjsRuntime({ tf, ...options });
  runtimes.push(r);
  return r;
}
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.dispose()));
});

const f32 = (dims: number[], values: number[]): Tensor => ({
  dtype: 'float32',
  dims,
  data: new Float32Array(values),
});
const numTensors = () => tf.memory().numTensors;
const context = { instance: 0, label: 'dense', logger: silentLogger };

async function codeOf(action: () => unknown): Promise<ErrorCode | undefined> {
  try {
    await action();
  } catch (error) {
    if (error instanceof SalamaError) return error.code;
    throw error;
  }
  return undefined;
}

/** A dense layer model built from explicit weights, so its outputs are known exactly. */
function setWeights(layer: tf.layers.Layer, kernel: number[][], bias: number[]): void {
  const weights = [tf.tensor2d(kernel), tf.tensor1d(bias)];
  layer.setWeights(weights);
  tf.dispose(weights);
}

/** "a" [3] and "b" [2] in; "sum" = dense(concat(a, b)) [2] and "total" = dense(...) [1] out. */
function twoByTwoModel(): tf.LayersModel {
  const a = tf.input({ shape: [3], name: 'a' });
  const b = tf.input({ shape: [2], name: 'b' });
  const joined = tf.layers.concatenate().apply([a, b]) as tf.SymbolicTensor;
  const sumLayer = tf.layers.dense({ units: 2, name: 'sum' });
  const totalLayer = tf.layers.dense({ units: 1, name: 'total' });
  const model = tf.model({
    inputs: [a, b],
    outputs: [
      sumLayer.apply(joined) as tf.SymbolicTensor,
      totalLayer.apply(joined) as tf.SymbolicTensor,
    ],
  });
  setWeights(
    sumLayer,
    [
      [1, 0],
      [0, 1],
      [1, 1],
      [2, 0],
      [0, 2],
    ],
    [0, 0.5],
  );
  setWeights(totalLayer, [[1], [1], [1], [1], [1]], [-1]);
  return model;
}

describe('TfjsRuntime over a LayersModel', () => {
  it('gives exact outputs of a dense layer with known weights for a batch of 3', async () => {
    const dense = await createDenseRuntime({}, context);
    runtimes.push(dense as TfjsRuntime);
    const features = [
      [1, 2, 3, 4],
      [0, 0, 0, 0],
      [-1, 0.5, 2, 10],
    ];
    const out = await dense.run({ features: f32([3, 4], features.flat()) });
    expect(Object.keys(out)).toEqual(['scores']);
    expect(out.scores?.dtype).toBe('float32');
    expect(out.scores?.dims).toEqual([3, 2]);
    expect(out.scores?.data).toEqual(new Float32Array(denseReference(features).flat()));
  });

  it('reads batches backed by a SharedArrayBuffer, as worker threads receive them', async () => {
    const dense = await createDenseRuntime({}, context);
    runtimes.push(dense as TfjsRuntime);
    const data = new Float32Array(new SharedArrayBuffer(2 * 4 * 4));
    data.set([1, 2, 3, 4, 4, 3, 2, 1]);
    const out = await dense.run({ features: { dtype: 'float32', dims: [2, 4], data } });
    const expected = denseReference([
      [1, 2, 3, 4],
      [4, 3, 2, 1],
    ]);
    expect(out.scores?.data).toEqual(new Float32Array(expected.flat()));
  });

  it('derives specs from the layer names and drops the batch dimension', async () => {
    const dense = await createDenseRuntime({}, context);
    runtimes.push(dense as TfjsRuntime);
    expect(dense.inputs).toEqual([{ name: 'features', dtype: 'float32', dims: [4] }]);
    expect(dense.outputs).toEqual([{ name: 'scores', dtype: 'float32', dims: [2] }]);
    expect(dense.provider).toBe('tfjs-cpu');
  });

  it('the worker factory takes its weights from (structured-clone) options', async () => {
    const options = structuredClone({ kernel: [[1], [-1]], bias: [100] });
    const r = await createDenseRuntime(options, context);
    runtimes.push(r as TfjsRuntime);
    expect(r.inputs[0]?.dims).toEqual([2]);
    const out = await r.run({ features: f32([2, 2], [1, 2, 3, 5]) });
    expect(out.scores?.data).toEqual(new Float32Array([99, 98]));
    expect(out.scores?.data).toEqual(
      new Float32Array(
        denseReference(
          [
            [1, 2],
            [3, 5],
          ],
          options,
        ).flat(),
      ),
    );
  });

  it('feeds two named inputs and returns two named outputs (functional API)', async () => {
    const r = runtime({ model: twoByTwoModel() });
    expect(r.inputs.map((s) => [s.name, s.dims])).toEqual([
      ['a', [3]],
      ['b', [2]],
    ]);
    expect(r.outputs.map((s) => [s.name, s.dims])).toEqual([
      ['sum', [2]],
      ['total', [1]],
    ]);
    // Record order differs from the model's input order on purpose.
    const out = await r.run({
      b: f32([2, 2], [10, 20, 0, 0]),
      a: f32([2, 3], [1, 2, 3, 4, 5, 6]),
    });
    // sum = [a0 + a2 + 2·b0, a1 + a2 + 2·b1 + 0.5]; total = Σ - 1
    expect(out.sum?.data).toEqual(new Float32Array([24, 45.5, 10, 11.5]));
    expect(out.total?.data).toEqual(new Float32Array([35, 14]));
    expect(out.total?.dims).toEqual([2, 1]);
  });

  it('runs batches larger than tfjs predict() default of 32 in one go', async () => {
    const r = runtime({ model: twoByTwoModel() });
    const out = await r.run({
      a: f32([40, 3], new Array(120).fill(1)),
      b: f32([40, 2], new Array(80).fill(0)),
    });
    expect(out.total?.dims).toEqual([40, 1]);
    expect(out.total?.data).toEqual(new Float32Array(40).fill(2));
  });

  it('disposes every tensor it creates, after successes and failures alike', async () => {
    const r = runtime({ model: twoByTwoModel() });
    const batch = { a: f32([3, 3], new Array(9).fill(1)), b: f32([3, 2], new Array(6).fill(1)) };
    await r.run(batch); // the first run may allocate lazily
    const before = numTensors();
    for (let i = 0; i < 5; i++) await r.run(batch);
    expect(numTensors()).toBe(before);
    const graph = runtime({ model: await matmulGraph({ signature: true }) });
    const settled = numTensors();
    await graph.run({ x: f32([2, 2], [1, 2, 3, 4]) });
    expect(numTensors()).toBe(settled);
  });

  it('disposes the model (its weights) on dispose(), once, unless told not to', async () => {
    const start = numTensors();
    const model = twoByTwoModel();
    const weights = numTensors() - start;
    expect(weights).toBe(4);
    const r = new TfjsRuntime({ tf, model });
    await Promise.all([r.dispose(), r.dispose()]);
    await r.dispose();
    expect(numTensors()).toBe(start);

    const kept = twoByTwoModel();
    await new TfjsRuntime({ tf, model: kept, disposeModel: false }).dispose();
    expect(numTensors()).toBe(start + weights);
    kept.dispose();
  });

  it('waits for a batch in flight before disposing the model', async () => {
    const r = new TfjsRuntime({ tf, model: twoByTwoModel() });
    const running = r.run({ a: f32([1, 3], [1, 1, 1]), b: f32([1, 2], [1, 1]) });
    const disposed = r.dispose();
    expect((await running).total?.data).toEqual(new Float32Array([4]));
    await disposed;
  });
});

describe('TfjsRuntime over a GraphModel', () => {
  it('derives output specs from the signature when graph nodes do not declare them', async () => {
    const r = runtime({ model: await matmulGraph({ signature: true }) });
    expect(r.inputs).toEqual([{ name: 'x', dtype: 'float32', dims: [2] }]);
    expect(r.outputs).toEqual([
      { name: 'y', dtype: 'float32', dims: [1] },
      { name: 'same', dtype: 'float32', dims: [2] },
    ]);
    const out = await r.run({ x: f32([3, 2], [1, 1, 2, 0, 0, -1]) });
    expect(out.y).toEqual({ dtype: 'float32', dims: [3, 1], data: new Float32Array([5, 4, -3]) });
  });

  it('asks for options.outputs when neither the graph nor a signature gives a shape', async () => {
    const model = await matmulGraph();
    const error = await new Promise<unknown>((resolve) => {
      try {
        new TfjsRuntime({ tf, model, disposeModel: false });
      } catch (e) {
        resolve(e);
      }
    });
    expect(SalamaError.is(error, 'E_INVALID_OPTIONS')).toBe(true);
    expect((error as Error).message).toMatch(/shape of output "y".*options\.outputs/);
    const r = runtime({
      model,
      outputs: [
        { name: 'y', dtype: 'float32', dims: [1] },
        { name: 'same', dtype: 'float32', dims: [2] },
      ],
    });
    const out = await r.run({ x: f32([1, 2], [1, 1]) });
    expect(out.y?.data).toEqual(new Float32Array([5]));
  });

  it('copies an output that shares the caller input array, so reusing the input is safe', async () => {
    const r = runtime({ model: await matmulGraph({ signature: true }) });
    const x = f32([2, 2], [1, 2, 3, 4]);
    const out = await r.run({ x });
    expect(out.same?.data).toEqual(new Float32Array([1, 2, 3, 4]));
    expect(out.same?.data.buffer).not.toBe(x.data.buffer);
    (x.data as Float32Array).fill(0);
    expect(out.same?.data).toEqual(new Float32Array([1, 2, 3, 4]));
  });

  it("'auto' switches to executeAsync for control flow; 'sync' reports tfjs's refusal", async () => {
    const r = runtime({
      model: await controlFlowGraph(),
      outputs: [{ name: 'y', dtype: 'float32', dims: [2] }],
    });
    const batch = { x: f32([2, 2], [1, 2, 3, 4]) };
    expect((await r.run(batch)).y?.data).toEqual(new Float32Array([2, 4, 6, 8]));
    const sync = runtime({
      model: await controlFlowGraph(),
      outputs: [{ name: 'y', dtype: 'float32', dims: [2] }],
      graphExecution: 'sync',
    });
    const before = numTensors();
    expect((await r.run(batch)).y?.data).toEqual(new Float32Array([2, 4, 6, 8]));
    expect(numTensors()).toBe(before);
    const failure = await sync.run(batch).catch((e: unknown) => e);
    expect(SalamaError.is(failure, 'E_BACKEND_FAILED')).toBe(true);
    expect(((failure as Error).cause as Error).message).toMatch(/executeAsync\(\)/);
    expect(numTensors()).toBe(before);
  });

  it('wraps a tfjs failure as E_BACKEND_FAILED with the cause, leaking nothing', async () => {
    // An override that contradicts the graph passes salama's checks and fails in tfjs.
    const r = runtime({
      model: await matmulGraph({ signature: true }),
      inputs: [{ name: 'x', dtype: 'float32', dims: [3] }],
    });
    const before = numTensors();
    const error = await r.run({ x: f32([1, 3], [1, 2, 3]) }).catch((e: unknown) => e);
    expect(SalamaError.is(error, 'E_BACKEND_FAILED')).toBe(true);
    expect((error as SalamaError).context).toMatchObject({ provider: 'tfjs-cpu', batch: 1 });
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(numTensors()).toBe(before);
  });

  it('keeps a batch size the model fixes and rejects other batch sizes', async () => {
    const r = runtime({ model: await matmulGraph({ batch: 1, signature: true }) });
    expect(r.inputs[0]?.dims).toEqual([2]);
    expect((await r.run({ x: f32([1, 2], [1, 1]) })).y?.data).toEqual(new Float32Array([5]));
    expect(await codeOf(() => r.run({ x: f32([2, 2], [1, 1, 1, 1]) }))).toBe('E_INVALID_INPUT');
  });
});

describe('TfjsRuntime specs and options', () => {
  it('reports an input of a dtype salama cannot pass (string) as E_INVALID_TYPE', async () => {
    const model = await stringGraph();
    expect(await codeOf(() => new TfjsRuntime({ tf, model, disposeModel: false }))).toBe(
      'E_INVALID_TYPE',
    );
    model.dispose();
  });

  it('accepts uint8 frames for a float32 input when the spec is overridden', async () => {
    const r = runtime({
      model: await matmulGraph({ signature: true }),
      inputs: [{ name: 'x', dtype: 'uint8', dims: [2] }],
    });
    const out = await r.run({ x: { dtype: 'uint8', dims: [1, 2], data: new Uint8Array([4, 1]) } });
    expect(out.y?.data).toEqual(new Float32Array([11]));
  });

  it('reports dtypes tfjs lacks in overrides as E_INVALID_TYPE', async () => {
    const model = await matmulGraph({ signature: true });
    for (const dtype of ['float64', 'float16'] as const) {
      const options = { tf, model, inputs: [{ name: 'x', dtype, dims: [2] }] };
      expect(await codeOf(() => new TfjsRuntime(options))).toBe('E_INVALID_TYPE');
    }
    model.dispose();
  });

  it('rejects bad options with E_INVALID_OPTIONS naming the option', async () => {
    const model = twoByTwoModel();
    const bad: unknown[] = [
      { model },
      { tf: {}, model },
      { tf, model: {} },
      { tf, model, disposeModel: 'yes' },
      { tf, model, graphExecution: 'fast' },
      { tf, model, inputs: [{ name: 'nope', dtype: 'float32', dims: [3] }] },
      { tf, model, outputs: [{ name: 'sum', dtype: 'float32', dims: [-1] }] },
      { tf, model, warmup: true },
    ];
    for (const options of bad) {
      expect(await codeOf(() => new TfjsRuntime(options as TfjsRuntimeOptions))).toBe(
        'E_INVALID_OPTIONS',
      );
    }
    const error = await new Promise<unknown>((resolve) => {
      try {
        new TfjsRuntime({ tf, model, graphExecution: 'fast' } as unknown as TfjsRuntimeOptions);
      } catch (e) {
        resolve(e);
      }
    });
    expect((error as Error).message).toMatch(/graphExecution: expected one of "auto"/);
    model.dispose();
  });
});

describe('TfjsRuntime.run errors', () => {
  const batch = () => ({ a: f32([1, 3], [1, 2, 3]), b: f32([1, 2], [4, 5]) });

  it('rejects a missing, an unknown or a mis-shaped input with E_INVALID_INPUT', async () => {
    const r = runtime({ model: twoByTwoModel() });
    const before = numTensors();
    const { a, b } = batch();
    const cases: Record<string, Tensor>[] = [
      { a },
      { a, b, c: b },
      { a, b: { dtype: 'int32', dims: [1, 2], data: new Int32Array(2) } },
      { a, b: f32([1, 3], [1, 2, 3]) },
      { a, b: f32([2, 2], [1, 2, 3, 4]) },
      { a, b: { dtype: 'float32', dims: [1, 2], data: new Float32Array(3) } },
    ];
    for (const inputs of cases) expect(await codeOf(() => r.run(inputs))).toBe('E_INVALID_INPUT');
    const missing = await r.run({ a }).catch((e: unknown) => e);
    expect((missing as Error).message).toBe(
      'TfjsRuntime input "b" is missing (the model takes: a, b)',
    );
    expect(numTensors()).toBe(before);
  });

  it('throws E_CLOSED from run() after dispose()', async () => {
    const r = runtime({ model: twoByTwoModel() });
    await r.dispose();
    expect(await codeOf(() => r.run(batch()))).toBe('E_CLOSED');
  });
});

describe('tfjs provider and package loading', () => {
  it('tells tfjs-node-gpu on a GPU from tfjs-node by the backend instance', () => {
    const fake = (backend: string, instance: object): TfjsNamespace => ({
      ...tf,
      getBackend: () => backend,
      backend: () => instance,
    });
    const gpu = { isGPUPackage: true, isUsingGpuDevice: true };
    expect(tfjsProvider(fake('tensorflow', gpu))).toBe('tfjs-node-gpu');
    expect(tfjsProvider(fake('tensorflow', { ...gpu, isUsingGpuDevice: false }))).toBe('tfjs-node');
    expect(tfjsProvider(fake('tensorflow', {}))).toBe('tfjs-node');
    expect(tfjsProvider(fake('wasm', {}))).toBe('tfjs-wasm');
    expect(tfjsProvider(tf)).toBe('tfjs-cpu');
  });

  it('falls back to @tensorflow/tfjs, reporting the node packages as not installed', async () => {
    const infos: unknown[] = [];
    const { child: _, ...silent } = silentLogger;
    const logger: Logger = { ...silent, info: (obj: unknown) => infos.push(obj) };
    const loaded = await importTfjs({ logger });
    expect(loaded.package).toBe('@tensorflow/tfjs');
    expect(loaded.fallbacks.map((f) => [f.package, f.reason])).toEqual([
      ['@tensorflow/tfjs-node-gpu', 'not-installed'],
      ['@tensorflow/tfjs-node', 'not-installed'],
    ]);
    expect(typeof loaded.tf.tensor).toBe('function');
    expect(loaded.provider).toBe(tfjsProvider(loaded.tf));
    expect(infos).toEqual([
      expect.objectContaining({ package: '@tensorflow/tfjs', provider: loaded.provider }),
    ]);
  });

  it('throws E_BACKEND_UNAVAILABLE listing why each package failed when none loads', async () => {
    const error = await importTfjs({
      prefer: ['tfjs-node-gpu', 'tfjs-node'],
      importModule: async (name) => {
        if (name.endsWith('-gpu')) throw new Error('libcudart.so.11.0: cannot open shared object');
        return import(name);
      },
    }).catch((e: unknown) => e);
    expect(SalamaError.is(error, 'E_BACKEND_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toContain(
      '@tensorflow/tfjs-node-gpu: libcudart.so.11.0: cannot open shared object',
    );
    expect((error as Error).message).toContain('@tensorflow/tfjs-node: not installed');
    expect((error as SalamaError).context.fallbacks).toEqual([
      { package: '@tensorflow/tfjs-node-gpu', reason: 'failed' },
      { package: '@tensorflow/tfjs-node', reason: 'not-installed' },
    ]);
  });

  it('rejects an unknown package name with E_INVALID_OPTIONS', async () => {
    const prefer = ['tfjs-gpu'] as unknown as ['tfjs'];
    expect(await codeOf(() => importTfjs({ prefer }))).toBe('E_INVALID_OPTIONS');
    expect(await codeOf(() => importTfjs({ prefer: [] }))).toBe('E_INVALID_OPTIONS');
  });
});
