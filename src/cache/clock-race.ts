import type { Clock } from '../core/clock.js';

/**
 * Settles as `pending` does, unless `ms` pass first on `clock`: then as `onTimeout` returns
 * (a value to resolve with) or throws (an error to reject with). The timer is cleared as soon
 * as `pending` settles, so nothing lingers on the clock.
 */
export function raceClock<T, U>(
  clock: Clock,
  pending: Promise<T>,
  ms: number,
  onTimeout: () => U,
): Promise<T | U> {
  return new Promise<T | U>((resolve, reject) => {
    const timer = clock.setTimeout(() => {
      try {
        resolve(onTimeout());
      } catch (error) {
        reject(error);
      }
    }, ms);
    pending.then(
      (value) => {
        clock.clearTimer(timer);
        resolve(value);
      },
      (error: unknown) => {
        clock.clearTimer(timer);
        reject(error);
      },
    );
  });
}
