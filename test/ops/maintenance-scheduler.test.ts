import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Logger, ManualClock, SalamaError } from 'salama';
import {
  consoleNotifier,
  type MaintenanceEvent,
  MaintenanceScheduler,
  type MaintenanceSchedulerOptions,
  type MaintenanceWindowInput,
  webhookNotifier,
} from 'salama/ops';
import { DatabaseMaintenance, RetentionManager } from 'salama/retention';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  NOW as ALERTS_NOW,
  alerts,
  createAlerts,
  remainingIds,
} from '../retention/alerts-fixture.js';
import { retentionPolicy } from '../retention/fixtures/crash-policy.js';
import {
  allDialects,
  type DialectName,
  openDatabase,
  type TestDatabase,
  type TestDb,
} from '../support/databases.js';
import { until } from '../support/until.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const NOW = Date.parse('2026-03-01T00:00:00.000Z');
const at = (ms: number) => new Date(NOW + ms);

/** A notifier that records events and lets a test wait for the next one of a type. */
function recorder() {
  const events: MaintenanceEvent[] = [];
  const waiting: { type: string; resolve: (e: MaintenanceEvent) => void }[] = [];
  return {
    events,
    types: () => events.map((e) => `${e.type}:${e.window.id}`),
    notifier: {
      name: 'recorder',
      notify(event: MaintenanceEvent) {
        events.push(event);
        for (const w of waiting.filter((w) => w.type === event.type)) {
          waiting.splice(waiting.indexOf(w), 1);
          w.resolve(event);
        }
      },
    },
    next(type: MaintenanceEvent['type']): Promise<MaintenanceEvent> {
      return new Promise((resolve) => waiting.push({ type, resolve }));
    },
  };
}

/** A logger keeping its warn and error lines. */
function memoryLogger() {
  const lines: { level: string; obj: object; msg?: string }[] = [];
  const record =
    (level: string) =>
    (obj: object | string, msg?: string): void => {
      lines.push(typeof obj === 'string' ? { level, obj: {}, msg: obj } : { level, obj, msg });
    };
  const logger: Logger = {
    trace: () => {},
    debug: () => {},
    info: () => {},
    warn: record('warn'),
    error: record('error'),
  };
  return { logger, lines };
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** `db` that calls `hook` after each read of the last occurrences run (the one grouped query). */
function afterRunsRead(db: TestDb, hook: () => Promise<unknown>): TestDb {
  const grouped = new WeakSet<object>();
  return db.withPlugin({
    transformQuery: ({ node, queryId }) => {
      if (node.kind === 'SelectQueryNode' && node.groupBy) grouped.add(queryId);
      return node;
    },
    transformResult: async ({ result, queryId }) => {
      if (grouped.has(queryId)) await hook();
      return result;
    },
  });
}

const nightly = (over: Partial<MaintenanceWindowInput> = {}): MaintenanceWindowInput => ({
  id: 'nightly',
  name: 'Nightly DB',
  start: at(HOUR),
  durationMs: HOUR,
  priority: 'high',
  tasks: ['vacuum'],
  systems: ['db'],
  notify: ['ops@example.com'],
  recurrence: '0 1 * * *',
  timezone: 'UTC',
  ...over,
});

describe.each(allDialects)('MaintenanceScheduler on %s', (dialect: DialectName) => {
  let database: TestDatabase;
  let clock: ManualClock;
  const schedulers: MaintenanceScheduler[] = [];
  const make = (options: Partial<MaintenanceSchedulerOptions> = {}) => {
    const scheduler = new MaintenanceScheduler({
      db: database.db,
      clock,
      pollIntervalMs: 7 * DAY,
      ...options,
    });
    schedulers.push(scheduler);
    return scheduler;
  };

  beforeEach(async () => {
    database = await openDatabase(dialect);
    clock = new ManualClock(NOW);
  });
  afterEach(async () => {
    for (const s of schedulers.splice(0)) await s.close();
    await database.close();
  });

  it('keeps windows and reports across a restart: a new scheduler on the same database sees them', async () => {
    const first = make({ tasks: { vacuum: async () => ({ pages: 12 }) } });
    const window = await first.schedule(nightly());
    const report = await first.perform('nightly');
    await first.close();

    const second = make({ db: await database.another() });
    expect(await second.get('nightly')).toEqual(window);
    expect(window).toMatchObject({ status: 'scheduled', recurrence: '0 1 * * *', systems: ['db'] });
    const occurrences = await second.list({ from: at(0), to: at(3 * DAY) });
    expect(occurrences.map((o) => o.start)).toEqual([at(HOUR), at(DAY + HOUR), at(2 * DAY + HOUR)]);
    expect(occurrences[0]?.end).toEqual(at(2 * HOUR));
    const history = await second.history('nightly');
    expect(history).toEqual([{ ...report, statusCheck: undefined }]);
    expect(history[0]?.completed).toEqual([
      { task: 'vacuum', durationMs: 0, result: { pages: 12 } },
    ]);
  });

  it('refuses a window overlapping another on the same system, naming the other window', async () => {
    const scheduler = make();
    await scheduler.schedule({ ...nightly({ recurrence: undefined }), systems: ['db', 'api'] });
    const error = await scheduler
      .schedule({
        id: 'reindex',
        name: 'Reindex',
        start: at(90 * MINUTE),
        durationMs: HOUR,
        systems: ['api', 'cache'],
      })
      .catch((e: unknown) => e);
    expect(SalamaError.is(error, 'E_WINDOW_CONFLICT')).toBe(true);
    expect((error as Error).message).toBe(
      'Maintenance window "Reindex" (reindex) from 2026-03-01T01:30:00.000Z to 2026-03-01T02:30:00.000Z overlaps window "Nightly DB" (nightly) from 2026-03-01T01:00:00.000Z to 2026-03-01T02:00:00.000Z on system api; move one of them or cancel nightly first',
    );
    expect((await scheduler.windows()).map((w) => w.id)).toEqual(['nightly']);
  });

  it('refuses a one-off window that collides with an occurrence of a recurring window weeks ahead', async () => {
    const scheduler = make();
    await scheduler.schedule(nightly());
    const error = await scheduler
      .schedule({
        id: 'upgrade',
        name: 'PG upgrade',
        start: at(40 * DAY + 30 * MINUTE),
        durationMs: 2 * HOUR,
        systems: ['db'],
      })
      .catch((e: unknown) => e);
    expect(SalamaError.is(error, 'E_WINDOW_CONFLICT')).toBe(true);
    expect((error as Error).message).toContain(
      'overlaps window "Nightly DB" (nightly, recurring "0 1 * * *") from 2026-04-10T01:00:00.000Z to 2026-04-10T02:00:00.000Z on system db',
    );
    expect((error as SalamaError).context).toMatchObject({ other: 'nightly', systems: ['db'] });
  });

  it('refuses a recurring window whose occurrences collide with a one-off window', async () => {
    const scheduler = make();
    // 2026-03-01 is a Sunday; the migration runs from Saturday night into Sunday 2026-03-15.
    await scheduler.schedule({
      id: 'migration',
      name: 'Migration',
      start: at(13 * DAY + 22 * HOUR),
      durationMs: 4 * HOUR,
      systems: ['db'],
    });
    const error = await scheduler
      .schedule(nightly({ recurrence: '0 1 * * 0', id: 'weekly', name: 'Weekly' }))
      .catch((e: unknown) => e);
    expect(SalamaError.is(error, 'E_WINDOW_CONFLICT')).toBe(true);
    expect((error as Error).message).toContain(
      'Maintenance window "Weekly" (weekly) from 2026-03-15T01:00:00.000Z to 2026-03-15T02:00:00.000Z overlaps window "Migration" (migration) from 2026-03-14T22:00:00.000Z to 2026-03-15T02:00:00.000Z',
    );
  });

  it('allows overlapping windows on different systems and back-to-back windows on the same one', async () => {
    const scheduler = make();
    await scheduler.schedule(nightly());
    await scheduler.schedule({
      id: 'cache',
      name: 'Cache flush',
      start: at(HOUR),
      durationMs: HOUR,
      systems: ['cache'],
    });
    await scheduler.schedule({
      id: 'after',
      name: 'After',
      start: at(2 * HOUR),
      durationMs: HOUR,
      systems: ['db'],
    });
    await scheduler.schedule({
      id: 'before',
      name: 'Before',
      start: at(0),
      durationMs: HOUR,
      systems: ['db'],
      priority: 'low',
    });
    const listed = await scheduler.list({ from: at(0), to: at(DAY) });
    expect(listed.map((o) => [o.window.id, o.start.toISOString()])).toEqual([
      ['before', '2026-03-01T00:00:00.000Z'],
      ['nightly', '2026-03-01T01:00:00.000Z'],
      ['cache', '2026-03-01T01:00:00.000Z'],
      ['after', '2026-03-01T02:00:00.000Z'],
    ]);
  });

  it('cancel frees the systems, keeps the window, and tells the notifiers; unknown ids are E_NOT_FOUND', async () => {
    const events = recorder();
    const scheduler = make({ notifiers: [events.notifier] });
    await scheduler.schedule(nightly());
    const cancelled = await scheduler.cancel('nightly');
    expect(cancelled.status).toBe('cancelled');
    expect(await scheduler.list({ from: at(0), to: at(DAY) })).toEqual([]);
    await scheduler.schedule(nightly({ id: 'replacement' }));
    expect(events.types()).toEqual([
      'scheduled:nightly',
      'cancelled:nightly',
      'scheduled:replacement',
    ]);
    for (const call of [
      () => scheduler.get('nope'),
      () => scheduler.cancel('nope'),
      () => scheduler.perform('nope'),
    ])
      await expect(call()).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await expect(scheduler.perform('nightly')).rejects.toMatchObject({ code: 'E_CONFLICT' });
    await expect(
      scheduler.schedule(nightly({ id: 'replacement', start: at(5 * DAY) })),
    ).rejects.toMatchObject({ code: 'E_CONFLICT' });
  });

  it('perform runs the tasks in order, reports completed and failed ones, then the status check', async () => {
    const order: string[] = [];
    const events = recorder();
    const scheduler = make({
      notifiers: [events.notifier],
      statusCheck: async () => ({ ok: false, details: { replicationLagS: 42 } }),
      tasks: {
        vacuum: async ({ window, signal }) => {
          order.push(`vacuum:${window.id}:${signal.aborted}`);
          return { tables: 3 };
        },
        reindex: async () => {
          order.push('reindex');
          throw Object.assign(new Error('index "alerts_pkey" is locked'), { code: 'E_LOCKED' });
        },
        backup: async () => {
          order.push('backup');
          return 'snapshot 1f2e';
        },
      },
    });
    await scheduler.schedule(nightly({ tasks: ['vacuum', 'reindex', 'backup', 'ghost'] }));
    const report = await scheduler.perform('nightly');
    expect(order).toEqual(['vacuum:nightly:false', 'reindex', 'backup']);
    expect(report).toMatchObject({
      windowId: 'nightly',
      trigger: 'manual',
      occurrence: undefined,
      startedAt: at(0),
      finishedAt: at(0),
      status: 'degraded',
      completed: [
        { task: 'vacuum', result: { tables: 3 } },
        { task: 'backup', result: 'snapshot 1f2e' },
      ],
      failed: [
        { task: 'reindex', error: { code: 'E_LOCKED', message: 'index "alerts_pkey" is locked' } },
        { task: 'ghost', error: { code: 'E_NOT_FOUND' } },
      ],
      statusCheck: { ok: false, details: { replicationLagS: 42 } },
    });
    expect(report.failed[1]?.error.message).toBe(
      'Maintenance task "ghost" of window nightly is not registered (registered: vacuum, reindex, backup); call registerTask("ghost", fn) first',
    );
    expect(events.types()).toEqual(['scheduled:nightly', 'starting:nightly', 'completed:nightly']);
    expect(await scheduler.history('nightly')).toEqual([report]);
  });

  it('a run where every task fails is failed, and notifiers get a failed event', async () => {
    const events = recorder();
    const scheduler = make({ notifiers: [events.notifier] });
    await scheduler.schedule(nightly({ tasks: ['unregistered'] }));
    const report = await scheduler.perform('nightly');
    expect(report.status).toBe('failed');
    expect(report.failed.map((f) => f.error.code)).toEqual(['E_NOT_FOUND']);
    const failed = events.events.at(-1);
    expect(failed).toMatchObject({ type: 'failed', report: { status: 'failed' } });
  });

  it('aborts a task past its time limit (the window duration by default) and reports E_TIMEOUT', async () => {
    let started!: () => void;
    const taskStarted = new Promise<void>((resolve) => {
      started = resolve;
    });
    let signal: AbortSignal | undefined;
    const scheduler = make({
      tasks: {
        hang: ({ signal: s }) => {
          signal = s;
          started();
          return new Promise(() => {});
        },
        after: async () => 'ran',
      },
    });
    await scheduler.schedule(nightly({ tasks: ['hang', 'after'] }));
    const running = scheduler.perform('nightly');
    await taskStarted;
    await expect(scheduler.perform('nightly')).rejects.toThrow(
      'Maintenance window nightly is already running',
    );
    clock.advance(HOUR - 1);
    expect(signal?.aborted).toBe(false);
    clock.advance(1);
    const report = await running;
    expect(signal?.aborted).toBe(true);
    expect(report.failed).toEqual([
      {
        task: 'hang',
        durationMs: HOUR,
        error: {
          code: 'E_TIMEOUT',
          message: 'Maintenance task "hang" of window nightly did not finish within 3600000 ms',
        },
      },
    ]);
    expect(report.completed.map((c) => c.task)).toEqual(['after']);
  });

  it('runs a window when it falls due on the clock, and a recurring one again at its next occurrence', async () => {
    const events = recorder();
    let runs = 0;
    const scheduler = make({ notifiers: [events.notifier], tasks: { vacuum: async () => ++runs } });
    await scheduler.schedule(nightly());
    await scheduler.start();
    clock.advance(HOUR - 1);
    expect(runs).toBe(0);

    const first = events.next('completed');
    clock.advance(1);
    expect(await first).toMatchObject({
      report: {
        trigger: 'schedule',
        occurrence: at(HOUR),
        status: 'ok',
        completed: [{ result: 1 }],
      },
    });
    const second = events.next('completed');
    clock.advance(DAY);
    expect(await second).toMatchObject({
      report: { occurrence: at(DAY + HOUR), completed: [{ result: 2 }] },
    });
    await scheduler.stop();
    expect((await scheduler.history('nightly')).map((r) => r.id)).toEqual([
      `nightly@${NOW + HOUR}`,
      `nightly@${NOW + DAY + HOUR}`,
    ]);
  });

  it('a started scheduler picks up, within pollIntervalMs, a window another process scheduled', async () => {
    const events = recorder();
    const running = make({
      pollIntervalMs: 10 * MINUTE,
      notifiers: [events.notifier],
      tasks: { vacuum: async () => 'ran' },
    });
    await running.start();
    const other = make({ db: await database.another() });
    await other.schedule(nightly({ recurrence: undefined }));
    clock.advance(10 * MINUTE);
    await running.start(); // the plan the poll started is done
    const done = events.next('completed');
    clock.advance(50 * MINUTE);
    expect(await done).toMatchObject({
      window: { id: 'nightly' },
      report: { occurrence: at(HOUR) },
    });
  });

  it('a restarted scheduler does not rerun the occurrence already run, and runs the next one', async () => {
    const events = recorder();
    const done = events.next('completed');
    const first = make({ notifiers: [events.notifier], tasks: { vacuum: async () => 'first' } });
    await first.schedule(nightly());
    await first.start();
    clock.advance(HOUR);
    await done;
    await first.close();

    clock.advance(10 * MINUTE); // the occurrence is still open, but it has run
    const later = recorder();
    const second = make({
      db: await database.another(),
      notifiers: [later.notifier],
      tasks: { vacuum: async () => 'second' },
    });
    await second.start();
    expect(later.events).toEqual([]);
    const next = later.next('completed');
    clock.advance(DAY);
    expect(await next).toMatchObject({
      report: { occurrence: at(DAY + HOUR), completed: [{ result: 'second' }] },
    });
  });

  it('two schedulers started on one database run each occurrence once, even planning on the same state', async () => {
    let runs = 0;
    const events = recorder();
    // Both read which occurrences were run before either claims one: a's read is held until
    // b has read, and b's until a has run the occurrence.
    const bRead = deferred();
    const aDone = deferred();
    let holding = false;
    const a = make({
      db: afterRunsRead(database.db, async () => holding && (await bRead.promise)),
      notifiers: [events.notifier],
      tasks: { vacuum: async () => ++runs },
    });
    const b = make({
      db: afterRunsRead(await database.another(), async () => {
        if (!holding) return;
        bRead.resolve();
        await aDone.promise;
      }),
      tasks: { vacuum: async () => ++runs },
    });
    await a.schedule(nightly({ recurrence: undefined }));
    await a.start();
    await b.start();
    holding = true;
    const done = events.next('completed');
    clock.advance(HOUR);
    await done;
    aDone.resolve();
    await b.stop();
    await a.stop();
    expect(runs).toBe(1);
    expect(await b.history('nightly')).toHaveLength(1);
  });

  it('starts no occurrence while a run that may outlast its window goes on, until that run must have ended', async () => {
    const scheduler = make({ pollIntervalMs: HOUR, tasks: { vacuum: async () => 'done' } });
    // Hourly, 30 minutes long, but each of its 2 tasks may take up to 45 minutes.
    await scheduler.schedule(
      nightly({
        recurrence: '0 * * * *',
        durationMs: 30 * MINUTE,
        taskTimeoutMs: 45 * MINUTE,
        tasks: ['vacuum', 'vacuum'],
      }),
    );
    // Another scheduler's run of the 01:00 occurrence, still recorded running: its process
    // is busy with it (or died); it may go on until 02:30.
    await database.db
      .insertInto('salama_maintenance_runs')
      .values({
        id: `nightly@${NOW + HOUR}`,
        window_id: 'nightly',
        trigger: 'schedule',
        occurrence_at: NOW + HOUR,
        started_at: NOW + HOUR,
        status: 'running',
      })
      .execute();
    const runs = async () =>
      (
        await database.db
          .selectFrom('salama_maintenance_runs')
          .select('id')
          .orderBy('started_at')
          .execute()
      ).map((r) => String(r.id));
    clock.advance(2 * HOUR); // 02:00
    await scheduler.start();
    expect(await runs()).toEqual([`nightly@${NOW + HOUR}`]);
    clock.advance(HOUR); // 03:00: the 01:00 run cannot be going any more
    await scheduler.start();
    expect(await runs()).toEqual([`nightly@${NOW + HOUR}`, `nightly@${NOW + 3 * HOUR}`]);
  });

  it('two schedulers never run occurrences of one window at once, even one stored overlapping itself', async () => {
    let running = 0;
    let most = 0;
    const gate = deferred();
    const vacuum = async () => {
      most = Math.max(most, ++running);
      await gate.promise;
      running--;
    };
    // Each polls every hour, so the one not running plans at every occurrence.
    const a = make({ pollIntervalMs: HOUR, tasks: { vacuum } });
    const b = make({ db: await database.another(), pollIntervalMs: HOUR, tasks: { vacuum } });
    await a.schedule(nightly({ recurrence: '0 * * * *' }));
    // As a window stored before schedule() refused overlapping occurrences would be.
    await database.db
      .updateTable('salama_maintenance_windows')
      .set({ duration_ms: 3 * HOUR })
      .where('id', '=', 'nightly')
      .execute();
    await a.start();
    await b.start();
    try {
      for (let hour = 1; hour <= 3; hour++) {
        clock.advance(HOUR);
        await a.start();
        await b.start();
        await until(() => running > 0);
        // A run is launched right after its claim; give a second one every chance to start.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(most).toBe(1);
    } finally {
      gate.resolve();
    }
    await a.stop();
    await b.stop();
  });
});

describe('MaintenanceScheduler tasks, notifiers and input checks', () => {
  let database: TestDatabase;
  let clock: ManualClock;
  beforeEach(async () => {
    database = await openDatabase('sqlite');
    clock = new ManualClock(NOW);
  });
  afterEach(async () => {
    await database.close();
  });

  it('runs a RetentionManager and DatabaseMaintenance as ordinary tasks on a real SQLite file', async () => {
    const rows = alerts(400);
    await createAlerts(database.db, 'sqlite', rows);
    const retention = new RetentionManager({
      db: database.db,
      clock: new ManualClock(ALERTS_NOW),
      pauseMs: 0,
      policies: [retentionPolicy('table')],
    });
    const scheduler = new MaintenanceScheduler({
      db: database.db,
      clock: new ManualClock(ALERTS_NOW),
      tasks: {
        retention: () => retention.run(),
        'database-maintenance': () =>
          new DatabaseMaintenance({ db: database.db, tables: ['alerts'] }).run(),
      },
    });
    await scheduler.schedule({
      id: 'retention',
      name: 'Retention',
      start: new Date(ALERTS_NOW + HOUR),
      durationMs: HOUR,
      tasks: ['retention', 'database-maintenance'],
      systems: ['alerts'],
    });
    const report = await scheduler.perform('retention');
    expect(report.status).toBe('ok');
    const expired = rows.filter(
      (a) => a.detectedAt < ALERTS_NOW - 90 * DAY && a.status === 'resolved',
    );
    expect(report.completed[0]?.result).toMatchObject({ ok: true, deleted: expired.length });
    expect(await remainingIds(database.db)).toHaveLength(rows.length - expired.length);
    const [stored] = await scheduler.history('retention');
    expect(stored?.completed[0]?.result).toMatchObject({ deleted: expired.length });
    await scheduler.close();
  });

  it('stores task results that are not plain JSON readably: cycles, shared objects, bigints, errors', async () => {
    const shared = { table: 'alerts' };
    const result: Record<string, unknown> = {
      rows: 12n,
      first: shared,
      second: shared,
      warning: new Error('slow'),
    };
    result.self = result;
    const scheduler = new MaintenanceScheduler({
      db: database.db,
      clock,
      tasks: { odd: async () => result },
    });
    await scheduler.schedule(nightly({ tasks: ['odd'] }));
    const report = await scheduler.perform('nightly');
    expect(report.completed[0]?.result).toBe(result);
    const [stored] = await scheduler.history('nightly');
    expect(stored?.completed[0]?.result).toEqual({
      rows: '12',
      first: { table: 'alerts' },
      second: { table: 'alerts' },
      warning: { message: 'slow' },
      self: '[Circular]',
    });
    await scheduler.close();
  });

  it('a console notifier writes a line per event', async () => {
    const lines: string[] = [];
    const scheduler = new MaintenanceScheduler({
      db: database.db,
      clock,
      notifiers: [consoleNotifier({ log: (line) => lines.push(line) })],
      tasks: { vacuum: async () => 1 },
    });
    await scheduler.schedule(nightly());
    await scheduler.perform('nightly');
    await scheduler.cancel('nightly');
    expect(lines).toEqual([
      'maintenance scheduled: "Nightly DB" (nightly) from 2026-03-01T01:00:00.000Z for 3600000 ms, every "0 1 * * *" (UTC); systems db; notify ops@example.com',
      'maintenance starting: "Nightly DB" (nightly); tasks vacuum; systems db',
      'maintenance completed: "Nightly DB" (nightly) ok: 1 completed, 0 failed',
      'maintenance cancelled: "Nightly DB" (nightly)',
    ]);
  });

  describe('with a webhook server', () => {
    let server: Server;
    let url: string;
    const received: { headers: IncomingMessage['headers']; body: Record<string, unknown> }[] = [];
    let status = 204;
    beforeEach(async () => {
      received.length = 0;
      status = 204;
      server = createServer((req, res) => {
        let text = '';
        req.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        req.on('end', () => {
          received.push({ headers: req.headers, body: JSON.parse(text) });
          res.writeHead(status).end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/maintenance`;
    });
    afterEach(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    it('POSTs every event as JSON to the webhook', async () => {
      const scheduler = new MaintenanceScheduler({
        db: database.db,
        clock,
        notifiers: [webhookNotifier({ url, headers: { authorization: 'Bearer t0ken' } })],
        tasks: { vacuum: async () => ({ pages: 3 }) },
      });
      await scheduler.schedule(nightly());
      await scheduler.perform('nightly');
      expect(received.map((r) => r.body.type)).toEqual(['scheduled', 'starting', 'completed']);
      expect(received[0]?.headers).toMatchObject({
        authorization: 'Bearer t0ken',
        'content-type': 'application/json',
      });
      expect(received[2]?.body).toMatchObject({
        type: 'completed',
        at: '2026-03-01T00:00:00.000Z',
        window: { id: 'nightly', notify: ['ops@example.com'], start: '2026-03-01T01:00:00.000Z' },
        report: { status: 'ok', completed: [{ task: 'vacuum', result: { pages: 3 } }] },
      });
    });

    it('a failing or throwing notifier is logged and never breaks perform', async () => {
      status = 500;
      const { logger, lines } = memoryLogger();
      const scheduler = new MaintenanceScheduler({
        db: database.db,
        clock,
        logger,
        notifiers: [
          webhookNotifier({ url }),
          {
            name: 'broken',
            notify() {
              throw new Error('pager offline');
            },
          },
        ],
        tasks: { vacuum: async () => 'done' },
      });
      await scheduler.schedule(nightly());
      const report = await scheduler.perform('nightly');
      expect(report.status).toBe('ok');
      const warnings = lines.filter((l) => l.level === 'warn').map((l) => l.msg);
      expect(warnings).toContain(
        `maintenance notifier webhook ${url} failed on completed: Maintenance webhook ${url} answered 500 Internal Server Error`,
      );
      expect(warnings).toContain('maintenance notifier broken failed on starting: pager offline');
      expect(warnings).toHaveLength(6);
    });
  });

  it('reads a recurrence without a time zone in UTC, whatever the process zone', async () => {
    const saved = process.env.TZ;
    process.env.TZ = 'Asia/Tokyo';
    try {
      const scheduler = new MaintenanceScheduler({ db: database.db, clock });
      await scheduler.schedule(nightly({ timezone: undefined, recurrence: '0 2 * * *' }));
      const occurrences = await scheduler.list({ from: at(0), to: at(2 * DAY) });
      expect(occurrences.map((o) => o.start.toISOString())).toEqual([
        '2026-03-01T02:00:00.000Z',
        '2026-03-02T02:00:00.000Z',
      ]);
      await scheduler.close();
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it('does not time out the tasks of a window longer than a Node timer can wait', async () => {
    // The system clock: a window of 30 days is longer than 2^31 - 1 ms.
    const scheduler = new MaintenanceScheduler({
      db: database.db,
      tasks: {
        vacuum: async () => new Promise((resolve) => setTimeout(() => resolve('done'), 50)),
      },
    });
    const window = await scheduler.schedule(
      nightly({ recurrence: undefined, start: new Date(Date.now() + DAY), durationMs: 30 * DAY }),
    );
    const report = await scheduler.perform(window.id);
    expect(report).toMatchObject({ status: 'ok', failed: [], completed: [{ result: 'done' }] });
    await scheduler.close();
  });

  it('refuses malformed windows with E_INVALID_ARGUMENT saying what was expected, storing nothing', async () => {
    const scheduler = new MaintenanceScheduler({ db: database.db, clock });
    const cases: [Partial<Record<keyof MaintenanceWindowInput | 'colour', unknown>>, RegExp][] = [
      [{ durationMs: 0 }, /durationMs: expected number > 0, received number 0/],
      [{ start: 'tomorrow' }, /start: expected date, received string "tomorrow"/],
      [{ start: new Date('nope') }, /start: expected date, received object Date/],
      [
        { recurrence: '61 * * * *' },
        /recurrence: expected a cron expression such as '0 2 \* \* \*' \(.*minute: 61\), received string "61 \* \* \* \*"/,
      ],
      [
        { recurrence: '0 0 30 2 *' },
        /recurrence: expected a cron expression with at least one run time at or after start/,
      ],
      [
        { priority: 'urgent' },
        /priority: expected one of "critical", "high", "normal", "low", received string "urgent"/,
      ],
      [{ timezone: 'Mars/Olympus' }, /timezone: expected an IANA time zone/],
      [
        { durationMs: 2 * DAY },
        /durationMs: expected at most the time between two occurrences \(86400000 ms from 2026-03-01T01:00:00.000Z to 2026-03-02T01:00:00.000Z\), received number 172800000/,
      ],
      [{ systems: [] }, /systems: expected array of length >= 1, received array of length 0/],
      [{ colour: 'red' }, /colour: expected no such field \(valid fields: id, name, start/],
      [
        { recurrence: undefined, start: at(-2 * HOUR) },
        /start: expected a window that ends after now \(2026-03-01T00:00:00.000Z\), received one ending 2026-02-28T23:00:00.000Z/,
      ],
    ];
    for (const [change, message] of cases) {
      const error = await scheduler
        .schedule({ ...nightly(), ...change } as MaintenanceWindowInput)
        .catch((e: unknown) => e);
      expect(SalamaError.is(error, 'E_INVALID_ARGUMENT'), String(message)).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
    expect(await scheduler.windows()).toEqual([]);
    expect(() => new MaintenanceScheduler({ db: database.db, pollIntervalMs: -1 })).toThrow(
      /pollIntervalMs: expected number > 0, received number -1/,
    );
    expect(() => new MaintenanceScheduler({ db: {} as never })).toThrowError(
      expect.objectContaining({ code: 'E_INVALID_OPTIONS' }),
    );
    expect(() => scheduler.registerTask('vacuum', 'not a function' as never)).toThrowError(
      expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }),
    );
    await expect(scheduler.list({ from: at(DAY), to: at(0) })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
    });
  });
});
