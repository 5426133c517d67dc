/**
 * Which of a set of keys exist, for `S3BlobStore.delete`: DeleteObjects reports every key as
 * deleted, present or not. A listing page answers for up to 1000 objects in one request, a
 * HEAD for one key; so keys that are few, or that a listing finds sparsely, are HEADed.
 */
import { compareBlobKeys } from '../blob/blob-store.js';

/** The two S3 reads a count is made of. */
export interface KeyProbe {
  /** One ListObjectsV2 page: keys under `prefix` after `startAfter`, in UTF-8 byte order. */
  listPage(prefix: string, startAfter: string): Promise<{ keys: string[]; truncated: boolean }>;
  /** Whether the object exists (HEAD). */
  exists(key: string): Promise<boolean>;
}

/** HEADs sent at once; also the fewest keys a listing page must settle to beat HEADs. */
const HEADS_IN_FLIGHT = 16;

/** How many of `keys` (distinct, sorted by {@link compareBlobKeys}) exist. */
export async function countExistingKeys(keys: readonly string[], probe: KeyProbe): Promise<number> {
  const first = keys[0];
  const last = keys.at(-1);
  if (first === undefined || last === undefined) return 0;
  if (keys.length <= HEADS_IN_FLIGHT) return countByHead(keys, probe);
  const prefix = commonPrefix(first, last);
  const wanted = new Set(keys);
  let found = 0;
  let settled = 0; // keys[0, settled) are known to exist or not
  let startAfter = prefix;
  if (prefix === first) {
    // StartAfter excludes itself, so a first key that prefixes all others is asked on its own.
    found += await countByHead([first], probe);
    settled = 1;
  }
  for (;;) {
    const page = await probe.listPage(prefix, startAfter);
    for (const key of page.keys) {
      if (compareBlobKeys(key, last) > 0) return found;
      if (wanted.has(key)) found++;
    }
    const lastListed = page.keys.at(-1);
    if (!page.truncated || lastListed === undefined) return found;
    const before = settled;
    while (settled < keys.length && compareBlobKeys(keys[settled] as string, lastListed) <= 0)
      settled++;
    if (settled - before < HEADS_IN_FLIGHT)
      return found + (await countByHead(keys.slice(settled), probe));
    startAfter = lastListed;
  }
}

async function countByHead(keys: readonly string[], probe: KeyProbe): Promise<number> {
  let found = 0;
  let next = 0;
  const worker = async () => {
    while (next < keys.length) if (await probe.exists(keys[next++] as string)) found++;
  };
  await Promise.all(Array.from({ length: Math.min(HEADS_IN_FLIGHT, keys.length) }, worker));
  return found;
}

/** The longest common prefix of two keys, never ending inside a surrogate pair. */
function commonPrefix(a: string, b: string): string {
  let end = 0;
  while (end < a.length && a.charCodeAt(end) === b.charCodeAt(end)) end++;
  const last = a.charCodeAt(end - 1);
  if (end > 0 && last >= 0xd800 && last <= 0xdbff) end--;
  return a.slice(0, end);
}
