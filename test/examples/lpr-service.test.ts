/**
 * The example service end to end over HTTP: real models, real SQLite access log, the real
 * cache; good and bad uploads side by side.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderScene } from '../../examples/lpr-service/scenes.js';
import { type LprService, startLprService } from '../../examples/lpr-service/service.js';

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
