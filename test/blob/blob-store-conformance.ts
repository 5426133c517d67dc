import { randomBytes } from 'node:crypto';
import { type BlobInfo, type BlobStore, collectBytes } from 'salama/blob';
import { describe, expect, it } from 'vitest';

/** What the conformance suite needs to know about a store under test. */
export interface BlobStoreHarness {
  /** A fresh, empty store (its own directory, bucket or prefix). */
  create(): Promise<BlobStore>;
  cleanup?: () => Promise<void>;
}

async function keysOf(iterable: AsyncIterable<BlobInfo>): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of iterable) keys.push(info.key);
  return keys;
}

async function* chunked(bytes: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let offset = 0; offset < bytes.byteLength; offset += size) {
    await Promise.resolve();
    yield bytes.subarray(offset, offset + size);
  }
}

const text = (s: string) => new TextEncoder().encode(s);
const asText = (b: Uint8Array) => new TextDecoder().decode(b);

/** The contract every `BlobStore` keeps; run once per store. */
export function blobStoreConformance(name: string, harness: BlobStoreHarness): void {
  describe(`BlobStore conformance: ${name}`, () => {
    const withStore = (test: (store: BlobStore) => Promise<void>) => async () => {
      const store = await harness.create();
      try {
        await test(store);
      } finally {
        await store.close();
        await harness.cleanup?.();
      }
    };

    it(
      'put then get, head and stream return the same bytes',
      withStore(async (store) => {
        const bytes = randomBytes(300_000);
        const before = Date.now();
        const info = await store.put('a/b/object.bin', bytes);
        expect(info).toMatchObject({ key: 'a/b/object.bin', size: bytes.byteLength });
        expect(info.lastModified.getTime()).toBeGreaterThanOrEqual(before - 2000);
        expect(Buffer.from(await store.get('a/b/object.bin')).equals(bytes)).toBe(true);
        expect(await store.head('a/b/object.bin')).toMatchObject({ size: bytes.byteLength });
        const streamed = await collectBytes(await store.stream('a/b/object.bin'));
        expect(Buffer.from(streamed).equals(bytes)).toBe(true);
      }),
    );

    it(
      'put accepts a stream of chunks and an empty object',
      withStore(async (store) => {
        const bytes = randomBytes(1_000_003);
        await store.put('streamed', chunked(bytes, 65_536));
        expect(Buffer.from(await store.get('streamed')).equals(bytes)).toBe(true);
        await store.put('empty', new Uint8Array(0));
        expect((await store.get('empty')).byteLength).toBe(0);
        expect((await store.head('empty')).size).toBe(0);
      }),
    );

    it(
      'put replaces an object; ifNotExists refuses with E_CONFLICT and keeps the first',
      withStore(async (store) => {
        await store.put('k', text('one'));
        await store.put('k', text('two'));
        expect(asText(await store.get('k'))).toBe('two');
        await expect(store.put('k', text('three'), { ifNotExists: true })).rejects.toMatchObject({
          code: 'E_CONFLICT',
        });
        expect(asText(await store.get('k'))).toBe('two');
        await store.put('fresh', text('first'), { ifNotExists: true });
        expect(asText(await store.get('fresh'))).toBe('first');
      }),
    );

    it(
      'of racing ifNotExists writers exactly one wins',
      withStore(async (store) => {
        const results = await Promise.allSettled(
          Array.from({ length: 8 }, (_, i) =>
            store.put('race', text(`writer ${i}`), { ifNotExists: true }),
          ),
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        for (const r of results)
          if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'E_CONFLICT' });
        expect(asText(await store.get('race'))).toMatch(/^writer \d$/);
      }),
    );

    it(
      'a missing key is E_NOT_FOUND for get, stream and head; delete ignores it',
      withStore(async (store) => {
        for (const op of [
          () => store.get('missing/key'),
          () => store.stream('missing/key'),
          () => store.head('missing/key'),
        ])
          await expect(op()).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
        await store.put('present', text('x'));
        expect(await store.delete(['missing/key', 'present'])).toBe(1);
        expect(await store.delete('present')).toBe(0);
        await expect(store.get('present')).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
      }),
    );

    it(
      'a failed streamed put leaves nothing under the key',
      withStore(async (store) => {
        await store.put('kept', text('old'));
        async function* failing() {
          yield text('partial');
          throw new Error('source broke');
        }
        await expect(store.put('kept', failing())).rejects.toThrow();
        expect(asText(await store.get('kept'))).toBe('old');
        await expect(store.put('never', failing())).rejects.toThrow();
        await expect(store.head('never')).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
        expect(await keysOf(store.list())).toEqual(['kept']);
      }),
    );

    it(
      'an aborted put fails with E_ABORTED and writes nothing',
      withStore(async (store) => {
        const controller = new AbortController();
        controller.abort();
        await expect(
          store.put('aborted', text('x'), { signal: controller.signal }),
        ).rejects.toMatchObject({ name: expect.stringMatching(/Abort/) });
        await expect(store.head('aborted')).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
      }),
    );

    it(
      'list yields keys in UTF-8 byte order, by prefix, resumable after a key',
      withStore(async (store) => {
        const keys = ['a-b', 'a/x', 'a/y/z', 'a0', 'b', 'é', 'z', 'Z', '日本/1', 'a/b-c', 'a/b/c'];
        for (const key of keys) await store.put(key, text(key));
        const byBytes = [...keys].sort((p, q) => Buffer.compare(Buffer.from(p), Buffer.from(q)));
        expect(await keysOf(store.list())).toEqual(byBytes);
        expect(await keysOf(store.list({ prefix: 'a/' }))).toEqual([
          'a/b-c',
          'a/b/c',
          'a/x',
          'a/y/z',
        ]);
        expect(await keysOf(store.list({ prefix: 'a/b' }))).toEqual(['a/b-c', 'a/b/c']);
        expect(await keysOf(store.list({ startAfter: 'a/x' }))).toEqual(
          byBytes.slice(byBytes.indexOf('a/x') + 1),
        );
        expect(await keysOf(store.list({ prefix: 'a/', startAfter: 'a/b-c' }))).toEqual([
          'a/b/c',
          'a/x',
          'a/y/z',
        ]);
        expect(await keysOf(store.list({ prefix: 'nothing/' }))).toEqual([]);
        const infos: BlobInfo[] = [];
        for await (const info of store.list({ prefix: 'b' })) infos.push(info);
        expect(infos).toEqual([{ key: 'b', size: 1, lastModified: expect.any(Date) }]);
      }),
    );

    it(
      'deleting every key under a prefix empties its listing',
      withStore(async (store) => {
        for (let i = 0; i < 25; i++) await store.put(`rec/cam-${i % 3}/${i}.mp4`, text(`${i}`));
        const keys = await keysOf(store.list({ prefix: 'rec/' }));
        expect(keys).toHaveLength(25);
        expect(await store.delete(keys)).toBe(25);
        expect(await keysOf(store.list())).toEqual([]);
        await store.put('rec/cam-0/again.mp4', text('again'));
        expect(await keysOf(store.list())).toEqual(['rec/cam-0/again.mp4']);
      }),
    );

    it(
      'bad keys are E_INVALID_ARGUMENT naming the rule, and nothing is written',
      withStore(async (store) => {
        for (const key of [
          '',
          '/abs',
          'a//b',
          'a/../b',
          './a',
          'a/.',
          'nul\u0000',
          'back\\slash',
          'x'.repeat(1025),
        ]) {
          const error = await store.put(key, text('x')).catch((e: unknown) => e);
          expect(error).toMatchObject({ code: 'E_INVALID_ARGUMENT' });
          expect((error as Error).message).toMatch(/expected .+, received/);
        }
        await expect(store.get(42 as unknown as string)).rejects.toMatchObject({
          code: 'E_INVALID_ARGUMENT',
        });
        expect(await keysOf(store.list())).toEqual([]);
      }),
    );

    it(
      'after close every operation fails with E_CLOSED',
      withStore(async (store) => {
        await store.put('k', text('v'));
        await store.close();
        await expect(store.get('k')).rejects.toMatchObject({ code: 'E_CLOSED' });
        await expect(store.put('k', text('v'))).rejects.toMatchObject({ code: 'E_CLOSED' });
      }),
    );
  });
}
