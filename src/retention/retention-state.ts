/**
 * The two small tables that make retention safe to kill and to run from several processes.
 *
 * - `<prefix>_lease`: one row per policy naming the process working on it until `expires_at`.
 *   A run takes the lease, renews it between batches and releases it at the end; a lease
 *   left by a killed process expires and the next run takes it over.
 * - `<prefix>_journal`: one row per blob archive. It is written `pending` before the archive
 *   object is put, and flipped to `committed` in the same transaction that deletes the
 *   archived rows. An archive object is therefore valid exactly when its journal row is
 *   committed; a run that finds `pending` rows (left by a killed run, whose rows were never
 *   deleted) removes their objects first, so every row is archived exactly once.
 *
 * Every batch transaction first locks the lease row and checks that it is still ours and live
 * ({@link RetentionState.hold}). A process whose batch outlasted its lease therefore either
 * finds the lease taken and rolls back, or keeps it until the batch commits: no other process
 * can take the lease over, and so recover that batch's pending archive, while it runs.
 */

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { BlobStore } from '../blob/blob-store.js';
import { LockedError } from '../core/errors.js';
import type { AnyKysely, SqlDialect } from './sql.js';

/** A journal row for one archive object. */
export interface JournalEntry {
  readonly id: string;
  readonly policy: string;
  readonly blobKey: string;
}

export class RetentionState {
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #db: AnyKysely;
  readonly #dialect: SqlDialect;
  readonly #lease: string;
  readonly #journal: string;
  #ready: Promise<void> | undefined;

  constructor(db: AnyKysely, dialect: SqlDialect, prefix: string) {
    this.#db = db;
    this.#dialect = dialect;
    this.#lease = `${prefix}_lease`;
    this.#journal = `${prefix}_journal`;
  }

  /** Creates the tables once per process (idempotent across processes). */
  ensureTables(): Promise<void> {
    this.#ready ??= (async () => {
      await this.#db.schema
        .createTable(this.#lease)
        .ifNotExists()
        .addColumn('policy', 'varchar(128)', (c) => c.primaryKey())
        .addColumn('owner', 'varchar(255)', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await this.#db.schema
        .createTable(this.#journal)
        .ifNotExists()
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('policy', 'varchar(128)', (c) => c.notNull())
        .addColumn('blob_key', 'varchar(1024)', (c) => c.notNull())
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        .addColumn('rows', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    })().catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  /**
   * Takes the policy's lease if it is free, expired or already ours. Never waits for a batch:
   * on PostgreSQL a lease row locked by a batch ({@link hold}) is skipped (`SKIP LOCKED`) and
   * counts as held, so another process's run moves on to its next policy at once. An upsert
   * would not do: `ON CONFLICT DO UPDATE` locks the row before checking its `WHERE`.
   */
  async acquire(policy: string, now: number, leaseMs: number): Promise<boolean> {
    const lease = { owner: this.owner, expires_at: now + leaseMs };
    const inserted = await this.#db
      .insertInto(this.#lease)
      .values({ policy, ...lease })
      .onConflict((oc) => oc.column('policy').doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0) return true;
    const free = this.#db
      .selectFrom(this.#lease)
      .select('policy')
      .where('policy', '=', policy)
      .where((eb) => eb.or([eb('expires_at', '<', now), eb('owner', '=', this.owner)]))
      .$if(this.#dialect === 'postgres', (qb) => qb.forUpdate().skipLocked());
    const taken = await this.#db
      .updateTable(this.#lease)
      .set(lease)
      .where('policy', 'in', free)
      .executeTakeFirst();
    return Number(taken.numUpdatedRows) > 0;
  }

  /** Extends the lease; `E_LOCKED` when another process took it over meanwhile. */
  async renew(policy: string, now: number, leaseMs: number): Promise<void> {
    const result = await this.#db
      .updateTable(this.#lease)
      .set({ expires_at: now + leaseMs })
      .where('policy', '=', policy)
      .where('owner', '=', this.owner)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) throw this.#lostLease(policy);
  }

  /**
   * Inside a batch's transaction, before it changes anything: locks the lease row until the
   * transaction ends (PostgreSQL `FOR UPDATE`; SQLite's write transaction already excludes
   * other writers) and checks that the lease is ours and not expired at `now`. `E_LOCKED`
   * otherwise, which rolls the batch back.
   */
  async hold(trx: AnyKysely, policy: string, now: number): Promise<void> {
    const row = await trx
      .selectFrom(this.#lease)
      .select(['owner', 'expires_at'])
      .where('policy', '=', policy)
      .$if(this.#dialect === 'postgres', (qb) => qb.forUpdate())
      .executeTakeFirst();
    if (row?.owner !== this.owner || Number(row.expires_at) < now) throw this.#lostLease(policy);
  }

  async release(policy: string): Promise<void> {
    await this.#db
      .deleteFrom(this.#lease)
      .where('policy', '=', policy)
      .where('owner', '=', this.owner)
      .execute();
  }

  /** Records an archive object about to be written. */
  async begin(entry: JournalEntry, now: number): Promise<void> {
    await this.#db
      .insertInto(this.#journal)
      .values({
        id: entry.id,
        policy: entry.policy,
        blob_key: entry.blobKey,
        state: 'pending',
        created_at: now,
      })
      .execute();
  }

  /**
   * Marks an archive object valid; call inside the transaction that deletes its rows.
   * `E_LOCKED` (rolling the batch back) when its pending journal row is gone: another process
   * recovered it, and with it deleted the object.
   */
  async commit(trx: AnyKysely, id: string, rows: number): Promise<void> {
    const result = await trx
      .updateTable(this.#journal)
      .set({ state: 'committed', rows })
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1)
      throw new LockedError(
        `Retention archive ${id} is no longer pending in the journal (another process recovered it); its batch is rolled back`,
        { context: { journal: id, owner: this.owner } },
      );
  }

  /** Drops the journal row of a batch that had nothing to archive; inside its transaction. */
  async discard(trx: AnyKysely, id: string): Promise<void> {
    await trx.deleteFrom(this.#journal).where('id', '=', id).execute();
  }

  /**
   * Removes what killed runs left: each pending object (its rows were never deleted, so they
   * will be archived again) and its journal row. Returns how many were cleaned. Call holding
   * the policy's lease: no other process's batch can then be live (see {@link hold}), so every
   * pending entry is left over.
   */
  async recover(policy: string, store: BlobStore): Promise<number> {
    const pending = await this.#db
      .selectFrom(this.#journal)
      .select(['id', 'blob_key'])
      .where('policy', '=', policy)
      .where('state', '=', 'pending')
      .execute();
    for (const entry of pending) {
      await store.delete(String(entry.blob_key));
      await this.#db.deleteFrom(this.#journal).where('id', '=', entry.id).execute();
    }
    return pending.length;
  }

  #lostLease(policy: string): LockedError {
    return new LockedError(
      `Retention policy "${policy}" lost its lease to another process (a batch took longer than leaseMs?); stopping`,
      { context: { policy, owner: this.owner } },
    );
  }

  /** The committed archive objects of a policy, oldest first. */
  async committed(policy: string): Promise<{ blobKey: string; rows: number }[]> {
    const rows = await this.#db
      .selectFrom(this.#journal)
      .select(['blob_key', 'rows'])
      .where('policy', '=', policy)
      .where('state', '=', 'committed')
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map((r) => ({ blobKey: String(r.blob_key), rows: Number(r.rows) }));
  }
}
