import { BackendUnavailableError } from 'salama';
import type { BlobInfo, BlobListOptions, BlobPutOptions, BlobStore } from 'salama/blob';

/** What a hook throws to fail a call like a dropped connection to S3. */
export const injected503 = (operation: string, key: string) =>
  new BackendUnavailableError(`${operation} ${key}: 503 SlowDown (injected)`);

/** Hooks a test runs around a real store's calls: to pause, fail or kill at a chosen moment. */
export interface BlobHooks {
  /** Before a get reaches the store; throw to fail it. */
  beforeGet?(key: string): Promise<void> | void;
  /** Before a put reaches the store; throw to fail it. */
  beforePut?(key: string): Promise<void> | void;
  /** After a put succeeded, before it resolves. */
  afterPut?(key: string, count: number): Promise<void> | void;
  /** Before a listing yields anything. */
  beforeList?(count: number): Promise<void> | void;
}

/** A real {@link BlobStore} with test hooks around `get`, `put` and `list`; everything else passes through. */
export class HookedBlobStore implements BlobStore {
  readonly location: string;
  #puts = 0;
  #lists = 0;

  constructor(
    readonly inner: BlobStore,
    readonly hooks: BlobHooks,
  ) {
    this.location = inner.location;
  }

  async put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, options?: BlobPutOptions) {
    await this.hooks.beforePut?.(key);
    const info = await this.inner.put(key, data, options);
    await this.hooks.afterPut?.(key, ++this.#puts);
    return info;
  }
  async get(key: string) {
    await this.hooks.beforeGet?.(key);
    return this.inner.get(key);
  }
  stream(key: string) {
    return this.inner.stream(key);
  }
  head(key: string) {
    return this.inner.head(key);
  }
  delete(keys: string | readonly string[]) {
    return this.inner.delete(keys);
  }
  async *list(options?: BlobListOptions): AsyncIterable<BlobInfo> {
    await this.hooks.beforeList?.(++this.#lists);
    yield* this.inner.list(options);
  }
  close() {
    return this.inner.close();
  }
}
