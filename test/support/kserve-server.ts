/**
 * A real KServe v2 / Open Inference Protocol server on node:http for tests: health, model
 * metadata and readiness, and inference in JSON or with Triton's binary tensor data extension,
 * over models whose compute is a JS function. Faults (error statuses, delays, malformed bodies,
 * not-ready) are injected per route, and every request is recorded so tests can count retries.
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/** A batch tensor as a served model sees it: the shape has the batch first, values are flat. */
export interface WireTensor {
  readonly shape: readonly number[];
  readonly data: readonly number[];
}

/** One input or output as the model's metadata declares it (the batch dimension included). */
export interface ServedTensor {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
}

/** A model the server serves. */
export interface ServedModel {
  readonly name: string;
  /** Versions served; a request without a version gets the last one. @default ['1'] */
  readonly versions?: readonly string[];
  readonly inputs: readonly ServedTensor[];
  readonly outputs: readonly ServedTensor[];
  compute(inputs: Record<string, WireTensor>, version: string): Record<string, WireTensor>;
}

/** Which endpoint a request addressed. */
export type Route = 'health' | 'metadata' | 'model-ready' | 'infer';

/** A request the server received. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly route: Route | 'unknown';
  /** Whether the body used the binary tensor data extension. */
  readonly binary: boolean;
  readonly headers: IncomingHttpHeaders;
}

type Fault = { readonly route: Route } & (
  | { readonly kind: 'status'; status: number; error: string; retryAfter?: string }
  | { readonly kind: 'delay'; ms: number }
  | { readonly kind: 'body'; body: string }
);

type Read = (b: Buffer, at: number) => number;
type Write = (b: Buffer, x: number, at: number) => number;
/** Little-endian element codecs (bytes, read, write) of the datatypes the server computes with. */
const CODECS: Record<string, [bytes: number, read: Read, write: Write]> = {
  FP32: [4, (b, at) => b.readFloatLE(at), (b, x, at) => b.writeFloatLE(x, at)],
  FP64: [8, (b, at) => b.readDoubleLE(at), (b, x, at) => b.writeDoubleLE(x, at)],
  INT32: [4, (b, at) => b.readInt32LE(at), (b, x, at) => b.writeInt32LE(x, at)],
  UINT8: [1, (b, at) => b.readUInt8(at), (b, x, at) => b.writeUInt8(x, at)],
};

/** An answer to a request. */
interface Reply {
  readonly status: number;
  readonly body: string | Buffer;
  readonly headers?: Record<string, string>;
}

interface InferRequest {
  inputs: (ServedTensor & { data?: unknown[]; parameters?: { binary_data_size?: number } })[];
  outputs?: { name: string; parameters?: { binary_data?: boolean } }[];
  parameters?: { binary_data_output?: boolean };
}

const json = (status: number, value: unknown, headers: Record<string, string> = {}): Reply => ({
  status,
  body: typeof value === 'string' ? value : JSON.stringify(value),
  headers: { 'content-type': 'application/json', ...headers },
});

const MODEL_PATH = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?$/;

function routeOf(path: string): { route: Route | 'unknown'; name?: string; version?: string } {
  if (path === '/v2/health/ready') return { route: 'health' };
  const match = MODEL_PATH.exec(path);
  if (!match) return { route: 'unknown' };
  const [, name = '', version, action] = match;
  const route = action === '/infer' ? 'infer' : action ? 'model-ready' : 'metadata';
  const decoded = version === undefined ? undefined : decodeURIComponent(version);
  return { route, name: decodeURIComponent(name), version: decoded };
}

/** The KServe v2 server tests talk to. Start with {@link KServeTestServer.start}. */
export class KServeTestServer {
  /** Every request received, in order. */
  readonly requests: RecordedRequest[] = [];
  /** While false, `GET /v2/health/ready` answers 503. */
  ready = true;
  readonly #models: Map<string, ServedModel>;
  readonly #faults: Fault[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => this.#handle(req, Buffer.concat(chunks), res));
  });
  #url = '';

  private constructor(models: readonly ServedModel[]) {
    this.#models = new Map(models.map((m) => [m.name, m]));
  }

  /** Starts a server on a free port of 127.0.0.1 serving `models`. */
  static async start(models: readonly ServedModel[]): Promise<KServeTestServer> {
    const server = new KServeTestServer(models);
    await new Promise<void>((resolve) => server.#server.listen(0, '127.0.0.1', resolve));
    server.#url = `http://127.0.0.1:${(server.#server.address() as AddressInfo).port}`;
    return server;
  }

  /** Base URL, such as `http://127.0.0.1:40123`. */
  get url(): string {
    return this.#url;
  }

  /** How many requests addressed `route` (every request when omitted). */
  count(route?: Route): number {
    return this.requests.filter((r) => route === undefined || r.route === route).length;
  }

  /** Answers the next `count` requests to `route` with `status` and a KServe error body. */
  failNext(
    count: number,
    fault: { status?: number; error?: string; retryAfter?: string; route?: Route } = {},
  ): void {
    const { status = 503, error = 'injected failure', retryAfter, route = 'infer' } = fault;
    for (let i = 0; i < count; i++) {
      this.#faults.push({ kind: 'status', route, status, error, retryAfter });
    }
  }

  /** Holds the next `count` responses to `route` for `ms` before answering normally. */
  delayNext(count: number, ms: number, route: Route = 'infer'): void {
    for (let i = 0; i < count; i++) this.#faults.push({ kind: 'delay', route, ms });
  }

  /** Answers the next `count` requests to `route` with 200 and `body` (JSON unless a string). */
  malformNext(count: number, body: unknown, route: Route = 'infer'): void {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    for (let i = 0; i < count; i++) this.#faults.push({ kind: 'body', route, body: text });
  }

  /** Stops listening and drops every open connection and delayed response. */
  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    if (!this.#server.listening) return;
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #handle(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const { method = 'GET', url: path = '/', headers } = req;
    const target = routeOf(path);
    const binary = headers['inference-header-content-length'] !== undefined;
    this.requests.push({ method, path, route: target.route, binary, headers });
    const index = this.#faults.findIndex((f) => f.route === target.route);
    const fault = index < 0 ? undefined : this.#faults.splice(index, 1)[0];
    const answer = () => {
      let reply: Reply;
      if (fault?.kind === 'status') {
        const retry: Record<string, string> = {};
        if (fault.retryAfter !== undefined) retry['retry-after'] = fault.retryAfter;
        reply = json(fault.status, { error: fault.error }, retry);
      } else if (fault?.kind === 'body') {
        reply = json(200, fault.body);
      } else {
        try {
          reply = this.#reply(target, method, headers, body);
        } catch (error) {
          // Like Triton, any request the server cannot serve is a 400 with the reason.
          reply = json(400, { error: error instanceof Error ? error.message : String(error) });
        }
      }
      res.writeHead(reply.status, reply.headers).end(reply.body);
    };
    if (fault?.kind !== 'delay') {
      answer();
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!res.destroyed) answer();
    }, fault.ms);
    this.#timers.add(timer);
  }

  #reply(
    target: ReturnType<typeof routeOf>,
    method: string,
    headers: IncomingHttpHeaders,
    body: Buffer,
  ): Reply {
    const { route, name = '', version: requested } = target;
    if (route === 'health') {
      return this.ready ? json(200, {}) : json(503, { error: 'server is not ready' });
    }
    if (route === 'unknown') return json(404, { error: `no route for ${method}` });
    const model = this.#models.get(name);
    const versions = model?.versions ?? ['1'];
    const version = requested ?? versions.at(-1) ?? '1';
    if (!model || !versions.includes(version)) {
      const which = requested === undefined ? '' : ` version ${requested}`;
      throw new Error(`Request for unknown model: '${name}'${which} is not found`);
    }
    if (route === 'model-ready') return json(200, {});
    if (route === 'metadata') {
      const { inputs, outputs } = model;
      return json(200, { name, versions, platform: 'salama-test', inputs, outputs });
    }
    const headerLength = Number(headers['inference-header-content-length'] ?? body.byteLength);
    return infer(model, version, headerLength, body);
  }
}

function infer(model: ServedModel, version: string, headerLength: number, body: Buffer): Reply {
  const request = JSON.parse(body.subarray(0, headerLength).toString()) as InferRequest;
  let offset = headerLength;
  const inputs: Record<string, WireTensor> = {};
  for (const input of request.inputs) {
    const spec = model.inputs.find((i) => i.name === input.name);
    if (spec?.datatype !== input.datatype) {
      throw new Error(`unexpected input '${input.name}' of datatype ${input.datatype}`);
    }
    const size = input.parameters?.binary_data_size;
    const data =
      size === undefined
        ? (input.data ?? []).flat(Number.POSITIVE_INFINITY)
        : decode(input.datatype, body.subarray(offset, offset + size));
    offset += size ?? 0;
    if (data.length !== input.shape.reduce((a, b) => a * b, 1)) {
      throw new Error(`input '${input.name}': shape and data disagree`);
    }
    inputs[input.name] = { shape: input.shape, data: data as number[] };
  }
  const results = model.compute(inputs, version);
  const blobs: Buffer[] = [];
  const outputs = (request.outputs ?? model.outputs).map((requested) => {
    const spec = model.outputs.find((o) => o.name === requested.name);
    const result = results[requested.name];
    if (!spec || !result) throw new Error(`unknown output '${requested.name}'`);
    const head = { name: spec.name, shape: result.shape, datatype: spec.datatype };
    const asBinary = 'parameters' in requested && requested.parameters?.binary_data;
    if (!(asBinary || request.parameters?.binary_data_output)) {
      return { ...head, data: result.data };
    }
    const blob = encode(spec.datatype, result.data);
    blobs.push(blob);
    return { ...head, parameters: { binary_data_size: blob.byteLength } };
  });
  const response = { model_name: model.name, model_version: version, outputs };
  if (blobs.length === 0) return json(200, response);
  const head = Buffer.from(JSON.stringify(response));
  return {
    status: 200,
    body: Buffer.concat([head, ...blobs]),
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(head.byteLength),
    },
  };
}

function codec(datatype: string) {
  const found = CODECS[datatype];
  if (!found) throw new Error(`the test server cannot compute with ${datatype}`);
  return found;
}

function decode(datatype: string, bytes: Buffer): number[] {
  const [size, read] = codec(datatype);
  return Array.from({ length: bytes.byteLength / size }, (_, i) => read(bytes, i * size));
}

function encode(datatype: string, values: readonly number[]): Buffer {
  const [size, , write] = codec(datatype);
  const out = Buffer.alloc(values.length * size);
  for (const [i, value] of values.entries()) write(out, value, i * size);
  return out;
}
