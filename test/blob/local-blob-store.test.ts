import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBlobStore } from 'salama/blob';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blobStoreConformance } from './blob-store-conformance.js';

let root: string | undefined;
blobStoreConformance('local directory', {
  async create() {
    root = await mkdtemp(join(tmpdir(), 'salama-blob-'));
    return new LocalBlobStore({ root: join(root, 'store') });
  },
  async cleanup() {
    if (root) await rm(root, { recursive: true, force: true });
  },
});

describe('LocalBlobStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'salama-blob-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('opens an existing directory as it is: relative paths are keys, temp files are hidden', async () => {
    await mkdir(join(dir, 'cam-1', '2026-11-01'), { recursive: true });
    await writeFile(join(dir, 'cam-1', '2026-11-01', 'a.mp4'), 'video');
    await writeFile(join(dir, 'cam-1', '.salama-tmp-interrupted'), 'half');
    const store = new LocalBlobStore({ root: dir, fsync: false });
    const keys: string[] = [];
    for await (const info of store.list()) keys.push(info.key);
    expect(keys).toEqual(['cam-1/2026-11-01/a.mp4']);
    expect(new TextDecoder().decode(await store.get('cam-1/2026-11-01/a.mp4'))).toBe('video');
    await store.close();
  });

  it('a key cannot be both an object and a prefix on a filesystem: E_CONFLICT, nothing lost', async () => {
    const store = new LocalBlobStore({ root: dir });
    await store.put('a/b', new Uint8Array([1]));
    await expect(store.put('a', new Uint8Array([2]))).rejects.toMatchObject({ code: 'E_CONFLICT' });
    await expect(store.put('a/b/c', new Uint8Array([3]))).rejects.toMatchObject({
      code: 'E_CONFLICT',
    });
    expect([...(await store.get('a/b'))]).toEqual([1]);
    await store.close();
  });

  it('delete removes the directories it emptied, never the root', async () => {
    const store = new LocalBlobStore({ root: dir });
    await store.put('x/y/z/file', new Uint8Array([1]));
    await store.put('x/keep', new Uint8Array([1]));
    await store.delete('x/y/z/file');
    expect(await readdir(join(dir, 'x'))).toEqual(['keep']);
    await store.delete('x/keep');
    expect(await readdir(dir)).toEqual([]);
    await store.close();
  });

  it('rejects bad options with E_INVALID_OPTIONS', () => {
    expect(() => new LocalBlobStore({ root: '' })).toThrow(/root: expected string of length >= 1/);
    expect(() => new LocalBlobStore({ root: dir, bogus: 1 } as never)).toThrow(
      expect.objectContaining({ code: 'E_INVALID_OPTIONS' }),
    );
  });
});
