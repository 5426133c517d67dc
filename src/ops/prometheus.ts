import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { z } from 'zod';
import { BackendUnavailableError } from '../core/errors.js';
import { parseOptions } from '../core/options.js';

/**
 * `salama/ops/prometheus`: Prometheus `/metrics` for everything salama (and the host) records
 * through OpenTelemetry, with `@opentelemetry/exporter-prometheus` (an optional peer, with
 * `@opentelemetry/sdk-metrics`). The exporter is a MetricReader; sdk-metrics 2 takes readers
 * only when a MeterProvider is built, so either these helpers build the provider around a new
 * reader, or the host builds its own with `readers: [prometheusReader()]` and passes the reader.
 */

/** Options of {@link prometheusHandler}. */
export interface PrometheusHandlerOptions {
  /** The path scrapes are served on; the query string is ignored. @default '/metrics' */
  path?: string;
  /**
   * A reader from {@link prometheusReader} that is already in the host's MeterProvider. Without
   * one, a reader and a MeterProvider around it are created (`meterProvider` in the result).
   */
  reader?: PrometheusExporter;
}

/** Options of {@link servePrometheus}. */
export interface PrometheusServerOptions extends PrometheusHandlerOptions {
  /** TCP port; 0 picks a free one (read it from `url`). @default 9464 */
  port?: number;
  /** Interface to listen on; `'0.0.0.0'` lets another host scrape. @default '127.0.0.1' */
  host?: string;
}

/** The `/metrics` endpoint, ready to mount on an HTTP server the host already runs. */
export interface PrometheusHandler {
  /**
   * Give to every salama component as `meterProvider` (or register it globally). `undefined`
   * when the caller passed its own `reader`: its MeterProvider is the one to use.
   */
  readonly meterProvider: MeterProvider | undefined;
  readonly reader: PrometheusExporter;
  readonly path: string;
  /**
   * Answers `req` when it is for `path` (GET or HEAD; other methods get 405) and returns true;
   * returns false, touching nothing, for any other path.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Shuts down the MeterProvider this handler created, if any; idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A running `/metrics` server. */
export interface PrometheusServer extends PrometheusHandler {
  /** Where Prometheus scrapes: `http://127.0.0.1:9464/metrics`, with the real port. */
  readonly url: string;
  readonly port: number;
  /** Stops the server, then shuts down the MeterProvider it created; idempotent. */
  close(): Promise<void>;
}

const pathSchema = z.string().regex(/^\/[^?#]*$/, 'a path starting with / (no query)');
const readerSchema = z.custom<PrometheusExporter>((v) => v instanceof PrometheusExporter, {
  message: 'a PrometheusExporter from prometheusReader()',
});

const handlerSchema = z
  .object({ path: pathSchema.default('/metrics'), reader: readerSchema.optional() })
  .strict();

const serverSchema = handlerSchema
  .extend({
    port: z.number().int().min(0).max(65_535).default(9464),
    host: z.string().min(1).default('127.0.0.1'),
  })
  .strict();

/**
 * A Prometheus reader that serves nothing by itself: put it in a MeterProvider's `readers`,
 * then serve it with {@link prometheusHandler} or {@link servePrometheus}.
 */
export function prometheusReader(): PrometheusExporter {
  return new PrometheusExporter({ preventServerStart: true });
}

/**
 * The `/metrics` endpoint as a request handler, for a service that already serves HTTP:
 *
 * ```ts
 * const metrics = prometheusHandler();
 * const monitor = new PerformanceMonitor({ meterProvider: metrics.meterProvider }).start();
 * createServer((req, res) => metrics.handle(req, res) || app(req, res));
 * ```
 */
export function prometheusHandler(options: PrometheusHandlerOptions = {}): PrometheusHandler {
  const o = parseOptions('prometheusHandler', handlerSchema, options);
  return createHandler(o.path, o.reader);
}

/**
 * Serves `/metrics` on its own HTTP server and resolves once it listens. Throws
 * `E_INVALID_OPTIONS` for bad options and `E_BACKEND_UNAVAILABLE` when the port cannot be
 * bound (in use, no permission).
 *
 * ```ts
 * const prometheus = await servePrometheus({ port: 9464 });
 * const monitor = new PerformanceMonitor({ meterProvider: prometheus.meterProvider }).start();
 * ```
 */
export async function servePrometheus(
  options: PrometheusServerOptions = {},
): Promise<PrometheusServer> {
  const o = parseOptions('servePrometheus', serverSchema, options);
  const handler = createHandler(o.path, o.reader);
  const server = createServer((req, res) => {
    if (!handler.handle(req, res)) res.writeHead(404, { 'content-type': 'text/plain' }).end();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await handler.close();
    throw new BackendUnavailableError(
      `servePrometheus: cannot listen on ${o.host}:${o.port}: ${(error as Error).message}`,
      { cause: error, context: { host: o.host, port: o.port } },
    );
  }
  const { port } = server.address() as AddressInfo;
  const urlHost = o.host.includes(':') ? `[${o.host}]` : o.host;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }).then(() => handler.close());
    return closing;
  };
  return {
    meterProvider: handler.meterProvider,
    reader: handler.reader,
    path: handler.path,
    handle: handler.handle,
    url: `http://${urlHost}:${port}${o.path}`,
    port,
    close,
    [Symbol.asyncDispose]: close,
  };
}

function createHandler(path: string, given: PrometheusExporter | undefined): PrometheusHandler {
  const reader = given ?? prometheusReader();
  const meterProvider = given ? undefined : new MeterProvider({ readers: [reader] });
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= meterProvider ? meterProvider.shutdown() : Promise.resolve();
    return closing;
  };
  return {
    meterProvider,
    reader,
    path,
    handle(req, res) {
      if (pathOf(req) !== path) return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end();
        return true;
      }
      reader.getMetricsRequestHandler(req, res);
      return true;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '';
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}
