import { ManualClock, SalamaError } from 'salama';
import { debtScore, TechDebtRegister, type TechnicalDebtInput } from 'salama/ops';
import { describe, expect, it } from 'vitest';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.parse('2026-03-01T00:00:00.000Z');
const inDays = (days: number) => new Date(NOW + days * DAY);

// Expected scores by hand, from the seed's formula:
// weight (high 5, medium 3, low 1) + 0.5 per system + max(0, (90 - floor(days to target)) / 30).
const items: TechnicalDebtInput[] = [
  // 5 + 1 + (90 - 30) / 30 = 8
  {
    id: 'sync-ocr',
    title: 'OCR runs on the event loop',
    priority: 'high',
    systems: ['api', 'ocr'],
    targetDate: inDays(30),
  },
  // 3 + 0.5 + (90 - 10) / 30 = 6.1666…  (10.5 days is 10 whole days)
  {
    id: 'pg-12',
    title: 'PostgreSQL 12 is end of life',
    priority: 'medium',
    systems: ['db'],
    targetDate: inDays(10.5),
  },
  // 1 + 1.5 + (90 - -1) / 30 = 5.5333…  (half a day overdue is day -1)
  {
    id: 'old-tls',
    title: 'TLS 1.1 still accepted',
    priority: 'low',
    systems: ['api', 'cdn', 'edge'],
    targetDate: inDays(-0.5),
  },
  // 3 + 1 + no target date = 4
  { id: 'no-date', title: 'Flaky cache test', priority: 'medium', systems: ['cache', 'ci'] },
  // 1 + 0 + max(0, (90 - 120) / 30) = 1
  { id: 'far', title: 'Rename modules', priority: 'low', targetDate: inDays(120) },
];

describe('TechDebtRegister', () => {
  it("scores items with the seed's formula and lists them highest first", () => {
    const register = new TechDebtRegister({ clock: new ManualClock(NOW), items });
    const listed = register.list();
    expect(listed.map((d) => d.id)).toEqual(['sync-ocr', 'pg-12', 'old-tls', 'no-date', 'far']);
    const scores = listed.map((d) => d.score);
    expect(scores[0]).toBe(8);
    expect(scores[1]).toBeCloseTo(3 + 0.5 + 80 / 30, 12);
    expect(scores[2]).toBeCloseTo(1 + 1.5 + 91 / 30, 12);
    expect(scores[3]).toBe(4);
    expect(scores[4]).toBe(1);
  });

  it('urgency starts 90 days before the target date and keeps growing once it has passed', () => {
    const at = (days: number) =>
      debtScore({ priority: 'low', systems: [], targetDate: inDays(days) }, NOW);
    expect(at(90)).toBe(1);
    expect(at(89.5)).toBeCloseTo(1 + 1 / 30, 12);
    expect(at(0)).toBe(1 + 3);
    expect(at(-30)).toBe(1 + 4);
    expect(debtScore({ priority: 'high', systems: ['a'], targetDate: undefined }, NOW)).toBe(5.5);
  });

  it('rescores as the clock moves on', () => {
    const clock = new ManualClock(NOW);
    const register = new TechDebtRegister({ clock, items });
    clock.advance(20 * DAY);
    const scores = Object.fromEntries(register.list().map((d) => [d.id, d.score]));
    // pg-12 is now 9.5 days overdue: floor(-9.5) = -10, so 3 + 0.5 + 100 / 30.
    expect(scores['pg-12']).toBeCloseTo(3 + 0.5 + 100 / 30, 12);
    // sync-ocr is 10 days out: 5 + 1 + 80 / 30.
    expect(scores['sync-ocr']).toBeCloseTo(5 + 1 + 80 / 30, 12);
  });

  it('breaks ties by the earlier target date, then by id', () => {
    const register = new TechDebtRegister({ clock: new ManualClock(NOW) });
    register.add({ id: 'b-later', title: 'b', priority: 'medium', targetDate: inDays(200) });
    register.add({ id: 'c-none', title: 'c', priority: 'medium' });
    register.add({ id: 'a-sooner', title: 'a', priority: 'medium', targetDate: inDays(100) });
    register.add({ id: 'a-none', title: 'a', priority: 'medium' });
    expect(register.list().map((d) => [d.id, d.score])).toEqual([
      ['a-sooner', 3],
      ['b-later', 3],
      ['a-none', 3],
      ['c-none', 3],
    ]);
  });

  it('resolve removes an item and returns it; unknown and duplicate ids are refused', () => {
    const register = new TechDebtRegister({ clock: new ManualClock(NOW), items });
    const resolved = register.resolve('sync-ocr');
    expect(resolved).toMatchObject({
      id: 'sync-ocr',
      createdAt: new Date(NOW),
      systems: ['api', 'ocr'],
    });
    expect(register.size).toBe(items.length - 1);
    expect(register.list().map((d) => d.id)).not.toContain('sync-ocr');
    expect(() => register.resolve('sync-ocr')).toThrowError(
      expect.objectContaining({ code: 'E_NOT_FOUND' }),
    );
    expect(() => register.add(items[1] as TechnicalDebtInput)).toThrowError(
      expect.objectContaining({ code: 'E_CONFLICT' }),
    );
  });

  it('refuses a malformed item saying what was expected and what came instead', () => {
    const register = new TechDebtRegister({ clock: new ManualClock(NOW) });
    const error = (() => {
      try {
        register.add({
          id: 'x',
          title: 'x',
          priority: 'urgent',
          targetDate: '2026-04-01',
        } as never);
      } catch (e) {
        return e;
      }
    })();
    expect(SalamaError.is(error, 'E_INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toBe(
      'Invalid technical-debt item:\n' +
        '  - priority: expected one of "high", "medium", "low", received string "urgent"\n' +
        '  - targetDate: expected date, received string "2026-04-01"',
    );
    expect(register.size).toBe(0);
  });
});
