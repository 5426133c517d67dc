/**
 * The service's day-two side: a PerformanceMonitor (event loop, CPU, memory, GC, request
 * latency) exported with every other module's OpenTelemetry metrics at `/metrics`; and a
 * nightly maintenance window whose tasks are ordinary salama calls — retention of the access
 * log (30 days, archived as gzip JSON lines), database maintenance, and an encrypted backup of
 * the access log, verified.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { MeterProvider } from '@opentelemetry/api';
import { BackupService, databaseSource } from 'salama/backup';
import { LocalBlobStore } from 'salama/blob';
import { consoleNotifier, MaintenanceScheduler, PerformanceMonitor } from 'salama/ops';
import { prometheusHandler } from 'salama/ops/prometheus';
import { DatabaseMaintenance, RetentionManager } from 'salama/retention';
import type { LprDb } from './access-log.js';

export interface LprOperationsOptions {
  readonly db: LprDb;
  readonly dataDir: string;
  readonly passphrase: string;
}

export class LprOperations {
  readonly monitor: PerformanceMonitor;
  readonly retention: RetentionManager;
  readonly scheduler: MaintenanceScheduler;
  /** Answers `GET /metrics`; false for other requests. */
  readonly metrics: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** Give it to every component whose metrics `/metrics` should show. */
  readonly meterProvider: MeterProvider;
  readonly #backupStore: LocalBlobStore;
  readonly #archiveStore: LocalBlobStore;
  readonly #o: LprOperationsOptions;
  readonly #closeMetrics: () => Promise<void>;

  private constructor(
    o: LprOperationsOptions,
    metrics: {
      handler: LprOperations['metrics'];
      meterProvider: MeterProvider;
      close: () => Promise<void>;
    },
    monitor: PerformanceMonitor,
    scheduler: MaintenanceScheduler,
  ) {
    this.#o = o;
    this.monitor = monitor;
    this.metrics = metrics.handler;
    this.meterProvider = metrics.meterProvider;
    this.#closeMetrics = metrics.close;
    this.scheduler = scheduler;
    this.#archiveStore = new LocalBlobStore({ root: join(o.dataDir, 'archive') });
    this.#backupStore = new LocalBlobStore({ root: join(o.dataDir, 'backups') });
    this.retention = new RetentionManager({
      db: o.db,
      policies: [
        {
          name: 'access-log',
          table: 'access_log',
          timestampColumn: 'at',
          timestampFormat: 'epoch-ms',
          maxAge: '30d',
          archive: { to: { store: this.#archiveStore, prefix: 'access-log/' } },
        },
      ],
    });
  }

  static async start(o: LprOperationsOptions): Promise<LprOperations> {
    const prometheus = prometheusHandler({ path: '/metrics' });
    const meterProvider = prometheus.meterProvider as MeterProvider;
    const monitor = new PerformanceMonitor({ meterProvider }).start();
    const scheduler = new MaintenanceScheduler({ db: o.db, notifiers: [consoleNotifier()] });
    const ops = new LprOperations(
      o,
      {
        handler: (req, res) => prometheus.handle(req, res),
        meterProvider,
        close: () => prometheus.close(),
      },
      monitor,
      scheduler,
    );
    scheduler.registerTask('retention', () => ops.retention.run());
    scheduler.registerTask('database-maintenance', () =>
      new DatabaseMaintenance({ db: o.db, tables: ['access_log'] }).run(),
    );
    scheduler.registerTask('backup', () => ops.backupNow());
    await ops.#scheduleNightly();
    await scheduler.start();
    return ops;
  }

  /** What retention would delete and archive now, without doing it. */
  async retentionDryRun() {
    const report = await this.retention.dryRun();
    return report.policies.map((p) => ({
      policy: p.policy,
      status: p.status,
      cutoff: p.cutoff,
      matched: p.matched,
      'would archive to': 'archive/access-log/',
    }));
  }

  /** Backs the access log up (encrypted, deduplicated) and verifies every byte of it. */
  async backupNow() {
    const store = this.#backupStore;
    const service = (await store.head('config').then(
      () => true,
      () => false,
    ))
      ? await BackupService.open(store, { passphrase: this.#o.passphrase })
      : await BackupService.init(store, { passphrase: this.#o.passphrase });
    const report = await service.backup([databaseSource(this.#o.db, { tables: ['access_log'] })], {
      tags: ['lpr'],
    });
    const verify = await service.verify({ readData: true });
    return {
      snapshot: report.snapshot.id.slice(0, 12),
      bytes: report.bytes,
      'new bytes': report.newBytes,
      'dedup ratio': Number(report.dedupRatio.toFixed(2)),
      'duration ms': report.durationMs,
      'verify problems': verify.problems.length,
    };
  }

  async close(): Promise<void> {
    await this.scheduler.close();
    await this.monitor.close();
    await this.#closeMetrics();
  }

  async #scheduleNightly() {
    const existing = await this.scheduler.windows();
    // Windows are persisted: a restart finds the one an earlier start made.
    if (existing.some((w) => w.name === 'nightly' && w.status === 'scheduled')) return;
    const start = new Date();
    start.setUTCHours(24 + 2, 0, 0, 0);
    await this.scheduler.schedule({
      name: 'nightly',
      start,
      durationMs: 60 * 60_000,
      priority: 'normal',
      tasks: ['retention', 'database-maintenance', 'backup'],
      systems: ['access-log'],
      notify: ['ops@example.com'],
      recurrence: '0 2 * * *',
    });
  }
}
