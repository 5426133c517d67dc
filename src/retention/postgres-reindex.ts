/**
 * PostgreSQL's reindex step. `REINDEX TABLE CONCURRENTLY` keeps the table writable, but not
 * every server or table takes it, and when it fails part way it leaves invalid `_ccnew` copies
 * of the indexes behind, which slow every write until someone drops them. This file falls back
 * to the plain form where the concurrent one is refused, and drops the copies a failed run made.
 */
import { type RawBuilder, sql } from 'kysely';
import { errorCode, type Outcome, type Target } from './maintenance-statements.js';
import { type AnyKysely, quoteIdent } from './sql.js';

/** SQLSTATEs that mean "this server will not reindex that concurrently", not a passing fault. */
const CONCURRENTLY_REFUSED = new Set(['0A000', '42601']);

/**
 * `REINDEX TABLE CONCURRENTLY`, falling back to a plain `REINDEX TABLE` where the server
 * refuses the concurrent form. A concurrent reindex that fails part way leaves invalid
 * `_ccnew` copies of the indexes behind; those it made are dropped again.
 */
export async function reindexPostgres(conn: AnyKysely, target: Target): Promise<Outcome> {
  const ref = sql.id(target.schema, target.name);
  const concurrent = sql`reindex table concurrently ${ref}`;
  const outcome: Outcome = { statement: concurrent.compile(conn).sql, concurrently: true };
  let before: Set<number>;
  try {
    before = new Set((await invalidIndexes(conn, target)).map((i) => i.oid));
  } catch (error) {
    return { ...outcome, failure: { error } };
  }
  let error: unknown;
  try {
    await concurrent.execute(conn);
    return outcome;
  } catch (caught) {
    error = caught;
  }
  if (CONCURRENTLY_REFUSED.has(errorCode(error) ?? '')) return reindexPlainly(conn, ref);
  const leftovers = await invalidIndexes(conn, target).then(
    (found) => found.filter((i) => !before.has(i.oid) && /_ccnew\d*$/.test(i.name)),
    () => [],
  );
  const dropped: string[] = [];
  const kept: string[] = [];
  for (const { name } of leftovers) {
    await sql`drop index concurrently if exists ${sql.id(target.schema, name)}`.execute(conn).then(
      () => dropped.push(name),
      () => kept.push(`${quoteIdent(target.schema)}.${quoteIdent(name)}`),
    );
  }
  const note =
    kept.length > 0
      ? `it left the invalid index(es) ${kept.join(', ')} behind: drop them with DROP INDEX CONCURRENTLY`
      : undefined;
  return {
    ...outcome,
    failure: { error, note },
    ...(dropped.length > 0 && { droppedIndexes: dropped }),
  };
}

async function reindexPlainly(conn: AnyKysely, ref: RawBuilder<unknown>): Promise<Outcome> {
  const plain = sql`reindex table ${ref}`;
  const outcome: Outcome = { statement: plain.compile(conn).sql, concurrently: false };
  return plain.execute(conn).then(
    () => outcome,
    (error: unknown) => ({ ...outcome, failure: { error } }),
  );
}

/** The table's indexes marked invalid, by oid so those there before a run can be told apart. */
async function invalidIndexes(conn: AnyKysely, target: Target) {
  const { rows } = await sql<{ oid: number; name: string }>`
    select i.indexrelid::int as oid, c.relname as name
    from pg_index i join pg_class c on c.oid = i.indexrelid
    where i.indrelid = ${`${quoteIdent(target.schema)}.${quoteIdent(target.name)}`}::regclass
      and not i.indisvalid
    order by c.relname`.execute(conn);
  return rows;
}
