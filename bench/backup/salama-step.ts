/**
 * One step of the backup benchmark as its own process, so salama is timed from the outside
 * like restic and tar: `init REPO`, `backup REPO DIR` (source name `data`) or
 * `restore REPO TARGET`. Prints the step's report as JSON on stdout.
 *
 * bench/backup.ts bundles this file with esbuild and runs the bundle with plain `node`, so
 * the timing holds no TypeScript compilation; `node --import tsx` runs it as it is.
 *
 *   SALAMA_BENCH_PASSPHRASE=secret node --import tsx bench/backup/salama-step.ts backup /tmp/repo /tmp/data
 *
 * Env: SALAMA_BENCH_PASSPHRASE (required), SALAMA_BENCH_FSYNC (`0` turns it off; default on).
 */
import { BackupService } from '../../src/backup/backup-service.js';
import { pathSource } from '../../src/backup/sources.js';
import { LocalBlobStore } from '../../src/blob/local-blob-store.js';

const [command, repo, path] = process.argv.slice(2);
const passphrase = process.env.SALAMA_BENCH_PASSPHRASE;
if (!repo || !passphrase || (command !== 'init' && !path)) {
  console.error(
    'usage: SALAMA_BENCH_PASSPHRASE=... salama-step init REPO | backup REPO DIR | restore REPO TARGET',
  );
  process.exit(2);
}
const store = new LocalBlobStore({ root: repo, fsync: process.env.SALAMA_BENCH_FSYNC !== '0' });

let report: unknown;
switch (command) {
  case 'init': {
    const service = await BackupService.init(store, { passphrase });
    report = { id: service.repository.config.id, packSize: service.repository.packSize };
    break;
  }
  case 'backup': {
    const service = await BackupService.open(store, { passphrase });
    const { snapshot, ...rest } = await service.backup([
      pathSource(path as string, { name: 'data' }),
    ]);
    report = { snapshot: snapshot.id, ...rest, dedupRatio: undefined };
    break;
  }
  case 'restore': {
    const service = await BackupService.open(store, { passphrase });
    report = await service.restore('latest', path as string);
    break;
  }
  default:
    console.error(`salama-step: unknown command ${JSON.stringify(command)}`);
    process.exit(2);
}
await store.close();
console.log(JSON.stringify(report));
