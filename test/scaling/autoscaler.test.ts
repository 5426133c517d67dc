import { ManualClock } from 'salama';
import {
  Autoscaler,
  type AutoscalerOptions,
  type HpaDecision,
  type MetricReadings,
  type ScaleEvent,
  type ScaleTarget,
} from 'salama/scaling';
import { afterEach, describe, expect, it } from 'vitest';

/** A deployment whose pods share `load` (in pod-equivalents of 100 % CPU) equally. */
class FakeDeployment implements ScaleTarget {
  count: number;
  load: number;
  failMetrics = false;
  failScale = false;
  readonly scaled: number[] = [];

  constructor(count: number, load: number) {
    this.count = count;
    this.load = load;
  }

  replicas(): number {
    return this.count;
  }

  async scale(replicas: number): Promise<void> {
    if (this.failScale) throw new Error('the API server said no');
    this.count = replicas;
    this.scaled.push(replicas);
  }

  async metrics(): Promise<MetricReadings> {
    if (this.failMetrics) throw new Error('metrics-server unavailable');
    const each = (this.load / this.count) * 100;
    return { cpu: Array.from({ length: this.count }, () => ({ value: each })) };
  }
}

const open: Autoscaler[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((a) => a.close()));
});

function setup(
  deployment: FakeDeployment,
  options: Partial<Omit<AutoscalerOptions, 'target'>> = {},
) {
  const clock = new ManualClock(1_700_000_000_000);
  const hpa = new Autoscaler({
    target: deployment,
    metrics: [{ type: 'Resource', name: 'cpu', averageUtilization: 50 }],
    minReplicas: 1,
    maxReplicas: 20,
    clock,
    ...options,
  });
  open.push(hpa);
  const scales: ScaleEvent[] = [];
  const errors: Error[] = [];
  const syncs: HpaDecision[] = [];
  hpa.on('scale', (e) => scales.push(e));
  hpa.on('sync:error', (e) => errors.push(e));
  hpa.on('sync', (d) => syncs.push(d));
  return { clock, hpa, scales, errors, syncs };
}

describe('Autoscaler', () => {
  it('syncs every 15 s and scales the target to what the metrics ask for', async () => {
    const deployment = new FakeDeployment(2, 3); // 150 % per pod against a 50 % target
    const { clock, hpa, scales, syncs } = setup(deployment);
    await clock.advanceAsync(14_999);
    expect(syncs).toHaveLength(0);
    await clock.advanceAsync(1);
    expect(syncs).toHaveLength(1);
    // Without a behavior, one sync adds at most max(2 × 2, 4) pods: 6 is reached on the next.
    expect(deployment.count).toBe(4);
    expect(syncs[0]).toMatchObject({ metricReplicas: 6, reason: 'ScaleUpLimit' });
    expect(hpa.stats()).toMatchObject({
      replicas: 2,
      desiredReplicas: 4,
      lastReason: 'ScaleUpLimit',
      syncs: 1,
      scaleUps: 1,
    });
    await clock.advanceAsync(15_000);
    expect(scales.map(({ from, to }) => [from, to])).toEqual([
      [2, 4],
      [4, 6],
    ]);
    await clock.advanceAsync(15_000);
    expect(deployment.scaled).toEqual([4, 6]);
  });

  it('keeps the history between syncs: a scale-down waits out the 300 s window', async () => {
    const deployment = new FakeDeployment(6, 3);
    const { clock } = setup(deployment);
    await clock.advanceAsync(15_000);
    expect(deployment.count).toBe(6);
    deployment.load = 1; // now 2 pods' worth
    await clock.advanceAsync(285_000);
    expect(deployment.count).toBe(6);
    // The last recommendation of 6 was made at 15 s; it leaves the window after 315 s.
    await clock.advanceAsync(30_000);
    expect(deployment.count).toBe(2);
  });

  it('passes External readings and leaves out unready pods as the metric says', async () => {
    const target: ScaleTarget = {
      replicas: () => 2,
      scale: async () => {},
      metrics: () => ({ queue: 95, cpu: [{ value: 10 }, { value: 400, ready: false }] }),
    };
    const withTarget = new Autoscaler({
      target,
      metrics: [
        { type: 'External', name: 'queue', averageValue: 10 },
        { type: 'Resource', name: 'cpu', averageUtilization: 50 },
      ],
      maxReplicas: 20,
      clock: new ManualClock(),
    });
    open.push(withTarget);
    const decision = await withTarget.sync();
    expect(decision.metrics.map((m) => m.replicas)).toEqual([10, 1]);
    expect(decision.replicas).toBe(4); // 2 → 10 is limited to max(2 × 2, 4) per sync
  });

  it('treats a failing metrics() as unavailable metrics: no change, a sync:error, the loop goes on', async () => {
    const deployment = new FakeDeployment(2, 3);
    deployment.failMetrics = true;
    const { clock, errors, syncs } = setup(deployment);
    await clock.advanceAsync(15_000);
    expect(deployment.count).toBe(2);
    expect(syncs[0]?.reason).toBe('InvalidMetrics');
    expect(errors[0]).toMatchObject({
      code: 'E_BACKEND_FAILED',
      message: "Autoscaler 'default': target.metrics() failed: metrics-server unavailable",
    });
    deployment.failMetrics = false;
    await clock.advanceAsync(15_000);
    expect(deployment.count).toBe(4);
  });

  it('treats a malformed reading as that metric unavailable: the other metrics still scale', async () => {
    const readings: MetricReadings = {
      queue: Number.NaN,
      cpu: [{ value: 150 }, { value: -3 }],
      rps: [{ value: 300 }, { value: 300 }],
    };
    const target: ScaleTarget = {
      replicas: () => 2,
      scale: async () => {},
      metrics: () => readings,
    };
    const hpa = new Autoscaler({
      target,
      metrics: [
        { type: 'External', name: 'queue', averageValue: 10 },
        { type: 'Resource', name: 'cpu', averageUtilization: 50 },
        { type: 'Pods', name: 'rps', averageValue: 100 },
      ],
      maxReplicas: 20,
      clock: new ManualClock(),
    });
    open.push(hpa);
    const errors: Error[] = [];
    hpa.on('sync:error', (e) => errors.push(e));
    const decision = await hpa.sync();
    expect(decision.metrics.map((m) => m.replicas)).toEqual([undefined, undefined, 6]);
    expect(decision.replicas).toBe(4); // 6, limited to max(2 × 2, 4) in one sync
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual([
      'E_INVALID_ARGUMENT',
      'E_INVALID_ARGUMENT',
    ]);
    expect(errors[1]?.message).toContain('metric cpu expected one { value >= 0, ready? } per pod');
  });

  it('rejects sync() with E_BACKEND_FAILED when scale() fails, and does not count that scale', async () => {
    const deployment = new FakeDeployment(2, 3);
    deployment.failScale = true;
    // A behavior, so that scale events count towards its policies' periods.
    const { hpa, errors } = setup(deployment, { behavior: {} });
    await expect(hpa.sync()).rejects.toMatchObject({
      code: 'E_BACKEND_FAILED',
      cause: expect.objectContaining({ message: 'the API server said no' }),
    });
    expect(errors).toHaveLength(1);
    deployment.failScale = false;
    // Had the failed 2 → 6 been recorded as 4 pods added, the 15 s policy would hold at 2.
    await expect(hpa.sync()).resolves.toMatchObject({ replicas: 6 });
    expect(hpa.stats()).toMatchObject({ scaleUps: 1, errors: 1 });
  });

  it('runs one sync at a time: concurrent calls share it', async () => {
    const deployment = new FakeDeployment(2, 3);
    const { hpa } = setup(deployment);
    const [a, b] = [hpa.sync(), hpa.sync()];
    expect(a).toBe(b);
    await a;
    expect(deployment.scaled).toEqual([4]);
  });

  it('stops the loop on close(), idempotently, and refuses sync() afterwards', async () => {
    const deployment = new FakeDeployment(2, 3);
    const { clock, hpa, syncs } = setup(deployment);
    await Promise.all([hpa.close(), hpa.close()]);
    expect(clock.pendingTimers).toBe(0);
    await clock.advanceAsync(60_000);
    expect(syncs).toHaveLength(0);
    expect(() => hpa.sync()).toThrowError(expect.objectContaining({ code: 'E_CLOSED' }));
  });

  it('rejects bad options with E_INVALID_OPTIONS', () => {
    const target = new FakeDeployment(1, 1);
    const metrics = [{ type: 'Resource', name: 'cpu', averageUtilization: 50 }] as const;
    expect(
      () => new Autoscaler({ target, metrics: [...metrics], minReplicas: 4, maxReplicas: 2 }),
    ).toThrowError(/maxReplicas: expected an integer >= minReplicas, received number 2/);
    expect(
      () => new Autoscaler({ target: {} as ScaleTarget, metrics: [...metrics], maxReplicas: 2 }),
    ).toThrowError(/target: expected a ScaleTarget \(replicas, scale, metrics\)/);
    expect(() => new Autoscaler({ target, metrics: [], maxReplicas: 2 })).toThrowError(
      /metrics: expected array of length >= 1/,
    );
  });
});
