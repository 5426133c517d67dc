import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

/**
 * Runs full garbage collections, yielding between them so FinalizationRegistry callbacks run,
 * until `done()` holds or `rounds` collections have passed.
 */
export async function collectGarbageUntil(done: () => boolean, rounds = 50): Promise<void> {
  for (let i = 0; i < rounds && !done(); i++) {
    collect();
    await new Promise((resolve) => setImmediate(resolve));
  }
}
