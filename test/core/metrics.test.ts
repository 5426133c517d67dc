import { declareInstruments, observeSnapshot, salamaMeter } from 'salama';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testMeterProvider } from '../support/metrics.js';

describe('metrics', () => {
  let otel: ReturnType<typeof testMeterProvider>;
  beforeEach(() => {
    otel = testMeterProvider();
  });
  afterEach(async () => {
    await otel.shutdown();
  });

  it('records declared instruments on the salama meter of the given provider', async () => {
    const meter = salamaMeter(otel.provider);
    const m = declareInstruments(meter, {
      requests: {
        kind: 'counter',
        name: 'salama.test.requests',
        unit: '{request}',
        description: 'Requests',
      },
      latency: {
        kind: 'histogram',
        name: 'salama.test.latency',
        unit: 'ms',
        description: 'Latency',
      },
    });
    m.requests.add(3, { route: 'a' });
    m.latency.record(12);
    const metrics = await otel.read();
    const requests = metrics.get('salama.test.requests');
    expect(requests?.descriptor.unit).toBe('{request}');
    expect(requests?.dataPoints[0]?.value).toBe(3);
    expect(requests?.dataPoints[0]?.attributes).toEqual({ route: 'a' });
    expect(metrics.get('salama.test.latency')?.dataPoints).toHaveLength(1);
  });

  it('publishes a snapshot at collection time and stops when told', async () => {
    let level = 5;
    const stop = observeSnapshot(
      salamaMeter(otel.provider),
      { level: { kind: 'gauge', name: 'salama.test.level', unit: 'By', description: 'Level' } },
      () => ({ level }),
      { pool: 'p' },
    );
    expect((await otel.read()).get('salama.test.level')?.dataPoints[0]?.value).toBe(5);
    level = 9;
    expect((await otel.read()).get('salama.test.level')?.dataPoints[0]?.value).toBe(9);
    stop();
    level = 11;
    const after = (await otel.read()).get('salama.test.level');
    expect(after?.dataPoints.map((p) => p.value) ?? []).not.toContain(11);
  });
});
