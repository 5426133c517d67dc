/**
 * An {@link InferenceRuntime} that runs batches on a remote KServe v2 / Open Inference Protocol
 * server (NVIDIA Triton, KServe, Seldon MLServer) over HTTP with Node's global `fetch`.
 */
import { z } from 'zod';
import { type Clock, sleep, systemClock } from '../../core/clock.js';
import { Lifecycle } from '../../core/lifecycle.js';
import { type Logger, silentLogger } from '../../core/logger.js';
import { commonOptionSchemas, parseOptions } from '../../core/options.js';
import type { InferenceRuntime, RuntimeContext, RuntimeFactory } from '../runtime.js';
import { elementCount, type Tensor, type TensorSpec } from '../tensor.js';
import {
  decodeResponse,
  type EncodedRequest,
  encodeRequest,
  KServeErrors,
  modelMetadataSchema,
  parseBody,
  tensorSpecs,
} from './kserve-protocol.js';

const schema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }),
    model: z.string().min(1),
    version: z.string().min(1).optional(),
    timeoutMs: z.number().int().positive().default(10_000),
    retries: z.number().int().nonnegative().default(3),
    retryDelayMs: z.number().int().nonnegative().default(100),
    maxRetryDelayMs: z.number().int().nonnegative().default(5_000),
    headers: z.record(z.string(), z.string()).optional(),
    binary: z.boolean().default(false),
    clock: commonOptionSchemas.clock.optional(),
  })
  .strict();

/** Options of {@link KServeRuntime}. All but `clock` survive structured clone to a worker. */
export interface KServeRuntimeOptions {
  /** Base URL of the server, without `/v2` (`http://triton:8000`). Required. */
  url: string;
  /** Name of the model on the server. Required. */
  model: string;
  /** Model version to address (`/versions/{version}`). @default the server's choice */
  version?: string;
  /** Time limit of each HTTP request in milliseconds; timeouts are not retried. @default 10000 */
  timeoutMs?: number;
  /** Extra attempts after a 503, 429, connection error or (in `create`) not-ready. @default 3 */
  retries?: number;
  /**
   * Base of the exponential backoff between attempts, in milliseconds, with full jitter: the
   * wait before retry `n` is uniform in `[0, retryDelayMs * 2^n)`. A `Retry-After` header
   * replaces it.
   * @default 100
   */
  retryDelayMs?: number;
  /** Longest wait between attempts in ms; caps backoff and `Retry-After`. @default 5000 */
  maxRetryDelayMs?: number;
  /** Headers sent with every request, such as `authorization`. @default none */
  headers?: Record<string, string>;
  /**
   * Send and receive tensors with Triton's binary tensor data extension (raw little-endian
   * bytes after the JSON header) instead of JSON number arrays. Triton and KServe support it.
   * @default false
   */
  binary?: boolean;
  /** Time source for timeouts and backoff. @default systemClock */
  clock?: Clock;
}

type Parsed = Readonly<z.output<typeof schema>>;
interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Uint8Array;
}
type Outcome = Reply | { readonly error: unknown };

const RETRY_STATUSES = new Set([429, 503]);
const NOT_FOUND_TEXT = /not found|unknown model|does not exist/i;

/** Runs batches of one model on a KServe v2 / Triton server; see {@link KServeRuntime.create}. */
export class KServeRuntime implements InferenceRuntime {
  readonly provider = 'kserve';
  readonly #options: Parsed;
  readonly #base: string;
  readonly #modelPath: string;
  readonly #errors: KServeErrors;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #aborter = new AbortController();
  readonly #lifecycle = new Lifecycle('KServeRuntime', () => this.#aborter.abort());
  #inputs: readonly TensorSpec[] = [];
  #outputs: readonly TensorSpec[] = [];

  private constructor(options: Parsed, logger: Logger) {
    this.#options = options;
    this.#base = options.url.replace(/\/+$/, '');
    const model = `/v2/models/${encodeURIComponent(options.model)}`;
    const version = options.version;
    this.#modelPath = version ? `${model}/versions/${encodeURIComponent(version)}` : model;
    this.#errors = new KServeErrors(this.#base, options.model, version);
    this.#logger = logger;
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * Connects to the server: waits (within `retries`) for server and model readiness and reads
   * the model's metadata. Throws `E_NOT_FOUND` when the server does not serve the model.
   */
  static async create(
    options: KServeRuntimeOptions,
    context?: RuntimeContext,
  ): Promise<KServeRuntime> {
    const parsed = parseOptions('KServeRuntime', schema, options);
    const runtime = new KServeRuntime(parsed, context?.logger ?? silentLogger);
    await runtime.#connect();
    return runtime;
  }

  /** The model's inputs, per item (the batch dimension dropped). */
  get inputs(): readonly TensorSpec[] {
    return this.#inputs;
  }

  /** The model's outputs, per item (the batch dimension dropped). */
  get outputs(): readonly TensorSpec[] {
    return this.#outputs;
  }

  async run(inputs: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>> {
    this.#lifecycle.assertOpen('run');
    const { entries, batchSize } = this.#checkInputs(inputs);
    const request = encodeRequest(entries, this.#outputs, this.#options.binary);
    const endpoint = `POST ${this.#modelPath}/infer`;
    const response = this.#expectOk(await this.#send(endpoint, request), endpoint);
    const headerLength = response.headers.get('inference-header-content-length');
    return decodeResponse(response.body, headerLength, this.#outputs, batchSize, this.#errors);
  }

  /** Aborts requests in flight (they reject with `E_CLOSED`); later calls do nothing. */
  dispose(): Promise<void> {
    return this.#lifecycle.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  async #connect(): Promise<void> {
    const health = 'GET /v2/health/ready';
    this.#expectOk(await this.#send(health, undefined, true), health);
    const endpoint = `GET ${this.#modelPath}`;
    const reply = await this.#send(endpoint);
    const text = serverError(reply.body);
    // Triton answers 400 for an unknown model, KServe and MLServer 404.
    if (reply.status === 404 || (reply.status === 400 && NOT_FOUND_TEXT.test(text))) {
      throw this.#errors.notFound(reply.status, text);
    }
    const body = this.#expectOk(reply, endpoint).body;
    const metadata = parseBody(modelMetadataSchema, body, 'model metadata', this.#errors);
    this.#inputs = Object.freeze(tensorSpecs(metadata.inputs, this.#errors));
    this.#outputs = Object.freeze(tensorSpecs(metadata.outputs, this.#errors));
    const ready = `GET ${this.#modelPath}/ready`;
    this.#expectOk(await this.#send(ready, undefined, true), ready);
  }

  #checkInputs(inputs: Readonly<Record<string, Tensor>>) {
    const names = Object.keys(inputs);
    const expected = this.#inputs.map((spec) => spec.name);
    if (names.length !== expected.length || expected.some((name) => !(name in inputs))) {
      throw this.#errors.invalidInput(`expected inputs [${expected}], received [${names}]`);
    }
    let batchSize: number | undefined;
    const entries = this.#inputs.map((spec) => {
      const tensor = inputs[spec.name] as Tensor;
      const [rows, ...item] = tensor.dims;
      const fits =
        tensor.dtype === spec.dtype &&
        item.length === spec.dims.length &&
        spec.dims.every((d, i) => d === null || d === item[i]) &&
        tensor.data.length === elementCount(tensor.dims);
      if (!fits || rows === undefined || (batchSize !== undefined && rows !== batchSize)) {
        const want = `${spec.dtype} [batch, ${spec.dims.map((d) => d ?? 'any')}]`;
        const got = `${tensor.dtype} [${tensor.dims}] with ${tensor.data.length} values`;
        throw this.#errors.invalidInput(
          `input "${spec.name}" expected ${want} with the batch size of the other inputs, received ${got}`,
        );
      }
      batchSize = rows;
      return [spec.name, tensor] as const;
    });
    return { entries, batchSize: batchSize ?? 0 };
  }

  /** Sends with retries; returns the first reply that is not worth retrying. */
  async #send(endpoint: string, request?: EncodedRequest, probe = false): Promise<Reply> {
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.#attempt(endpoint, request);
      if ('status' in outcome && !RETRY_STATUSES.has(outcome.status)) {
        if (!probe || outcome.status === 200) return outcome;
      }
      const reason = describeOutcome(outcome, probe);
      if (attempt >= this.#options.retries) {
        const cause = 'error' in outcome ? outcome.error : undefined;
        const status = 'status' in outcome ? outcome.status : undefined;
        throw this.#errors.unavailable(reason, attempt + 1, { endpoint, status }, cause);
      }
      const delayMs = this.#delayMs(attempt, 'status' in outcome ? outcome.headers : undefined);
      this.#logger.warn({ endpoint, attempt: attempt + 1, delayMs, reason }, 'KServe retry');
      try {
        await sleep(this.#clock, delayMs, this.#aborter.signal);
      } catch {
        this.#lifecycle.assertOpen('run');
      }
    }
  }

  async #attempt(endpoint: string, request: EncodedRequest | undefined): Promise<Outcome> {
    const [method, path] = endpoint.split(' ') as [string, string];
    const controller = new AbortController();
    let timedOut = false;
    const timer = this.#clock.setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.#options.timeoutMs);
    const onClose = () => controller.abort();
    this.#aborter.signal.addEventListener('abort', onClose, { once: true });
    try {
      const response = await fetch(`${this.#base}${path}`, {
        method,
        headers: { ...this.#options.headers, ...request?.headers },
        body: request?.body,
        signal: controller.signal,
      });
      const body = new Uint8Array(await response.arrayBuffer());
      return { status: response.status, headers: response.headers, body };
    } catch (error) {
      this.#lifecycle.assertOpen('run');
      if (timedOut) throw this.#errors.timeout(this.#options.timeoutMs, endpoint);
      return { error };
    } finally {
      this.#clock.clearTimer(timer);
      this.#aborter.signal.removeEventListener('abort', onClose);
    }
  }

  #expectOk(reply: Reply, endpoint: string): Reply {
    if (reply.status >= 200 && reply.status < 300) return reply;
    throw this.#errors.failed(reply.status, serverError(reply.body), endpoint);
  }

  /** Full-jitter exponential backoff, or the server's `Retry-After`; both capped. */
  #delayMs(attempt: number, headers: Headers | undefined): number {
    const { retryDelayMs, maxRetryDelayMs } = this.#options;
    const hinted = retryAfterMs(headers?.get('retry-after') ?? null, this.#clock.now());
    if (hinted !== undefined) return Math.min(maxRetryDelayMs, hinted);
    return Math.floor(Math.random() * Math.min(maxRetryDelayMs, retryDelayMs * 2 ** attempt));
  }
}

function describeOutcome(outcome: Outcome, probe = false): string {
  if ('status' in outcome) {
    const answer = `HTTP ${outcome.status}: ${serverError(outcome.body)}`;
    return probe ? `not ready (${answer})` : answer;
  }
  const { error } = outcome;
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  const message = error instanceof Error ? error.message : String(error);
  return `connection failed (${typeof code === 'string' ? code : message})`;
}

/** The `error` of a KServe error body, or the start of whatever else the server sent. */
function serverError(body: Uint8Array): string {
  const text = new TextDecoder().decode(body);
  try {
    const parsed: unknown = JSON.parse(text);
    const error = (parsed as { error?: unknown } | null)?.error;
    if (typeof error === 'string') return error;
  } catch {
    // Not JSON: a proxy's HTML page or plain text, reported as sent.
  }
  return text.length === 0 ? '(empty body)' : text.slice(0, 200);
}

/** `Retry-After` in milliseconds from now: delay-seconds or an HTTP date. */
function retryAfterMs(header: string | null, nowMs: number): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/** The {@link RuntimeFactory} a worker thread imports to create a runtime from plain options. */
const createKServeRuntime = ((options: KServeRuntimeOptions, context: RuntimeContext) =>
  KServeRuntime.create(options, context)) satisfies RuntimeFactory<KServeRuntimeOptions>;
export default createKServeRuntime;
