import { describe, expect, it } from 'vitest';
import { describeTable, detectDialect } from '../../src/retention/sql.js';
import { allDialects, exec, openDatabase } from '../support/databases.js';

describe.each(allDialects)('table description on %s', (name) => {
  it('reads columns, types and the primary key; a missing table is undefined', async () => {
    const database = await openDatabase(name);
    try {
      const { db } = database;
      const dialect = detectDialect(db);
      expect(dialect).toBe(name === 'sqlite' ? 'sqlite' : 'postgres');
      await exec(
        db,
        name === 'sqlite'
          ? 'create table alerts (id integer primary key, detected_at integer not null, status text)'
          : 'create table alerts (id bigint primary key, detected_at timestamptz not null, status text)',
      );
      const info = await describeTable(db, dialect, 'alerts');
      expect(info?.columns.map((c) => c.name)).toEqual(['id', 'detected_at', 'status']);
      expect(info?.primaryKey).toEqual(['id']);
      expect(info?.columns[1]?.type).toBe(
        name === 'sqlite' ? 'integer' : 'timestamp with time zone',
      );
      expect(info?.columns[1]?.nullable).toBe(false);
      expect(await describeTable(db, dialect, 'nope')).toBeUndefined();
    } finally {
      await database.close();
    }
  });
});
