import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  type PrometheusServer,
  prometheusHandler,
  prometheusReader,
  servePrometheus,
} from 'salama/ops/prometheus';
import { afterEach, describe, expect, it } from 'vitest';
import { PerformanceMonitor } from '../../src/ops/performance-monitor.js';
import { rejection } from '../support/rejection.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function serve(options: Parameters<typeof servePrometheus>[0] = {}) {
  const server = await servePrometheus({ port: 0, ...options });
  cleanup.push(() => server.close());
  return server;
}

function listen(server: Server): Promise<number> {
  cleanup.push(() => new Promise((resolve) => server.close(resolve)));
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

describe('servePrometheus', () => {
  it('serves salama_ops_ gauges and a histogram in Prometheus text format on an ephemeral port', async () => {
    const prometheus: PrometheusServer = await serve();
    expect(prometheus.url).toBe(`http://127.0.0.1:${prometheus.port}/metrics`);
    expect(prometheus.port).toBeGreaterThan(0);
    const monitor = new PerformanceMonitor({ meterProvider: prometheus.meterProvider }).start();
    cleanup.push(() => monitor.close());
    monitor.record('ocr.recognize', 42);
    monitor.record('ocr.recognize', 180, { ok: false });

    const response = await fetch(prometheus.url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toContain('# TYPE salama_ops_memory_usage gauge');
    expect(text).toMatch(/^salama_ops_memory_usage\{type="rss",[^}]*\} [1-9]\d*$/m);
    expect(text).toContain('# TYPE salama_ops_operation_duration histogram');
    expect(text).toMatch(
      /^salama_ops_operation_duration_bucket\{operation="ocr.recognize",outcome="ok",[^}]*le="50"\} 1$/m,
    );
    expect(text).toMatch(
      /^salama_ops_operation_duration_count\{operation="ocr.recognize",outcome="error",[^}]*\} 1$/m,
    );
    expect(text).toMatch(
      /^salama_ops_operation_latency\{operation="ocr.recognize",quantile="0.99",[^}]*\} 180$/m,
    );
    expect(text).toContain('# TYPE salama_ops_gc_collections_total counter');
  });

  it('answers 404 on other paths and 405 to methods other than GET and HEAD', async () => {
    const prometheus = await serve({ path: '/internal/metrics' });
    const base = `http://127.0.0.1:${prometheus.port}`;
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    expect((await fetch(`${base}/internal/metrics?debug=1`)).status).toBe(200);
    expect((await fetch(`${base}/internal/metrics`, { method: 'HEAD' })).status).toBe(200);
    const post = await fetch(`${base}/internal/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('scrapes a reader the host put in its own MeterProvider, leaving the provider to the host', async () => {
    const reader = prometheusReader();
    const provider = new MeterProvider({ readers: [reader] });
    cleanup.push(() => provider.shutdown());
    provider.getMeter('host').createCounter('host_requests').add(3);
    const prometheus = await serve({ reader });
    expect(prometheus.meterProvider).toBeUndefined();
    expect(prometheus.reader).toBe(reader);
    expect(await (await fetch(prometheus.url)).text()).toMatch(/^host_requests_total\{.*\} 3$/m);
    await prometheus.close();
    provider.getMeter('host').createCounter('host_requests').add(1);
    expect((await reader.collect()).errors).toEqual([]);
  });

  it('stops listening on close(), idempotently', async () => {
    const prometheus = await servePrometheus({ port: 0 });
    await Promise.all([prometheus.close(), prometheus.close()]);
    await expect(fetch(prometheus.url)).rejects.toThrow();
  });

  it('rejects a port already in use with E_BACKEND_UNAVAILABLE', async () => {
    const port = await listen(createServer());
    const error = await rejection(servePrometheus({ port }));
    expect(error.code).toBe('E_BACKEND_UNAVAILABLE');
    expect(error.message).toContain(`cannot listen on 127.0.0.1:${port}`);
    expect(error.context).toEqual({ host: '127.0.0.1', port });
  });

  it('rejects bad options with E_INVALID_OPTIONS', async () => {
    const error = await rejection(
      servePrometheus({ port: 70_000, path: 'metrics', reader: {} as never }),
    );
    expect(error.code).toBe('E_INVALID_OPTIONS');
    expect(error.message).toContain('port: expected number <= 65535, received number 70000');
    expect(error.message).toContain('path: expected a path starting with / (no query)');
    expect(error.message).toContain(
      'reader: expected a PrometheusExporter from prometheusReader()',
    );
  });
});

describe('prometheusHandler', () => {
  it('mounts /metrics on an existing node:http server and leaves other paths to the app', async () => {
    const metrics = prometheusHandler();
    cleanup.push(() => metrics.close());
    const monitor = new PerformanceMonitor({ meterProvider: metrics.meterProvider });
    cleanup.push(() => monitor.close());
    const server = createServer((req, res) => {
      if (metrics.handle(req, res)) return;
      monitor.time('http.request', () => res.end('plates'));
    });
    const port = await listen(server);

    expect(await (await fetch(`http://127.0.0.1:${port}/v1/recognize`)).text()).toBe('plates');
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toMatch(
      /^salama_ops_operation_duration_count\{operation="http.request",outcome="ok",[^}]*\} 1$/m,
    );
  });

  it('rejects an unknown option with E_INVALID_OPTIONS listing the valid ones', () => {
    expect(() => prometheusHandler({ port: 1 } as never)).toThrow(
      /port: expected no such option \(valid options: path, reader\)/,
    );
  });
});
