import type { CacheEntry, CacheStore } from 'salama/cache';
import { describe, expect, it } from 'vitest';

/** What the conformance suite needs to know about a store under test. */
export interface StoreHarness {
  /** A fresh, empty store (its own prefix or directory). */
  create(): Promise<CacheStore>;
  /** Moves the store's clock forward; absent for stores that keep real time (Redis). */
  advance?: (ms: number) => void;
  cleanup?: () => Promise<void>;
}

let serial = 0;

/** A record of the right kind for `store`, distinct per call. */
function recordFor(store: CacheStore, label: string): CacheEntry | Uint8Array {
  serial++;
  if (store.kind === 'object') {
    return {
      value: { label, serial },
      createdAt: 0,
      staleAt: 10,
      expiresAt: 10,
      tags: [],
      negative: false,
    };
  }
  return Buffer.from(`${label}:${serial}:\u0000\u00ff`, 'latin1');
}

async function read(store: CacheStore, key: string) {
  return await store.get(key);
}

async function write(
  store: CacheStore,
  key: string,
  record: CacheEntry | Uint8Array,
  ttlMs?: number,
) {
  if (store.kind === 'object') store.set(key, record as CacheEntry, ttlMs);
  else await store.set(key, record as Uint8Array, ttlMs);
}

function same(store: CacheStore, actual: unknown, expected: CacheEntry | Uint8Array) {
  if (store.kind === 'object') expect(actual).toBe(expected);
  else
    expect(Buffer.from(actual as Uint8Array).equals(Buffer.from(expected as Uint8Array))).toBe(
      true,
    );
}

/** The contract every `CacheStore` keeps; run once per store. */
export function storeConformance(name: string, harness: StoreHarness): void {
  describe(`CacheStore conformance: ${name}`, () => {
    const withStore = (test: (store: CacheStore) => Promise<void>) => async () => {
      const store = await harness.create();
      try {
        await test(store);
      } finally {
        await store.close();
        await harness.cleanup?.();
      }
    };

    it(
      'answers undefined for a key it never stored',
      withStore(async (store) => {
        expect(await read(store, 'never')).toBeUndefined();
      }),
    );

    it(
      'returns what was stored and the latest write wins',
      withStore(async (store) => {
        const first = recordFor(store, 'first');
        await write(store, 'k', first);
        same(store, await read(store, 'k'), first);
        const second = recordFor(store, 'second');
        await write(store, 'k', second);
        same(store, await read(store, 'k'), second);
      }),
    );

    it(
      'keeps keys with unicode, glob characters, separators and great length apart',
      withStore(async (store) => {
        const keys = [
          'plate:ÄБВ-42',
          'a*b?[c]\\d',
          'ns:sub/..\\x',
          'x'.repeat(600),
          'x'.repeat(601),
          ' ',
        ];
        const records = keys.map((key) => recordFor(store, key));
        for (const [i, key] of keys.entries())
          await write(store, key, records[i] as CacheEntry | Uint8Array);
        for (const [i, key] of keys.entries())
          same(store, await read(store, key), records[i] as CacheEntry | Uint8Array);
      }),
    );

    it(
      'deletes the given keys and ignores absent ones',
      withStore(async (store) => {
        const keep = recordFor(store, 'keep');
        await write(store, 'a', recordFor(store, 'a'));
        await write(store, 'b', recordFor(store, 'b'));
        await write(store, 'c', keep);
        await store.delete(['a', 'b', 'absent']);
        expect(await read(store, 'a')).toBeUndefined();
        expect(await read(store, 'b')).toBeUndefined();
        same(store, await read(store, 'c'), keep);
        await store.delete([]);
      }),
    );

    it(
      'clears only the keys under a prefix, taking glob characters literally',
      withStore(async (store) => {
        const outside = ['users', 'user:1', 'orders:users:1', 'users*:1'];
        const inside = ['users:1', 'users:2', 'users:x:y'];
        const kept = new Map<string, CacheEntry | Uint8Array>();
        for (const key of outside) {
          const record = recordFor(store, key);
          kept.set(key, record);
          await write(store, key, record);
        }
        for (const key of inside) await write(store, key, recordFor(store, key));
        await store.clear('users:');
        for (const key of inside) expect(await read(store, key)).toBeUndefined();
        for (const [key, record] of kept) same(store, await read(store, key), record);
        await store.clear('users*');
        expect(await read(store, 'users*:1')).toBeUndefined();
        same(store, await read(store, 'users'), kept.get('users') as Uint8Array);
      }),
    );

    it(
      "clears everything it owns with the prefix ''",
      withStore(async (store) => {
        await write(store, 'a', recordFor(store, 'a'));
        await write(store, 'b:c', recordFor(store, 'b'));
        await store.clear('');
        expect(await read(store, 'a')).toBeUndefined();
        expect(await read(store, 'b:c')).toBeUndefined();
      }),
    );

    if (harness.advance) {
      const advance = harness.advance;
      it(
        'drops a record once its physical TTL has passed, and keeps one without TTL',
        withStore(async (store) => {
          const forever = recordFor(store, 'forever');
          await write(store, 'short', recordFor(store, 'short'), 1_000);
          await write(store, 'forever', forever);
          advance(999);
          expect(await read(store, 'short')).toBeDefined();
          advance(2);
          expect(await read(store, 'short')).toBeUndefined();
          same(store, await read(store, 'forever'), forever);
        }),
      );
    }
  });
}
