import { type Logger, ManualClock, SalamaError, silentLogger } from 'salama';
import type { Tensor } from 'salama/gpu';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import createKServeRuntime, {
  KServeRuntime,
  type KServeRuntimeOptions,
} from '../../src/gpu/runtimes/kserve-runtime.js';
import { KServeTestServer, type ServedModel, type WireTensor } from '../support/kserve-server.js';

const none: WireTensor = { shape: [0], data: [] };

/** `scale`: FP32 `x` [-1, 4] → `y` = x × 2. */
const scaleModel: ServedModel = {
  name: 'scale',
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 4] }],
  compute: ({ x = none }) => ({ y: { shape: x.shape, data: x.data.map((v) => v * 2) } }),
};

/** `stats`: INT32 `values` [-1, 3] → `sum` INT32 [-1] and `mean` FP64 [-1, 1]. */
const statsModel: ServedModel = {
  name: 'stats',
  inputs: [{ name: 'values', datatype: 'INT32', shape: [-1, 3] }],
  outputs: [
    { name: 'sum', datatype: 'INT32', shape: [-1] },
    { name: 'mean', datatype: 'FP64', shape: [-1, 1] },
  ],
  compute: ({ values = none }) => {
    const rows = values.shape[0] ?? 0;
    const sums = Array.from({ length: rows }, (_, r) =>
      values.data.slice(r * 3, r * 3 + 3).reduce((a, b) => a + b, 0),
    );
    return {
      sum: { shape: [rows], data: sums },
      mean: { shape: [rows, 1], data: sums.map((sum) => sum / 3) },
    };
  },
};

/** `multiply`, versions 1 to 3: FP32 `x` [-1, 4] → `y` = x × version. */
const multiplyModel: ServedModel = {
  ...scaleModel,
  name: 'multiply',
  versions: ['1', '2', '3'],
  compute: ({ x = none }, version) => ({
    y: { shape: x.shape, data: x.data.map((v) => v * Number(version)) },
  }),
};

/** `invert`: UINT8 `pixels` [-1, 2, 2] → `inverted` = 255 − pixels. */
const invertModel: ServedModel = {
  name: 'invert',
  inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [-1, 2, 2] }],
  outputs: [{ name: 'inverted', datatype: 'UINT8', shape: [-1, 2, 2] }],
  compute: ({ pixels = none }) => ({
    inverted: { shape: pixels.shape, data: pixels.data.map((v) => 255 - v) },
  }),
};

/** `detector`: metadata only, shaped like a real OCR detector's. */
const detectorModel: ServedModel = {
  name: 'detector',
  inputs: [{ name: 'image', datatype: 'FP32', shape: [-1, 3, 48, -1] }],
  outputs: [
    { name: 'classes', datatype: 'INT32', shape: [-1, 10] },
    { name: 'mask', datatype: 'UINT8', shape: [-1] },
    { name: 'boxes', datatype: 'FP64', shape: [4, 2] },
    { name: 'scores', datatype: 'FP16', shape: [-1, -1] },
  ],
  compute: () => ({}),
};

/** `tokenizer`: declares a BYTES output, which salama cannot hold. */
const tokenizerModel: ServedModel = {
  name: 'tokenizer',
  inputs: [{ name: 'ids', datatype: 'INT32', shape: [-1, 8] }],
  outputs: [{ name: 'text', datatype: 'BYTES', shape: [-1] }],
  compute: () => ({}),
};

const models = [scaleModel, statsModel, multiplyModel, invertModel, detectorModel, tokenizerModel];
const scaleBatch = (): Record<string, Tensor> => ({
  x: { dtype: 'float32', dims: [2, 4], data: Float32Array.of(0.1, -3.5, 1e-7, 65504, 1, 2, 3, 4) },
});

/** The values of a tensor as plain numbers. */
const values = (tensor: Tensor | undefined): number[] => Array.from(tensor?.data ?? [], Number);

/** A logger that keeps what was logged at `warn`. */
function recordingLogger() {
  const warnings: Record<string, unknown>[] = [];
  const ignore = () => {};
  const logger: Logger = {
    trace: ignore,
    debug: ignore,
    info: ignore,
    error: ignore,
    warn: (fields: object | string) => {
      if (typeof fields === 'object') warnings.push(fields as Record<string, unknown>);
    },
  };
  return { logger, warnings };
}

/** The error `promise` rejects with; fails the test if it resolves. */
async function failure(promise: Promise<unknown>): Promise<SalamaError> {
  const outcome = await promise.then(
    () => new Error('expected a rejection'),
    (error: unknown) => error,
  );
  if (outcome instanceof SalamaError) return outcome;
  throw outcome;
}

let server: KServeTestServer;
const runtimes: KServeRuntime[] = [];

async function connect(
  options: Partial<KServeRuntimeOptions> = {},
  logger: Logger = silentLogger,
): Promise<KServeRuntime> {
  const runtime = await KServeRuntime.create(
    { url: server.url, model: 'scale', retryDelayMs: 1, ...options },
    { instance: 0, label: 'test', logger },
  );
  runtimes.push(runtime);
  return runtime;
}

beforeEach(async () => {
  server = await KServeTestServer.start(models);
});

afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((runtime) => runtime.dispose()));
  await server.close();
});

describe('KServeRuntime metadata', () => {
  it('maps metadata to per-item specs: batch dimension dropped, -1 as null, dtypes mapped', async () => {
    const runtime = await connect({ model: 'detector' });
    expect(runtime.provider).toBe('kserve');
    expect(runtime.inputs).toEqual([{ name: 'image', dtype: 'float32', dims: [3, 48, null] }]);
    expect(runtime.outputs).toEqual([
      { name: 'classes', dtype: 'int32', dims: [10] },
      { name: 'mask', dtype: 'uint8', dims: [] },
      { name: 'boxes', dtype: 'float64', dims: [2] },
      { name: 'scores', dtype: 'float16', dims: [null] },
    ]);
    expect(server.requests.map((r) => r.path)).toEqual([
      '/v2/health/ready',
      '/v2/models/detector',
      '/v2/models/detector/ready',
    ]);
  });

  it('rejects a datatype salama cannot hold with E_INVALID_TYPE naming the tensor', async () => {
    const err = await failure(connect({ model: 'tokenizer' }));
    expect(err.code).toBe('E_INVALID_TYPE');
    expect(err.message).toContain('tensor "text" has datatype BYTES');
    expect(err.context).toMatchObject({ tensor: 'text', datatype: 'BYTES', model: 'tokenizer' });
  });

  it.each([
    ['an unknown model', { model: 'nope' }],
    ['an unknown version', { model: 'multiply', version: '9' }],
  ])('reports %s as E_NOT_FOUND (Triton answers 400)', async (_, options) => {
    const err = await failure(connect(options));
    expect(err.code).toBe('E_NOT_FOUND');
    expect(err.message).toContain(`at ${server.url}`);
    expect(err.message).toContain('is not found');
  });

  it('reports a 404 from KServe or MLServer as E_NOT_FOUND', async () => {
    server.failNext(1, {
      status: 404,
      error: 'Model with name gone does not exist.',
      route: 'metadata',
    });
    const err = await failure(connect());
    expect(err.code).toBe('E_NOT_FOUND');
    expect(err.context).toMatchObject({
      status: 404,
      serverError: 'Model with name gone does not exist.',
    });
  });

  it('waits for a server that becomes ready within its retries', async () => {
    server.failNext(2, { status: 503, error: 'loading', route: 'health' });
    await connect({ retries: 2 });
    expect(server.count('health')).toBe(3);
  });

  it('gives up on a server that stays not ready with E_BACKEND_UNAVAILABLE', async () => {
    server.ready = false;
    const err = await failure(connect({ retries: 1 }));
    expect(err.code).toBe('E_BACKEND_UNAVAILABLE');
    expect(err.message).toContain('not ready');
    expect(err.message).toContain('server is not ready');
    expect(server.count('health')).toBe(2);
  });
});

describe('KServeRuntime.run', () => {
  it('round-trips a batch with exact values and dims', async () => {
    const runtime = await connect();
    const batch = scaleBatch();
    const { y } = await runtime.run(batch);
    expect(y?.dtype).toBe('float32');
    expect(y?.dims).toEqual([2, 4]);
    expect(y?.data).toBeInstanceOf(Float32Array);
    expect(values(y)).toEqual(values(batch.x).map((v) => v * 2));
  });

  it('returns every output of a two-output model, each with its own dtype', async () => {
    const runtime = await connect({ model: 'stats' });
    const outputs = await runtime.run({
      values: { dtype: 'int32', dims: [3, 3], data: Int32Array.of(1, 2, 3, -4, 5, 6, 7, 8, 10) },
    });
    expect(outputs.sum).toEqual({ dtype: 'int32', dims: [3], data: Int32Array.of(6, 7, 25) });
    expect(outputs.mean).toEqual({
      dtype: 'float64',
      dims: [3, 1],
      data: Float64Array.of(2, 7 / 3, 25 / 3),
    });
  });

  it('speaks the binary tensor data extension when binary is set', async () => {
    const stats = await connect({ model: 'stats', binary: true });
    const { sum, mean } = await stats.run({
      values: { dtype: 'int32', dims: [2, 3], data: Int32Array.of(1, 2, 3, 2147483600, 40, 7) },
    });
    expect(sum?.data).toEqual(Int32Array.of(6, 2147483647));
    expect(mean?.data).toEqual(Float64Array.of(2, 2147483647 / 3));
    const invert = await connect({ model: 'invert', binary: true });
    const { inverted } = await invert.run({
      pixels: { dtype: 'uint8', dims: [1, 2, 2], data: Uint8Array.of(0, 1, 254, 255) },
    });
    expect(inverted).toEqual({
      dtype: 'uint8',
      dims: [1, 2, 2],
      data: Uint8Array.of(255, 254, 1, 0),
    });
    const scale = await connect({ binary: true });
    const batch = scaleBatch();
    const { y } = await scale.run(batch);
    expect(values(y)).toEqual(values(batch.x).map((v) => v * 2));
    const infers = server.requests.filter((r) => r.route === 'infer');
    expect(infers.map((r) => r.binary)).toEqual([true, true, true]);
  });

  it('addresses the configured version in every model URL, the latest without one', async () => {
    const v1 = await connect({ model: 'multiply', version: '1' });
    expect((await v1.run(scaleBatch())).y?.data[3]).toBe(65504);
    expect(
      server.requests.slice(1).every((r) => r.path.startsWith('/v2/models/multiply/versions/1')),
    ).toBe(true);
    expect(server.requests.at(-1)?.path).toBe('/v2/models/multiply/versions/1/infer');
    const latest = await connect({ model: 'multiply' });
    expect((await latest.run(scaleBatch())).y?.data[3]).toBe(65504 * 3);
    expect(server.requests.at(-1)?.path).toBe('/v2/models/multiply/infer');
  });

  it('sends the configured headers with every request', async () => {
    const runtime = await connect({ headers: { authorization: 'Bearer s3cret' } });
    await runtime.run(scaleBatch());
    expect(server.requests.map((r) => r.headers.authorization)).toEqual(
      Array(4).fill('Bearer s3cret'),
    );
  });

  it('rejects inputs that do not fit the model with E_INVALID_INPUT, sending nothing', async () => {
    const runtime = await connect();
    const x = (dtype: Tensor['dtype'], dims: number[], data: Tensor['data']) => ({
      dtype,
      dims,
      data,
    });
    const bad: Record<string, Tensor>[] = [
      {},
      {
        x: x('float32', [1, 4], new Float32Array(4)),
        extra: x('float32', [1], new Float32Array(1)),
      },
      { x: x('int32', [1, 4], new Int32Array(4)) },
      { x: x('float32', [1, 5], new Float32Array(5)) },
      { x: x('float32', [2, 4], new Float32Array(4)) },
    ];
    for (const inputs of bad) {
      expect((await failure(runtime.run(inputs))).code).toBe('E_INVALID_INPUT');
    }
    expect(server.count('infer')).toBe(0);
  });
});

describe('KServeRuntime failures', () => {
  it('retries 503 and 429 with backoff, then succeeds', async () => {
    const { logger, warnings } = recordingLogger();
    const runtime = await connect({ retries: 3 }, logger);
    server.failNext(2, { status: 503 });
    server.failNext(1, { status: 429 });
    const { y } = await runtime.run(scaleBatch());
    expect(y?.dims).toEqual([2, 4]);
    expect(server.count('infer')).toBe(4);
    expect(warnings.map((w) => w.attempt)).toEqual([1, 2, 3]);
  });

  it('waits as long as Retry-After says before retrying', async () => {
    const clock = new ManualClock();
    const { logger, warnings } = recordingLogger();
    const runtime = await connect({ clock }, logger);
    server.failNext(1, { status: 503, retryAfter: '2' });
    const result = runtime.run(scaleBatch());
    await vi.waitFor(() => expect(warnings).toHaveLength(1));
    expect(warnings[0]).toMatchObject({ delayMs: 2000, attempt: 1 });
    clock.advance(1999);
    expect(clock.pendingTimers).toBe(1);
    expect(server.count('infer')).toBe(1);
    clock.advance(1);
    expect((await result).y?.dims).toEqual([2, 4]);
    expect(server.count('infer')).toBe(2);
  });

  it('caps Retry-After at maxRetryDelayMs', async () => {
    const { logger, warnings } = recordingLogger();
    const runtime = await connect({ maxRetryDelayMs: 5 }, logger);
    server.failNext(1, { status: 503, retryAfter: '3600' });
    await runtime.run(scaleBatch());
    expect(warnings[0]).toMatchObject({ delayMs: 5 });
  });

  it('gives up after `retries` with E_BACKEND_UNAVAILABLE naming the server and model', async () => {
    const runtime = await connect({ retries: 2 });
    server.failNext(10, { status: 503, error: 'overloaded' });
    const err = await failure(runtime.run(scaleBatch()));
    expect(err.code).toBe('E_BACKEND_UNAVAILABLE');
    expect(err.message).toContain(`KServe model "scale" at ${server.url}`);
    expect(err.message).toContain('after 3 attempts: HTTP 503: overloaded');
    expect(err.context).toMatchObject({
      url: server.url,
      model: 'scale',
      status: 503,
      attempts: 3,
    });
    expect(server.count('infer')).toBe(3);
  });

  it('fails a request that outlives timeoutMs with E_TIMEOUT, without retrying', async () => {
    const clock = new ManualClock();
    const runtime = await connect({ clock, timeoutMs: 250 });
    server.delayNext(1, 60_000);
    const settled = failure(runtime.run(scaleBatch()));
    await vi.waitFor(() => expect(server.count('infer')).toBe(1));
    clock.advance(250);
    const err = await settled;
    expect(err.code).toBe('E_TIMEOUT');
    expect(err.message).toContain('POST /v2/models/scale/infer within timeoutMs (250 ms)');
    expect(err.context).toMatchObject({ timeoutMs: 250, model: 'scale' });
    expect(server.count('infer')).toBe(1);
  });

  it('reports a closed port as E_BACKEND_UNAVAILABLE after retries', async () => {
    const gone = await KServeTestServer.start([]);
    await gone.close();
    const err = await failure(connect({ url: gone.url, retries: 2 }));
    expect(err.code).toBe('E_BACKEND_UNAVAILABLE');
    expect(err.message).toContain('after 3 attempts: connection failed (ECONNREFUSED)');
    expect(err.context).toMatchObject({ url: gone.url, attempts: 3 });
  });

  it('reports a server that went away before run as E_BACKEND_UNAVAILABLE', async () => {
    const runtime = await connect({ retries: 1 });
    await server.close();
    const err = await failure(runtime.run(scaleBatch()));
    expect(err.code).toBe('E_BACKEND_UNAVAILABLE');
    expect(err.cause).toBeDefined();
  });

  it.each([400, 500])(
    'reports HTTP %i with the server error as E_BACKEND_FAILED, not retried',
    async (status) => {
      const runtime = await connect();
      server.failNext(1, { status, error: "input 'x': unexpected shape [2, 4]" });
      const err = await failure(runtime.run(scaleBatch()));
      expect(err.code).toBe('E_BACKEND_FAILED');
      expect(err.message).toContain(`with HTTP ${status}: input 'x': unexpected shape [2, 4]`);
      expect(err.context).toMatchObject({
        status,
        serverError: "input 'x': unexpected shape [2, 4]",
      });
      expect(server.count('infer')).toBe(1);
    },
  );

  const y = (fields: object) => ({ model_name: 'scale', outputs: [{ name: 'y', ...fields }] });
  it.each([
    ['a body that is not JSON', '<html>502 Bad Gateway</html>', 'as JSON'],
    ['a missing field', y({ shape: [2, 4] }), 'outputs.0.datatype should be string'],
    [
      'a missing output',
      { model_name: 'scale', outputs: [] },
      'expected output "y", received outputs []',
    ],
    [
      'too few values',
      y({ datatype: 'FP32', shape: [2, 4], data: [1, 2, 3] }),
      'expected 8 values for output "y", received 3 values',
    ],
    [
      'another batch size',
      y({ datatype: 'FP32', shape: [3, 4], data: Array(12).fill(0) }),
      'batch size 2',
    ],
    [
      'another datatype',
      y({ datatype: 'INT32', shape: [2, 4], data: Array(8).fill(0) }),
      'datatype FP32, received INT32',
    ],
    [
      'a value that is not a number',
      y({ datatype: 'FP32', shape: [2, 4], data: [1, 2, 'x', 4, 5, 6, 7, 8] }),
      'string at index 2',
    ],
  ])('reports %s as E_BACKEND_FAILED saying what was expected', async (_, body, expected) => {
    const runtime = await connect();
    server.malformNext(1, body);
    const err = await failure(runtime.run(scaleBatch()));
    expect(err.code).toBe('E_BACKEND_FAILED');
    expect(err.message).toContain(
      `KServe model "scale" at ${server.url} sent a malformed response`,
    );
    expect(err.message).toContain(expected);
  });
});

describe('KServeRuntime options and lifecycle', () => {
  it.each([
    ['url', { model: 'scale' }],
    ['url', { url: 'ftp://example.com', model: 'scale' }],
    ['model', { url: 'http://127.0.0.1:1', model: '' }],
    ['retries', { url: 'http://127.0.0.1:1', model: 'scale', retries: -1 }],
    ['timeoutMs', { url: 'http://127.0.0.1:1', model: 'scale', timeoutMs: 0 }],
    ['retry', { url: 'http://127.0.0.1:1', model: 'scale', retry: 3 }],
  ])('rejects a bad %s with E_INVALID_OPTIONS before any request', async (path, options) => {
    const err = await failure(KServeRuntime.create(options as KServeRuntimeOptions));
    expect(err.code).toBe('E_INVALID_OPTIONS');
    expect(err.message).toContain(`  - ${path}: expected`);
    expect(server.count()).toBe(0);
  });

  it('disposes idempotently; run afterwards throws E_CLOSED', async () => {
    const runtime = await connect();
    await runtime.dispose();
    await runtime.dispose();
    const err = await failure(runtime.run(scaleBatch()));
    expect(err.code).toBe('E_CLOSED');
    expect(err.message).toContain('KServeRuntime.run()');
    expect(server.count('infer')).toBe(0);
  });

  it('aborts a request in flight on dispose with E_CLOSED', async () => {
    const runtime = await connect();
    server.delayNext(1, 60_000);
    const settled = failure(runtime.run(scaleBatch()));
    await vi.waitFor(() => expect(server.count('infer')).toBe(1));
    await runtime.dispose();
    expect((await settled).code).toBe('E_CLOSED');
  });

  it('is created by its default export from structured-cloned options, as in a worker', async () => {
    const options = structuredClone({ url: server.url, model: 'stats' });
    const runtime = await createKServeRuntime(options, {
      instance: 2,
      label: 'stats',
      logger: silentLogger,
    });
    runtimes.push(runtime);
    expect(runtime).toBeInstanceOf(KServeRuntime);
    expect(runtime.outputs.map((o) => o.name)).toEqual(['sum', 'mean']);
  });
});
