import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from 'salama';
import { LocalBlobStore } from 'salama/blob';
import { ModelRegistry, type ModelRegistryOptions } from 'salama/models';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  allDialects,
  type DialectName,
  openDatabase,
  type TestDatabase,
  type TestDb,
} from '../support/databases.js';

const NOW = Date.UTC(2025, 0, 15, 12);
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const artifact = (text: string) => new TextEncoder().encode(text);
const fails = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error === undefined) throw new Error('expected the call to fail');
  return error as Error & { code: string; context: Record<string, unknown> };
};

describe.each(allDialects)('ModelRegistry on %s', (dialect: DialectName) => {
  let database: TestDatabase;
  let dir: string;
  let store: LocalBlobStore;
  let clock: ManualClock;

  const open = (options: Partial<ModelRegistryOptions> = {}, db: TestDb = database.db) =>
    ModelRegistry.open({ db, store, clock, ...options });
  const storedKeys = async () => {
    const keys: string[] = [];
    for await (const info of store.list()) keys.push(info.key);
    return keys;
  };

  beforeEach(async () => {
    database = await openDatabase(dialect);
    dir = await mkdtemp(join(tmpdir(), 'salama-models-'));
    store = new LocalBlobStore({ root: join(dir, 'store'), fsync: false });
    clock = new ManualClock(NOW);
  });
  afterEach(async () => {
    await store.close();
    await database.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('registers numbered versions with their artifact, metadata, metrics and tags', async () => {
    const registry = await open();
    const bytes = artifact('ocr weights v1');
    const first = await registry.registerVersion('plate-ocr', bytes, {
      format: 'onnx',
      description: 'PP-OCRv4 recogniser',
      metadata: { input: { shape: [1, 3, 48, 320] }, labels: ['A', 'B'] },
      metrics: { accuracy: 0.97 },
      tags: { stage: 'candidate' },
      actor: 'ci',
    });
    expect(first).toEqual({
      name: 'plate-ocr',
      version: 1,
      sha256: sha256(bytes),
      size: bytes.byteLength,
      format: 'onnx',
      description: 'PP-OCRv4 recogniser',
      metadata: { input: { shape: [1, 3, 48, 320] }, labels: ['A', 'B'] },
      metrics: { accuracy: 0.97 },
      tags: { stage: 'candidate' },
      createdAt: new Date(NOW),
      createdBy: 'ci',
    });
    expect(Object.isFrozen(first) && Object.isFrozen(first.metadata)).toBe(true);
    clock.advance(60_000);
    const second = await registry.registerVersion('plate-ocr', artifact('ocr weights v2'));
    expect(second).toMatchObject({
      version: 2,
      format: undefined,
      description: undefined,
      metadata: {},
      metrics: {},
      tags: {},
      createdAt: new Date(NOW + 60_000),
      createdBy: undefined,
    });
    await registry.registerVersion('detector', artifact('det'));
    expect(await registry.getVersion('plate-ocr', 1)).toEqual(first);
    expect((await registry.versions('plate-ocr')).map((v) => v.version)).toEqual([1, 2]);
    expect(await registry.models()).toEqual(['detector', 'plate-ocr']);
    expect(await storedKeys()).toHaveLength(3);
  });

  it('gives concurrent registrations from two processes distinct consecutive numbers', async () => {
    const one = await open();
    const two = await open({}, await database.another());
    const registrations = Array.from({ length: 12 }, (_, i) =>
      (i % 2 === 0 ? one : two).registerVersion('plate-ocr', artifact(`weights ${i}`)),
    );
    const versions = await Promise.all(registrations);
    expect(versions.map((v) => v.version).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 12 }, (_, i) => i + 1),
    );
    const listed = await one.versions('plate-ocr');
    expect(listed.map((v) => v.version)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(new Set(listed.map((v) => v.sha256)).size).toBe(12);
  });

  it('stores the same bytes once, however many versions and models share them', async () => {
    const registry = await open();
    const bytes = artifact('shared weights');
    const a = await registry.registerVersion('plate-ocr', bytes);
    const b = await registry.registerVersion('plate-ocr', bytes);
    const c = await registry.registerVersion('plate-ocr-copy', bytes);
    expect([a.version, b.version, c.version]).toEqual([1, 2, 1]);
    expect(new Set([a.sha256, b.sha256, c.sha256])).toEqual(new Set([sha256(bytes)]));
    expect(await storedKeys()).toEqual([`models/sha256/${sha256(bytes)}`]);
  });

  it('resolves a version number, "v<number>", "latest" and an alias', async () => {
    const registry = await open();
    for (let i = 1; i <= 3; i++) await registry.registerVersion('plate-ocr', artifact(`w${i}`));
    await registry.setAlias('plate-ocr', 'champion', 2);
    expect((await registry.resolve('plate-ocr', 1)).version).toBe(1);
    expect((await registry.resolve('plate-ocr', 'v3')).version).toBe(3);
    expect((await registry.resolve('plate-ocr', 'latest')).version).toBe(3);
    expect((await registry.resolve('plate-ocr', 'champion')).version).toBe(2);
    const missing = await fails(registry.resolve('plate-ocr', 'challenger'));
    expect(missing.code).toBe('E_NOT_FOUND');
    expect(missing.message).toBe(
      'Model "plate-ocr" has no alias "challenger" (its aliases: champion)',
    );
    expect((await fails(registry.resolve('plate-ocr', 4))).code).toBe('E_NOT_FOUND');
    expect((await fails(registry.resolve('plate-ocr', '3'))).code).toBe('E_INVALID_ARGUMENT');
  });

  it('merges metrics and tags into one version and leaves the others alone', async () => {
    const registry = await open();
    await registry.registerVersion('plate-ocr', artifact('w1'), {
      metrics: { accuracy: 0.9, p95Ms: 12 },
      tags: { stage: 'candidate' },
    });
    await registry.registerVersion('plate-ocr', artifact('w2'), { metrics: { accuracy: 0.5 } });
    const updated = await registry.setMetrics('plate-ocr', 1, { accuracy: 0.95, fpr: 0.01 });
    expect(updated.metrics).toEqual({ accuracy: 0.95, p95Ms: 12, fpr: 0.01 });
    const tagged = await registry.setTags('plate-ocr', 1, { validated: 'yes' });
    expect(tagged.tags).toEqual({ stage: 'candidate', validated: 'yes' });
    expect(tagged.metrics).toEqual(updated.metrics);
    expect(await registry.getVersion('plate-ocr', 2)).toMatchObject({
      metrics: { accuracy: 0.5 },
      tags: {},
    });
    expect((await fails(registry.setMetrics('plate-ocr', 3, { a: 1 }))).code).toBe('E_NOT_FOUND');
  });

  it('points each alias at one version and records every move with actor and reason', async () => {
    const registry = await open();
    for (let i = 1; i <= 3; i++) await registry.registerVersion('plate-ocr', artifact(`w${i}`));
    const created = await registry.setAlias('plate-ocr', 'champion', 1, { actor: 'alice' });
    expect(created).toEqual({
      name: 'plate-ocr',
      alias: 'champion',
      from: undefined,
      to: 1,
      actor: 'alice',
      reason: undefined,
      at: new Date(NOW),
    });
    clock.advance(1000);
    await registry.setAlias('plate-ocr', 'challenger', 3, { actor: 'ci', reason: 'new build' });
    clock.advance(1000);
    const moved = await registry.setAlias('plate-ocr', 'champion', 2, {
      actor: 'bob',
      reason: 'passed validation',
    });
    expect(moved).toMatchObject({ from: 1, to: 2, at: new Date(NOW + 2000) });
    expect(await registry.aliases('plate-ocr')).toEqual({ challenger: 3, champion: 2 });
    clock.advance(1000);
    const deleted = await registry.deleteAlias('plate-ocr', 'challenger', { reason: 'rejected' });
    expect(deleted).toMatchObject({ from: 3, to: undefined, reason: 'rejected' });
    expect(await registry.aliases('plate-ocr')).toEqual({ champion: 2 });
    expect((await fails(registry.resolve('plate-ocr', 'challenger'))).code).toBe('E_NOT_FOUND');

    const history = await registry.aliasHistory('plate-ocr');
    expect(history.map((m) => [m.alias, m.from, m.to, m.actor, m.reason, m.at.getTime()])).toEqual([
      ['champion', undefined, 1, 'alice', undefined, NOW],
      ['challenger', undefined, 3, 'ci', 'new build', NOW + 1000],
      ['champion', 1, 2, 'bob', 'passed validation', NOW + 2000],
      ['challenger', 3, undefined, undefined, 'rejected', NOW + 3000],
    ]);
    expect((await registry.aliasHistory('plate-ocr', 'champion')).map((m) => m.to)).toEqual([1, 2]);
    const again = await fails(registry.deleteAlias('plate-ocr', 'challenger'));
    expect(again.code).toBe('E_NOT_FOUND');
  });

  it('compare-and-set: a wrong expected version is E_CONFLICT and the alias stays', async () => {
    const registry = await open();
    for (let i = 1; i <= 3; i++) await registry.registerVersion('plate-ocr', artifact(`w${i}`));
    await registry.setAlias('plate-ocr', 'champion', 1, { expected: null });
    await registry.setAlias('plate-ocr', 'champion', 2, { expected: 1 });
    const stale = await fails(registry.setAlias('plate-ocr', 'champion', 3, { expected: 1 }));
    expect(stale).toMatchObject({
      code: 'E_CONFLICT',
      context: { name: 'plate-ocr', alias: 'champion', expected: 1, actual: 2 },
    });
    expect(stale.message).toContain(
      'expected alias "champion" to point to version 1, but it points to version 2',
    );
    const exists = await fails(registry.setAlias('plate-ocr', 'champion', 3, { expected: null }));
    expect(exists.message).toContain('expected alias "champion" not to exist');
    const deleting = await fails(registry.deleteAlias('plate-ocr', 'champion', { expected: 3 }));
    expect(deleting.code).toBe('E_CONFLICT');
    expect(await registry.aliases('plate-ocr')).toEqual({ champion: 2 });
    expect(await registry.aliasHistory('plate-ocr')).toHaveLength(2);
  });

  it('an alias to a missing version is E_NOT_FOUND and the alias stays', async () => {
    const registry = await open();
    await registry.registerVersion('plate-ocr', artifact('w1'));
    await registry.setAlias('plate-ocr', 'champion', 1);
    const error = await fails(registry.setAlias('plate-ocr', 'champion', 7));
    expect(error).toMatchObject({
      code: 'E_NOT_FOUND',
      message: 'Model "plate-ocr" has no version 7 (its versions are 1 to 1)',
      context: { name: 'plate-ocr', version: 7, modelExists: true },
    });
    const unknown = await fails(registry.setAlias('no-such-model', 'champion', 1));
    expect(unknown).toMatchObject({
      code: 'E_NOT_FOUND',
      message: 'No model named "no-such-model" is registered',
      context: { modelExists: false },
    });
    expect(await registry.aliases('plate-ocr')).toEqual({ champion: 1 });
    expect(await registry.aliasHistory('plate-ocr')).toHaveLength(1);
  });

  it('loads an artifact checked against its hash; a changed or missing file is E_INTEGRITY', async () => {
    const registry = await open();
    const bytes = randomBytes(4096);
    const registered = await registry.registerVersion('plate-ocr', bytes);
    await registry.setAlias('plate-ocr', 'champion', 1);
    const loaded = await registry.loadArtifact('plate-ocr', 'champion');
    expect(loaded.version).toEqual(registered);
    expect(Buffer.from(loaded.bytes).equals(bytes)).toBe(true);

    const key = `models/sha256/${registered.sha256}`;
    const file = join(store.root, ...key.split('/'));
    const tampered = Buffer.from(bytes);
    tampered[100] = (tampered[100] ?? 0) ^ 0xff;
    await writeFile(file, tampered);
    const changed = await fails(registry.loadArtifact('plate-ocr', 1));
    expect(changed).toMatchObject({
      code: 'E_INTEGRITY',
      context: {
        name: 'plate-ocr',
        version: 1,
        key,
        expected: registered.sha256,
        actual: sha256(tampered),
      },
    });
    expect(changed.message).toContain(`Model "plate-ocr" version 1`);
    expect(changed.message).toContain(`has SHA-256 ${sha256(tampered)} (4096 bytes)`);
    expect(changed.message).toContain(`expected ${registered.sha256} (4096 bytes)`);

    await writeFile(file, bytes.subarray(0, 10));
    expect(await fails(registry.loadArtifact('plate-ocr', 'latest'))).toMatchObject({
      code: 'E_INTEGRITY',
      context: { expectedSize: 4096, actualSize: 10 },
    });
    await unlink(file);
    const gone = await fails(registry.loadArtifact('plate-ocr', 1));
    expect(gone.code).toBe('E_INTEGRITY');
    expect(gone.message).toContain('its artifact is missing from the store');
  });

  it('registering the same bytes again repairs a damaged stored artifact', async () => {
    const registry = await open();
    const bytes = artifact('weights to keep');
    const { sha256: hash } = await registry.registerVersion('plate-ocr', bytes);
    await writeFile(join(store.root, 'models', 'sha256', hash), 'garbage');
    expect((await fails(registry.loadArtifact('plate-ocr', 1))).code).toBe('E_INTEGRITY');
    await registry.registerVersion('plate-ocr', bytes);
    const loaded = await registry.loadArtifact('plate-ocr', 1);
    expect(new TextDecoder().decode(loaded.bytes)).toBe('weights to keep');
  });

  it('checks, hashes and stores the same bytes while the caller reuses its buffer', async () => {
    const original = 'ONNXWEIGHTS:'.repeat(4096);
    const buffer = Buffer.from(original);
    let checked = '';
    class BufferReusingStore extends LocalBlobStore {
      override put(...args: Parameters<LocalBlobStore['put']>) {
        buffer.fill('EVIL'); // the caller reuses its buffer while the artifact is written
        return super.put(...args);
      }
    }
    const registry = await open({
      store: new BufferReusingStore({ root: join(dir, 'reused'), fsync: false }),
      checkArtifact: (bytes) => {
        checked = new TextDecoder().decode(bytes);
      },
    });
    const version = await registry.registerVersion('plate-ocr', buffer);
    expect(checked).toBe(original);
    expect(version).toMatchObject({ sha256: sha256(artifact(original)), size: original.length });
    const loaded = await registry.loadArtifact('plate-ocr', version.version);
    expect(new TextDecoder().decode(loaded.bytes)).toBe(original);
  });

  it('an artifact refused by checkArtifact is an error and nothing is stored', async () => {
    const seen: unknown[] = [];
    const registry = await open({
      checkArtifact: (bytes, info) => {
        seen.push({ size: bytes.byteLength, ...info });
        if (bytes[0] !== 0x08) throw new Error('not an ONNX ModelProto');
      },
    });
    const error = await fails(
      registry.registerVersion('plate-ocr', artifact('{"not":"onnx"}'), { format: 'onnx' }),
    );
    expect(error).toMatchObject({ code: 'E_INVALID_ARGUMENT', cause: expect.any(Error) });
    expect(error.message).toBe(
      'ModelRegistry.registerVersion("plate-ocr"): the artifact (14 bytes, format "onnx") was refused by checkArtifact: not an ONNX ModelProto',
    );
    expect(seen).toEqual([{ size: 14, name: 'plate-ocr', format: 'onnx' }]);
    expect(await registry.models()).toEqual([]);
    expect(await storedKeys()).toEqual([]);
    const accepted = await registry.registerVersion('plate-ocr', new Uint8Array([0x08, 1]));
    expect(accepted.version).toBe(1);
  });

  it('bad names, aliases, versions, metrics and artifacts are E_INVALID_ARGUMENT', async () => {
    const registry = await open();
    await registry.registerVersion('plate-ocr', artifact('w1'), { metrics: { accuracy: 0.9 } });
    const bad = async (call: Promise<unknown>, message: string) => {
      const error = await fails(call);
      expect(error.code).toBe('E_INVALID_ARGUMENT');
      expect(error.message).toContain(message);
    };
    const bytes = artifact('w2');
    await bad(
      registry.registerVersion('../etc', bytes),
      'model name: expected a string of 1–128 letters, digits, ".", "_" or "-" starting with a letter or digit, received string "../etc"',
    );
    await bad(registry.registerVersion('x'.repeat(129), bytes), 'model name: expected');
    await bad(
      registry.registerVersion('plate-ocr', new Uint8Array(0)),
      'artifact: expected a non-empty Uint8Array, received Uint8Array of 0 bytes',
    );
    await bad(
      registry.registerVersion('plate-ocr', 'weights' as unknown as Uint8Array),
      'artifact: expected a non-empty Uint8Array, received string "weights"',
    );
    await bad(
      registry.registerVersion('plate-ocr', bytes, { metrics: { accuracy: Number.NaN } }),
      'metrics.accuracy: expected a finite number, received number NaN',
    );
    await bad(
      registry.registerVersion('plate-ocr', bytes, { tags: { stage: 1 as unknown as string } }),
      'tags.stage: expected a string, received number 1',
    );
    await bad(
      registry.registerVersion('plate-ocr', bytes, { metric: {} } as never),
      'options.metric: expected no such option (valid: format, description, metadata, metrics, tags, actor)',
    );
    await bad(
      registry.registerVersion('plate-ocr', bytes, { metadata: { n: 10n } }),
      'metadata: expected a JSON-serialisable object',
    );
    await bad(
      registry.setMetrics('plate-ocr', 1, { accuracy: Number.POSITIVE_INFINITY }),
      'metrics.accuracy: expected a finite number, received number Infinity',
    );
    await bad(registry.getVersion('plate-ocr', 1.5), 'version: expected an integer >= 1');
    await bad(
      registry.setAlias('plate-ocr', 'latest', 1),
      'alias: expected a name other than "latest" and "v<number>" (reserved for version references), received string "latest"',
    );
    await bad(registry.setAlias('plate-ocr', 'v2', 1), 'received string "v2"');
    await bad(
      registry.setAlias('plate-ocr', '1st', 1),
      'alias: expected a string of 1–64 letters, digits, "_" or "-" starting with a letter, received string "1st"',
    );
    await bad(
      registry.setAlias('plate-ocr', 'champion', 1, { expected: 0 }),
      'options.expected (null: the alias must not exist): expected an integer >= 1, received number 0',
    );
    expect(await registry.versions('plate-ocr')).toHaveLength(1);
    expect((await registry.getVersion('plate-ocr', 1)).metrics).toEqual({ accuracy: 0.9 });
    expect(await registry.aliases('plate-ocr')).toEqual({});
  });

  it('unknown models and versions are E_NOT_FOUND saying which is missing', async () => {
    const registry = await open();
    expect(await registry.models()).toEqual([]);
    for (const call of [
      () => registry.versions('ghost'),
      () => registry.getVersion('ghost', 1),
      () => registry.resolve('ghost', 'latest'),
      () => registry.resolve('ghost', 'champion'),
      () => registry.aliases('ghost'),
      () => registry.aliasHistory('ghost'),
      () => registry.loadArtifact('ghost', 1),
    ])
      expect(await fails(call())).toMatchObject({
        code: 'E_NOT_FOUND',
        message: 'No model named "ghost" is registered',
      });
    await registry.registerVersion('ghost', artifact('w1'));
    expect(await fails(registry.getVersion('ghost', 2))).toMatchObject({
      code: 'E_NOT_FOUND',
      message: 'Model "ghost" has no version 2 (its versions are 1 to 1)',
    });
  });

  it('a second registry on another connection sees what the first wrote', async () => {
    const other = await database.another();
    const [first, second] = await Promise.all([open(), open({}, other)]);
    const v1 = await first.registerVersion('plate-ocr', artifact('w1'), { tags: { a: 'b' } });
    await first.setAlias('plate-ocr', 'champion', 1, { actor: 'alice' });
    expect(await second.getVersion('plate-ocr', 1)).toEqual(v1);
    expect(await second.aliases('plate-ocr')).toEqual({ champion: 1 });
    expect((await second.loadArtifact('plate-ocr', 'champion')).version).toEqual(v1);
    await second.registerVersion('plate-ocr', artifact('w2'));
    await second.setAlias('plate-ocr', 'champion', 2, { expected: 1, actor: 'bob' });
    expect((await first.resolve('plate-ocr', 'champion')).version).toBe(2);
    expect((await first.aliasHistory('plate-ocr')).map((m) => m.actor)).toEqual(['alice', 'bob']);
  });

  it('keeps registries with different table prefixes apart', async () => {
    const a = await open();
    const b = await open({ tablePrefix: 'team_b_models', artifactPrefix: 'team-b/' });
    await a.registerVersion('plate-ocr', artifact('a'));
    const fromB = await b.registerVersion('plate-ocr', artifact('b'));
    expect(fromB.version).toBe(1);
    expect(await storedKeys()).toContain(`team-b/${fromB.sha256}`);
    expect(await readdir(store.root)).toEqual(['models', 'team-b']);
  });

  it('bad options are E_INVALID_OPTIONS naming each one', async () => {
    const error = await fails(
      ModelRegistry.open({
        db: {} as TestDb,
        store,
        tablePrefix: 'drop table;',
        artifactPrefix: '/abs/',
      }),
    );
    expect(error.code).toBe('E_INVALID_OPTIONS');
    expect(error.message).toContain('db: expected a Kysely instance');
    expect(error.message).toContain('tablePrefix: expected a SQL name of 1–40 letters');
    expect(error.message).toContain('artifactPrefix: expected a blob key prefix');
  });
});
