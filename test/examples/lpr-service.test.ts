/**
 * The example service end to end over HTTP: real models, real SQLite access log, the real
 * cache; good and bad uploads side by side.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderScene } from '../../examples/lpr-service/scenes.js';
import { type LprService, startLprService } from '../../examples/lpr-service/service.js';
import { PG_URL } from '../support/databases.js';
import { until } from '../support/until.js';

let dir: string;
let service: LprService;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'salama-lpr-test-'));
  service = await startLprService({ dataDir: dir, maxBodyBytes: 512 * 1024 });
}, 120_000);
afterAll(async () => {
  await service?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Reading {
  plates: { text: string; confidence: number; box: { width: number } }[];
  cached: boolean;
}
const json = (r: Response) => r.json() as Promise<Reading>;
const post = (body: Uint8Array | string, type = 'image/jpeg') =>
  fetch(`${service.url}/v1/recognize`, { method: 'POST', headers: { 'content-type': type }, body });

describe('the LPR example service', () => {
  it('reads plates from JPEG and PNG uploads, and answers a repeated image from the cache', async () => {
    const scenes = [1, 2, 3, 4, 5, 6].map((seed) =>
      renderScene(seed, seed % 2 ? 'image/jpeg' : 'image/png'),
    );
    const first = await Promise.all(scenes.map((s) => post(s.bytes, s.type).then(json)));
    first.forEach((body, i) => {
      expect(body.plates[0]?.text.replace(/\s+/g, '')).toBe(scenes[i]?.label.replace(/\s+/g, ''));
      expect(body.plates[0]?.confidence).toBeGreaterThan(0.8);
      expect(body.plates[0]?.box.width).toBeGreaterThan(50);
      expect(body.cached).toBe(false);
    });
    const again = await post((scenes[0] as (typeof scenes)[number]).bytes).then(json);
    expect(again).toMatchObject({ cached: true, plates: first[0]?.plates });
    const rows = await service.db.selectFrom('access_log').selectAll().execute();
    expect(rows).toHaveLength(7);
    expect(rows.filter((r) => r.cache_hit === 1)).toHaveLength(1);
  }, 60_000);

  it('refuses bad uploads with a JSON error and a 4xx, while good requests beside them succeed', async () => {
    const good = renderScene(42);
    const jpeg = good.bytes;
    const [empty, text, truncated, huge, fine] = await Promise.all([
      post(new Uint8Array(0)),
      post('hello, not an image', 'text/plain'),
      post(jpeg.subarray(0, 300)),
      post(new Uint8Array(600 * 1024).fill(0xff)),
      post(jpeg),
    ]);
    expect([empty.status, text.status, truncated.status, huge.status, fine.status]).toEqual([
      400, 415, 422, 413, 200,
    ]);
    expect(await empty.json()).toEqual({ error: expect.stringContaining('empty') });
    expect(await text.json()).toEqual({ error: expect.stringContaining('not a JPEG or PNG') });
    expect(await truncated.json()).toEqual({
      error: expect.stringContaining('could not be decoded'),
    });
    expect((await json(fine)).plates[0]?.text.replace(/\s+/g, '')).toBe(
      good.label.replace(/\s+/g, ''),
    );
  }, 60_000);

  it('serves /healthz, /metrics, and JSON errors for unknown routes and methods', async () => {
    const health = await fetch(`${service.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', detector: 1, recognizer: 1 });
    const metrics = await fetch(`${service.url}/metrics`).then((r) => r.text());
    expect(metrics).toContain('salama_gpu');
    expect(metrics).toContain('salama_ops');
    expect((await fetch(`${service.url}/nope`)).status).toBe(404);
    expect((await fetch(`${service.url}/v1/recognize`)).status).toBe(405);
  });

  it('runs its maintenance tasks: retention dry run, and a verified backup of the access log', async () => {
    const retention = await service.operations.retentionDryRun();
    expect(retention).toEqual([
      expect.objectContaining({ policy: 'access-log', status: 'dry-run', matched: 0 }),
    ]);
    const backup = await service.operations.backupNow();
    expect(backup['verify problems']).toBe(0);
    expect(backup.bytes).toBeGreaterThan(0);
  }, 60_000);
});

describe('the LPR example service, operations', () => {
  it('performs its nightly maintenance window: retention, database maintenance, verified backup', async () => {
    const [nightly] = await service.operations.scheduler.windows();
    expect(nightly).toMatchObject({
      name: 'nightly',
      recurrence: '0 2 * * *',
      tasks: ['retention', 'database-maintenance', 'backup'],
      systems: ['access-log'],
    });
    const report = await service.operations.scheduler.perform(nightly?.id as string);
    expect(report.failed).toEqual([]);
    expect(report.completed.map((t) => t.task)).toEqual([
      'retention',
      'database-maintenance',
      'backup',
    ]);
    expect(report.status).toBe('ok');
  }, 60_000);

  it('keeps its access log in PostgreSQL when given a database URL', async () => {
    const schema = `salama_lpr_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
    await admin.query(`create schema ${schema}`);
    const url = new URL(PG_URL);
    url.searchParams.set('options', `-c search_path=${schema}`);
    const pgDir = await mkdtemp(join(tmpdir(), 'salama-lpr-pg-'));
    const onPg = await startLprService({ dataDir: pgDir, databaseUrl: url.toString() });
    try {
      const scene = renderScene(77);
      const res = await fetch(`${onPg.url}/v1/recognize`, { method: 'POST', body: scene.bytes });
      expect(res.status).toBe(200);
      const { rows } = await admin.query(
        `select image_sha256, cache_hit from ${schema}.access_log`,
      );
      expect(rows).toEqual([
        { image_sha256: expect.stringMatching(/^[0-9a-f]{64}$/), cache_hit: 0 },
      ]);
    } finally {
      await onPg.close();
      await admin.query(`drop schema ${schema} cascade`);
      await admin.end();
      await rm(pgDir, { recursive: true, force: true });
    }
  }, 120_000);

  it('shuts down gracefully: requests in flight are answered, later ones are refused', async () => {
    const shutDir = await mkdtemp(join(tmpdir(), 'salama-lpr-shutdown-'));
    const closing = await startLprService({ dataDir: shutDir });
    try {
      const scenes = [81, 82, 83, 84].map((seed) => renderScene(seed));
      const inFlight = scenes.map((s) =>
        fetch(`${closing.url}/v1/recognize`, { method: 'POST', body: s.bytes }),
      );
      await until(() => closing.inFlight === 4, 10_000);
      const closed = closing.close();
      const answers = await Promise.all(inFlight);
      expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      await closed;
      await expect(fetch(`${closing.url}/healthz`)).rejects.toThrow();
    } finally {
      await rm(shutDir, { recursive: true, force: true });
    }
  }, 120_000);
});
