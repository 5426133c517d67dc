/**
 * The seeds' alerts table on any dialect: `count` alerts, one every `spacingMs` back from
 * `now` (the newest one `spacingMs` before it); every third is still open, every fifth is critical.
 */
import { sql } from 'kysely';
import type { DialectName, TestDb } from '../support/databases.js';

export const DAY = 86_400_000;
export const NOW = Date.parse('2026-11-01T00:00:00.000Z');

export interface Alert {
  id: number;
  detectedAt: number;
  status: 'open' | 'resolved';
  severity: 'critical' | 'low';
}

export function alerts(count: number, spacingMs = DAY / 2, now = NOW): Alert[] {
  return Array.from({ length: count }, (_, i) => ({
    id: i + 1,
    detectedAt: now - (i + 1) * spacingMs,
    status: i % 3 === 0 ? 'open' : 'resolved',
    severity: i % 5 === 0 ? 'critical' : 'low',
  }));
}

export async function createAlerts(
  db: TestDb,
  dialect: DialectName,
  rows: readonly Alert[],
  table = 'alerts',
): Promise<void> {
  const time = dialect === 'sqlite' ? 'integer' : 'timestamptz';
  await sql
    .raw(
      `create table ${table} (id integer primary key, detected_at ${time} not null, status text not null, severity text not null, message text)`,
    )
    .execute(db);
  await sql.raw(`create index ${table}_detected_at on ${table} (detected_at)`).execute(db);
  for (let i = 0; i < rows.length; i += 500) {
    await db
      .insertInto(table)
      .values(
        rows.slice(i, i + 500).map((a) => ({
          id: a.id,
          detected_at: dialect === 'sqlite' ? a.detectedAt : new Date(a.detectedAt),
          status: a.status,
          severity: a.severity,
          message: `alert ${a.id}`,
        })),
      )
      .execute();
  }
}

export async function remainingIds(db: TestDb, table = 'alerts'): Promise<number[]> {
  const rows = await db.selectFrom(table).select('id').orderBy('id').execute();
  return rows.map((r) => Number(r.id));
}

/** Ids a policy with this cutoff and filter must delete. */
export function expiredIds(
  rows: readonly Alert[],
  cutoff: number,
  filter: (a: Alert) => boolean = () => true,
): number[] {
  return rows.filter((a) => a.detectedAt < cutoff && filter(a)).map((a) => a.id);
}
