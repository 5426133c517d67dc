import type { CacheApi, WrapOptions } from './cache-api.js';

/**
 * A method decorator (TypeScript 5 standard decorators) that caches an async method's results
 * per arguments: `@cached(cache, { strategy: 'short' })`. Pass a function to pick the cache
 * from the instance: `@cached((self: Plates) => self.cache)`. The default key is the method
 * name and its JSON-encoded arguments.
 */
export function cached<This, A extends unknown[], R>(
  cache: CacheApi | ((self: This) => CacheApi),
  options: WrapOptions<A> = {},
) {
  const { key, ...entryOptions } = options;
  return (
    method: (this: This, ...args: A) => Promise<R>,
    context: ClassMethodDecoratorContext<This, (this: This, ...args: A) => Promise<R>>,
  ) => {
    const name = String(context.name);
    const keyOf = key ?? ((...args: A) => `${name}:${JSON.stringify(args)}`);
    return function (this: This, ...args: A): Promise<R> {
      const target = typeof cache === 'function' ? cache(this) : cache;
      return target.getOrSet(keyOf(...args), () => method.apply(this, args), entryOptions);
    };
  };
}
