/**
 * The licence-plate recognition service, built only on salama's public API:
 *   POST /v1/recognize   a JPEG or PNG → { plates: [{ text, confidence, box }], cached, ... }
 *   GET  /healthz        the models are loaded and the service takes requests
 *   GET  /metrics        Prometheus text format (OpenTelemetry metrics of every module)
 * Reads are cached by image hash in a MultiLevelCache and logged to the access log; retention,
 * database maintenance and a backup run in a nightly maintenance window. SIGTERM (see main.ts)
 * stops taking requests, answers those in flight, then closes everything.
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryStore, MultiLevelCache } from 'salama/cache';
import { type LprDb, openAccessLog } from './access-log.js';
import { BadImageError, decodeImage } from './images.js';
import { LprOperations } from './operations.js';
import { type Plate, PlateReader } from './plate-reader.js';

export interface LprServiceOptions {
  /** @default 0 (any free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** SQLite access log, backups and archives live here. @default '.lpr-data' */
  readonly dataDir?: string;
  /** PostgreSQL for the access log instead of SQLite. @default process.env.DATABASE_URL */
  readonly databaseUrl?: string;
  /** Largest upload, in bytes. @default 5 MiB */
  readonly maxBodyBytes?: number;
  /** Worker threads per model. @default 1 */
  readonly instances?: number;
  /** How long a read stays cached, in ms. @default 1 hour */
  readonly cacheTtlMs?: number;
  /** `false` reads every upload afresh (the load test's cold phase). @default true */
  readonly cache?: boolean;
  /** Backup passphrase for the nightly backup. @default process.env.LPR_BACKUP_PASSPHRASE ?? 'lpr-demo' */
  readonly backupPassphrase?: string;
}

export interface LprService {
  readonly url: string;
  readonly db: LprDb;
  readonly cache: MultiLevelCache;
  readonly reader: PlateReader;
  readonly operations: LprOperations;
  /** Requests being handled now. */
  readonly inFlight: number;
  close(): Promise<void>;
}

interface RecognizeResponse {
  plates: readonly Plate[];
  cached: boolean;
  imageSha256: string;
  latencyMs: number;
}

export async function startLprService(options: LprServiceOptions = {}): Promise<LprService> {
  const dataDir = options.dataDir ?? '.lpr-data';
  await mkdir(dataDir, { recursive: true });
  const maxBody = options.maxBodyBytes ?? 5 * 1024 * 1024;
  const db = await openAccessLog(dataDir, options.databaseUrl ?? process.env.DATABASE_URL);
  const operations = await LprOperations.start({
    db,
    dataDir,
    passphrase: options.backupPassphrase ?? process.env.LPR_BACKUP_PASSPHRASE ?? 'lpr-demo',
  });
  const { meterProvider } = operations;
  const reader = new PlateReader({ instances: options.instances ?? 1, meterProvider });
  const cache = new MultiLevelCache({
    stores: [new MemoryStore({ maxEntries: 10_000 })],
    ttlMs: options.cacheTtlMs ?? 3_600_000,
    meterProvider,
  });
  const reads = cache.namespace('plates');
  await reader.ready();

  let closing = false;
  const inFlight = new Set<Promise<void>>();

  async function recognize(req: IncomingMessage, res: ServerResponse) {
    const started = performance.now();
    const declared = Number(req.headers['content-length'] ?? Number.NaN);
    if (declared > maxBody) {
      req.resume();
      throw new BadImageError(
        413,
        `the upload is ${declared} bytes; at most ${maxBody} are accepted`,
      );
    }
    const body = await readBody(req, maxBody);
    const imageSha256 = createHash('sha256').update(body).digest('hex');
    const readImage = async () => reader.read(await decodeImage(body));
    const { value: plates, state } =
      options.cache === false
        ? { value: await readImage(), state: 'miss' as const }
        : await reads.fetch(imageSha256, readImage);
    const latencyMs = performance.now() - started;
    // Logged before answering: every read the client sees is in the access log.
    await db
      .insertInto('access_log')
      .values({
        at: Date.now(),
        image_sha256: imageSha256,
        plates: JSON.stringify(plates),
        cache_hit: state === 'miss' ? 0 : 1,
        latency_ms: latencyMs,
        status: 200,
      })
      .execute();
    const response: RecognizeResponse = {
      plates,
      cached: state !== 'miss',
      imageSha256,
      latencyMs,
    };
    send(res, 200, response);
    operations.monitor.record('lpr.recognize', latencyMs, { ok: true });
  }

  const server = createServer((req, res) => {
    const work = (async () => {
      try {
        const path = (req.url ?? '/').split('?')[0];
        if (closing) return send(res, 503, { error: 'the service is shutting down' });
        if (path === '/v1/recognize') {
          if (req.method !== 'POST')
            return send(res, 405, { error: 'use POST with a JPEG or PNG body' });
          return await recognize(req, res);
        }
        if (path === '/healthz' && req.method === 'GET')
          return send(res, 200, {
            status: 'ok',
            detector: reader.detector.stats().instances,
            recognizer: reader.recognizer.stats().instances,
            cache: cache.stats().hitRate,
          });
        if (path === '/metrics' && operations.metrics(req, res)) return;
        return send(res, 404, { error: `no route ${req.method} ${path}` });
      } catch (error) {
        const status = error instanceof BadImageError ? error.status : 500;
        operations.monitor.record('lpr.recognize', 0, { ok: false });
        if (!res.headersSent) send(res, status, { error: (error as Error).message });
      }
    })();
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  });
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve),
  );
  const { address, port } = server.address() as AddressInfo;

  return {
    url: `http://${address}:${port}`,
    db,
    cache,
    reader,
    operations,
    get inFlight() {
      return inFlight.size;
    },
    async close() {
      closing = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await Promise.all(inFlight);
      await operations.close();
      await reader.close();
      await cache.close();
      await db.destroy();
    },
  };
}

function send(res: ServerResponse, status: number, body: unknown) {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}

/** The request body, refusing more than `limit` bytes (413) without buffering them. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of req) {
    size += (part as Buffer).length;
    if (size > limit) {
      req.resume();
      throw new BadImageError(413, `the upload is over ${limit} bytes`);
    }
    parts.push(part as Buffer);
  }
  return Buffer.concat(parts, size);
}
