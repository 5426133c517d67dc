/**
 * The KServe v2 / Open Inference Protocol on the wire, as Triton and KServe speak it over HTTP:
 * datatypes, metadata, and the JSON and binary-tensor (Triton extension) encodings of a batch.
 * Every failure is built by {@link KServeErrors} so each names the server and the model.
 */
import { z } from 'zod';
import {
  BackendFailedError,
  BackendUnavailableError,
  InvalidInputError,
  InvalidTypeError,
  NotFoundError,
  TimeoutError,
} from '../../core/errors.js';
import { toOptionIssues } from '../../core/options.js';
import { hasFloat16Array, resolveDType } from '../../memory/dtypes.js';
import type { DType } from '../../memory/index.js';
import { elementCount, type Tensor, type TensorSpec } from '../tensor.js';

/** Builds every error KServeRuntime throws, so each one names the server and the model. */
export class KServeErrors {
  readonly #target: string;
  readonly #context: Readonly<Record<string, unknown>>;

  constructor(url: string, model: string, version: string | undefined) {
    const versioned = version === undefined ? '' : ` version "${version}"`;
    this.#target = `KServe model "${model}"${versioned} at ${url}`;
    this.#context = { url, model, version };
  }

  /** Unreachable, or still refusing (503, 429, not ready) after every attempt. */
  unavailable(reason: string, attempts: number, extra: Record<string, unknown>, cause?: unknown) {
    const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
    return new BackendUnavailableError(`${this.#target} is unavailable after ${tries}: ${reason}`, {
      cause,
      context: { ...this.#context, attempts, ...extra },
    });
  }

  timeout(timeoutMs: number, endpoint: string) {
    return new TimeoutError(
      `${this.#target} did not answer ${endpoint} within timeoutMs (${timeoutMs} ms)`,
      { context: { ...this.#context, endpoint, timeoutMs } },
    );
  }

  /** The server answered with an error status that retrying will not change. */
  failed(status: number, serverError: string, endpoint: string) {
    return new BackendFailedError(
      `${this.#target} failed ${endpoint} with HTTP ${status}: ${serverError}`,
      { context: { ...this.#context, endpoint, status, serverError } },
    );
  }

  malformed(expected: string, received: string, cause?: unknown) {
    return new BackendFailedError(
      `${this.#target} sent a malformed response: expected ${expected}, received ${received}`,
      { cause, context: { ...this.#context, expected, received } },
    );
  }

  notFound(status: number, serverError: string) {
    return new NotFoundError(`${this.#target} does not exist (HTTP ${status}): ${serverError}`, {
      context: { ...this.#context, status, serverError },
    });
  }

  unsupportedType(tensor: string, datatype: string, hint: string) {
    return new InvalidTypeError(
      `${this.#target}: tensor "${tensor}" has datatype ${datatype}, which salama cannot hold (${hint})`,
      { context: { ...this.#context, tensor, datatype } },
    );
  }

  invalidInput(problem: string) {
    return new InvalidInputError(`${this.#target}: ${problem}`, { context: { ...this.#context } });
  }
}

/** Each dtype's protocol datatype; element sizes and typed arrays come from salama's dtype table. */
const WIRE: Readonly<Record<DType, string>> = {
  float32: 'FP32',
  float64: 'FP64',
  float16: 'FP16',
  int32: 'INT32',
  uint8: 'UINT8',
};
const DTYPES = new Map(Object.entries(WIRE).map(([dtype, wire]) => [wire, dtype as DType]));

const metadataTensor = z.object({
  name: z.string(),
  datatype: z.string(),
  shape: z.array(z.number().int()),
});
/** `GET /v2/models/{name}[/versions/{v}]`: the fields salama reads. */
export const modelMetadataSchema = z.object({
  name: z.string(),
  inputs: z.array(metadataTensor),
  outputs: z.array(metadataTensor),
});
const responseOutput = z.object({
  name: z.string(),
  datatype: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  data: z.array(z.unknown()).optional(),
  parameters: z.object({ binary_data_size: z.number().int().nonnegative().optional() }).optional(),
});
/** `POST .../infer` response: the fields salama reads. */
const inferenceResponseSchema = z.object({ outputs: z.array(responseOutput) });

/**
 * Parses a JSON body against `schema`, or throws `E_BACKEND_FAILED` saying which field was
 * wrong: a server that answers 200 with something else is broken, not unreachable.
 */
export function parseBody<S extends z.ZodType>(
  schema: S,
  body: Uint8Array,
  what: string,
  errors: KServeErrors,
): z.output<S> {
  const text = new TextDecoder().decode(body);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw errors.malformed(`${what} as JSON`, `"${text.slice(0, 80)}"`, cause);
  }
  const result = schema.safeParse(json, { reportInput: true });
  if (result.success) return result.data;
  const issues = toOptionIssues(result.error.issues).map(
    (i) => `${i.path} should be ${i.expected} but is ${i.received}`,
  );
  throw errors.malformed(what, issues.join('; '), result.error);
}

/**
 * Per-item specs from metadata: the leading batch dimension is dropped (batching models declare
 * it, as -1 or a number) and every other -1 becomes `null` (any size).
 */
export function tensorSpecs(
  tensors: readonly z.output<typeof metadataTensor>[],
  errors: KServeErrors,
): TensorSpec[] {
  return tensors.map(({ name, datatype, shape }) => {
    const dtype = DTYPES.get(datatype);
    if (!dtype) {
      throw errors.unsupportedType(name, datatype, `supported: ${[...DTYPES.keys()].join(', ')}`);
    }
    return { name, dtype, dims: shape.slice(1).map((d) => (d < 0 ? null : d)) };
  });
}

/** A request body ready for `fetch`, and the headers that describe it. */
export interface EncodedRequest {
  readonly body: string | Uint8Array;
  readonly headers: Record<string, string>;
}

/**
 * Encodes a batch as an inference request asking for `outputs`. With `binary`, tensor bytes
 * follow the JSON header (little-endian, as the extension and every platform Node runs on use).
 */
export function encodeRequest(
  inputs: readonly (readonly [string, Tensor])[],
  outputs: readonly TensorSpec[],
  binary: boolean,
): EncodedRequest {
  const header = {
    inputs: inputs.map(([name, t]) => ({
      name,
      shape: t.dims,
      datatype: WIRE[t.dtype],
      ...(binary
        ? { parameters: { binary_data_size: t.data.byteLength } }
        : { data: Array.from(t.data) }),
    })),
    outputs: outputs.map(({ name }) =>
      binary ? { name, parameters: { binary_data: true } } : { name },
    ),
  };
  const json = JSON.stringify(header);
  if (!binary) return { body: json, headers: { 'content-type': 'application/json' } };
  const head = Buffer.from(json);
  const parts = inputs.map(
    ([, t]) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  );
  return {
    body: Buffer.concat([head, ...parts]),
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(head.byteLength),
    },
  };
}

/**
 * Decodes an inference response into one tensor per expected output, checking each is present,
 * has the declared dtype, `batchSize` rows and as many values as its shape says.
 * `headerLengthHeader` is the `Inference-Header-Content-Length` of a binary response, if any.
 */
export function decodeResponse(
  body: Uint8Array,
  headerLengthHeader: string | null,
  expected: readonly TensorSpec[],
  batchSize: number,
  errors: KServeErrors,
): Record<string, Tensor> {
  const headerLength = headerLengthHeader === null ? undefined : Number(headerLengthHeader);
  if (headerLength !== undefined && !(Number.isInteger(headerLength) && headerLength >= 0)) {
    throw errors.malformed(
      'a byte count in Inference-Header-Content-Length',
      headerLengthHeader ?? '',
    );
  }
  const json = headerLength === undefined ? body : body.subarray(0, headerLength);
  const response = parseBody(inferenceResponseSchema, json, 'an inference response', errors);
  const chunks = new Map<string, Uint8Array>();
  let offset = headerLength ?? body.byteLength;
  for (const output of response.outputs) {
    const size = output.parameters?.binary_data_size;
    if (size === undefined) continue;
    if (offset + size > body.byteLength) {
      throw errors.malformed(
        `${size} bytes of binary data for output "${output.name}"`,
        `${body.byteLength - offset} bytes left in the body`,
      );
    }
    chunks.set(output.name, body.subarray(offset, offset + size));
    offset += size;
  }
  const byName = new Map(response.outputs.map((o) => [o.name, o]));
  const decoded: Record<string, Tensor> = {};
  for (const spec of expected) {
    const output = byName.get(spec.name);
    if (!output) {
      throw errors.malformed(`output "${spec.name}"`, `outputs [${[...byName.keys()].join(', ')}]`);
    }
    const where = `output "${spec.name}"`;
    if (DTYPES.get(output.datatype) !== spec.dtype) {
      throw errors.malformed(`${where} of datatype ${WIRE[spec.dtype]}`, output.datatype);
    }
    if (output.shape[0] !== batchSize) {
      throw errors.malformed(
        `${where} with batch size ${batchSize} (the input's)`,
        `shape [${output.shape.join(', ')}]`,
      );
    }
    const length = elementCount(output.shape);
    const chunk = chunks.get(spec.name);
    const data = chunk
      ? fromBytes(spec, chunk, length, errors)
      : fromJson(spec, length, errors, output.data);
    decoded[spec.name] = { dtype: spec.dtype, dims: output.shape, data };
  }
  return decoded;
}

function allocate(spec: TensorSpec, buffer: ArrayBufferLike, length: number, errors: KServeErrors) {
  if (spec.dtype === 'float16' && !hasFloat16Array) {
    throw errors.unsupportedType(spec.name, 'FP16', 'it needs Float16Array, Node.js 24+');
  }
  return new (resolveDType(spec.dtype).View)(buffer, 0, length);
}

function fromBytes(spec: TensorSpec, chunk: Uint8Array, length: number, errors: KServeErrors) {
  const bytes = length * bytesPerElement(spec.dtype);
  if (chunk.byteLength !== bytes) {
    throw errors.malformed(
      `${bytes} bytes for output "${spec.name}" (${length} values)`,
      `${chunk.byteLength} bytes`,
    );
  }
  // slice() copies into a fresh, aligned ArrayBuffer; the body's own offsets may be unaligned.
  return allocate(spec, chunk.slice().buffer, length, errors);
}

function fromJson(spec: TensorSpec, length: number, errors: KServeErrors, data?: unknown[]) {
  // The protocol allows nested row arrays; servers send flat ones, so flatten only when needed.
  const flat =
    data !== undefined && Array.isArray(data[0]) ? data.flat(Number.POSITIVE_INFINITY) : data;
  if (flat?.length !== length) {
    throw errors.malformed(
      `${length} values for output "${spec.name}"`,
      flat === undefined ? 'no data' : `${flat.length} values`,
    );
  }
  const out = allocate(spec, new ArrayBuffer(length * bytesPerElement(spec.dtype)), length, errors);
  for (let i = 0; i < length; i++) {
    const value = flat[i];
    if (typeof value !== 'number') {
      throw errors.malformed(`numbers in output "${spec.name}"`, `${typeof value} at index ${i}`);
    }
    out[i] = value;
  }
  return out;
}

/** Bytes per element of a dtype (float16 is 2 even where the runtime has no Float16Array). */
function bytesPerElement(dtype: DType): number {
  return dtype === 'float16' ? 2 : resolveDType(dtype).bytesPerElement;
}
