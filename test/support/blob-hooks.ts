import type { BlobInfo, BlobListOptions, BlobPutOptions, BlobStore } from 'salama/blob';

/** Hooks a test runs around a real store's calls: to pause, fail or kill at a chosen moment. */
export interface BlobHooks {
  /** After a put succeeded, before it resolves. */
  afterPut?(key: string, count: number): Promise<void> | void;
  /** Before a listing yields anything. */
  beforeList?(count: number): Promise<void> | void;
}

/** A real {@link BlobStore} with test hooks around `put` and `list`; everything else passes through. */
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
    const info = await this.inner.put(key, data, options);
    await this.hooks.afterPut?.(key, ++this.#puts);
    return info;
  }
  get(key: string) {
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
