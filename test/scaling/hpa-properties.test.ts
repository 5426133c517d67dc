import fc from 'fast-check';
import {
  desiredReplicas,
  type HpaBehavior,
  type HpaDecision,
  type HpaHistory,
  type PodSample,
} from 'salama/scaling';
import { describe, expect, it } from 'vitest';
import { SEED_BEHAVIOR } from '../support/hpa.js';

/** Every property runs from a fixed seed, so a failure reproduces. */
const SEED = { seed: 8_675_309, numRuns: 80 };
const START = 1_700_000_000_000;
const TARGET = 70;

/** One sync's load: a utilisation per pod, some pods missing or not yet ready. */
const podArb = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 300 }).map((value) => ({ value })) },
  { weight: 1, arbitrary: fc.constant<PodSample>({ value: undefined }) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: 300 }).map((value) => ({ value, ready: false })),
  },
);
const loadArb = fc.array(fc.array(podArb, { minLength: 1, maxLength: 60 }), {
  minLength: 5,
  maxLength: 40,
});
const behaviorArb = fc.constantFrom<HpaBehavior | undefined>(undefined, SEED_BEHAVIOR, {
  scaleDown: { stabilizationWindowSeconds: 0, selectPolicy: 'Min' },
});
const boundsArb = fc
  .tuple(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 40 }))
  .map(([min, extra]) => ({ minReplicas: min, maxReplicas: min + extra }));

interface Step {
  readonly current: number;
  readonly now: number;
  readonly history: HpaHistory | undefined;
  readonly decision: HpaDecision;
}

/** Runs the controller over `loads`, one sync every 15 s, applying every decision. */
function simulate(
  loads: PodSample[][],
  bounds: { minReplicas: number; maxReplicas: number },
  behavior: HpaBehavior | undefined,
  startReplicas: number,
): Step[] {
  let current = startReplicas;
  let history: HpaHistory | undefined;
  return loads.map((samples, i) => {
    const now = START + i * 15_000;
    const pods = Array.from(
      { length: current },
      (_, p) => samples[p % samples.length] as PodSample,
    );
    const decision = desiredReplicas({
      currentReplicas: current,
      ...bounds,
      behavior,
      metrics: [{ type: 'Resource', name: 'cpu', averageUtilization: TARGET, pods }],
      history,
      nowMs: now,
    });
    const step = { current, now, history, decision };
    current = decision.replicas;
    history = decision.history;
    return step;
  });
}

describe('desiredReplicas: properties', () => {
  it('keeps the count within [minReplicas, maxReplicas] from any start', () => {
    fc.assert(
      fc.property(
        loadArb,
        boundsArb,
        behaviorArb,
        fc.integer({ min: 1, max: 80 }),
        (loads, bounds, behavior, start) => {
          const steps = simulate(loads, bounds, behavior, start);
          for (const { decision } of steps) {
            expect(decision.replicas).toBeGreaterThanOrEqual(bounds.minReplicas);
            expect(decision.replicas).toBeLessThanOrEqual(bounds.maxReplicas);
          }
        },
      ),
      SEED,
    );
  });

  it('changes nothing while every pod is within the tolerance of the target', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 64, max: 76 }), { minLength: 1, maxLength: 30 }),
        boundsArb,
        behaviorArb,
        (values, bounds, behavior) => {
          const loads = values.map((value) => [{ value }]);
          const start = Math.ceil((bounds.minReplicas + bounds.maxReplicas) / 2);
          for (const { current, decision } of simulate(loads, bounds, behavior, start)) {
            expect(decision.replicas).toBe(current);
          }
        },
      ),
      SEED,
    );
  });

  it('never scales down below the highest recommendation of the stabilisation window', () => {
    fc.assert(
      fc.property(loadArb, boundsArb, behaviorArb, (loads, bounds, behavior) => {
        const windowMs = (behavior?.scaleDown?.stabilizationWindowSeconds ?? 300) * 1000;
        for (const { current, now, history, decision } of simulate(
          loads,
          bounds,
          behavior,
          bounds.maxReplicas,
        )) {
          if (decision.replicas >= current || decision.metricReplicas === undefined) continue;
          const recent = (history?.recommendations ?? [])
            .filter((r) => r.atMs > now - windowMs)
            .map((r) => r.replicas);
          const highest = Math.max(decision.metricReplicas, ...recent);
          expect(decision.replicas).toBeGreaterThanOrEqual(Math.min(highest, current));
        }
      }),
      SEED,
    );
  });

  it('adds at most max(100 %, 4 pods) per 15 s with the default behaviour', () => {
    fc.assert(
      fc.property(loadArb, boundsArb, (loads, bounds) => {
        const steps = simulate(loads, bounds, undefined, bounds.minReplicas);
        for (const { current, now, history, decision } of steps) {
          const recentlyChanged = [
            ...(history?.scaleUpEvents ?? []),
            ...(history?.scaleDownEvents ?? []),
          ].some((e) => e.atMs > now - 15_000);
          if (current < bounds.minReplicas || recentlyChanged) continue;
          expect(decision.replicas - current).toBeLessThanOrEqual(Math.max(current, 4));
        }
      }),
      SEED,
    );
  });

  it('scales up to what the metric asks for at once when no limit is in the way', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 80, max: 140 }),
        (current, load) => {
          const decision = desiredReplicas({
            currentReplicas: current,
            maxReplicas: 1000,
            metrics: [
              {
                type: 'Resource',
                name: 'cpu',
                averageUtilization: TARGET,
                pods: Array.from({ length: current }, () => ({ value: load })),
              },
            ],
            nowMs: START,
          });
          const wanted = Math.ceil((load / TARGET) * current);
          const ratio = load / TARGET;
          const expected =
            ratio <= 1.1 ? current : Math.min(wanted, Math.max(2 * current, current + 4));
          expect(decision.replicas).toBe(expected);
        },
      ),
      SEED,
    );
  });
});
