/**
 * Scaling, as two deterministic simulations on a virtual clock (same seed, same figures on
 * every machine), each driving salama's real LoadBalancer and Autoscaler:
 *
 * (a) Balancers. Four workers, one three times slower (service times exponential, mean 10 ms
 *     and 30 ms), FIFO each; Poisson arrivals at a share of the cluster's capacity; every
 *     request takes a lease at arrival and releases it when served. The same arrivals and
 *     service draws go to round-robin, least-connections and two-choices; latency is queueing
 *     plus service, p99 over 200,000 requests after a 5 % warm-up. Above 40 % load,
 *     round-robin sends the slow worker more than it can serve, so its queue (and p99) grows
 *     for as long as the run lasts: round-robin's figures at 80 % hold for this run's length
 *     only. 36 % load, where round-robin is stable (slow worker at 90 %), is reported too.
 * (b) Autoscaling (`scaling/autoscaling.ts`). The seed's k6 stages against simulated pods,
 *     scaled by the Autoscaler with the seed's api-gateway-hpa `behavior` and by a hand-written
 *     threshold scaler, each figure the mean of several seeds. The rule ("fewer violation-
 *     seconds with no more replica-hours") is a budget: the HPA runs at the lowest CPU target
 *     whose replica-hours fit within the threshold scaler's, and the seed's 70 % is reported
 *     beside it. A sweep applies the same rule to 176 threshold scalers and three `behavior`s
 *     (the seed's, Kubernetes' default, a 60 s scale-down window). Charts in
 *     `scaling/charts.ts`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManualClock } from 'salama';
import { type BalancerLease, type BalancingStrategy, LoadBalancer } from 'salama/scaling';
import { SEED_BEHAVIOR } from '../test/support/hpa.js';
import { mulberry32 } from '../test/support/random.js';
import {
  atBudget,
  BOUNDS,
  HEADLINE,
  type MeanRun,
  POD_RPS,
  POD_START_S,
  RPS_PER_USER,
  RUNS,
  SLO_MS,
  STAGES,
  simulateMean,
  sweep,
} from './scaling/autoscaling.js';
import { frontierChart, replicasChart } from './scaling/charts.js';

const here = dirname(fileURLToPath(import.meta.url));
const SEED = 20_240_608;
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

const exponential = (random: () => number) => -Math.log(1 - random());
const percentile = (sorted: Float64Array, q: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;

// (a) ---------------------------------------------------------------------------------------

const SERVICE_MS = [10, 10, 10, 30];
const REQUESTS = 200_000;
const WARMUP = REQUESTS / 20;
const BALANCERS = ['round-robin', 'least-connections', 'two-choices'] as const;

interface Job {
  finish: number;
  lease: BalancerLease<number>;
}

function simulateBalancer(strategy: BalancingStrategy, utilization: number) {
  const capacityPerMs = SERVICE_MS.reduce((sum, ms) => sum + 1 / ms, 0);
  const meanGapMs = 1 / (utilization * capacityPerMs);
  const arrivals = mulberry32(SEED);
  const work = mulberry32(SEED + 1);
  const lb = new LoadBalancer({
    targets: SERVICE_MS.map((_, i) => ({ id: `w${i}`, target: i })),
    strategy,
    random: mulberry32(SEED + 2),
    clock: new ManualClock(),
  });
  const queues: Job[][] = SERVICE_MS.map(() => []);
  const heads = SERVICE_MS.map(() => 0);
  const busyUntil = SERVICE_MS.map(() => 0);
  const latencies = new Float64Array(REQUESTS - WARMUP);
  const served = SERVICE_MS.map(() => 0);
  let now = 0;
  for (let n = 0; n < REQUESTS; n++) {
    now += exponential(arrivals) * meanGapMs;
    for (;;) {
      let next = -1;
      for (let w = 0; w < queues.length; w++) {
        const job = queues[w]?.[heads[w] as number];
        const best = next < 0 ? undefined : queues[next]?.[heads[next] as number];
        if (job && job.finish <= now && (!best || job.finish < best.finish)) next = w;
      }
      if (next < 0) break;
      queues[next]?.[heads[next] as number]?.lease.release('success');
      heads[next] = (heads[next] as number) + 1;
    }
    const lease = lb.pick();
    const w = lease.target;
    const start = Math.max(now, busyUntil[w] as number);
    const finish = start + exponential(work) * (SERVICE_MS[w] as number);
    busyUntil[w] = finish;
    queues[w]?.push({ finish, lease });
    served[w] = (served[w] as number) + 1;
    if (n >= WARMUP) latencies[n - WARMUP] = finish - now;
  }
  latencies.sort();
  return {
    p50_ms: round(percentile(latencies, 0.5)),
    p99_ms: round(percentile(latencies, 0.99)),
    p999_ms: round(percentile(latencies, 0.999)),
    slow_worker_share: round((served[3] as number) / REQUESTS, 3),
  };
}

function balancerScenario(utilization: number) {
  const capacityPerMs = SERVICE_MS.reduce((sum, ms) => sum + 1 / ms, 0);
  const rrSlowLoad = (utilization * capacityPerMs * (SERVICE_MS[3] as number)) / 4;
  const runs = Object.fromEntries(BALANCERS.map((s) => [s, simulateBalancer(s, utilization)]));
  const p99 = (s: (typeof BALANCERS)[number]) => runs[s]?.p99_ms ?? 0;
  return {
    utilization,
    round_robin_slow_worker_load: round(rrSlowLoad, 2),
    round_robin_stable: rrSlowLoad < 1,
    p99_ms: Object.fromEntries(BALANCERS.map((s) => [s.replaceAll('-', '_'), p99(s)])),
    p99_vs_round_robin: {
      least_connections: Number((p99('least-connections') / p99('round-robin')).toPrecision(3)),
      two_choices: Number((p99('two-choices') / p99('round-robin')).toPrecision(3)),
    },
    by_strategy: runs,
  };
}

/**
 * Real time per pick + release on four targets, in ns: what a strategy costs the caller (the
 * one wall-clock figure here; consistent hashing pays an MD5 of the key).
 */
function pickCost(strategy: BalancingStrategy): number {
  const lb = new LoadBalancer({
    targets: SERVICE_MS.map((_, i) => ({ id: `w${i}`, target: i })),
    strategy,
  });
  const keys = Array.from({ length: 1024 }, (_, i) => `camera-${i}`);
  const n = 500_000;
  for (let i = 0; i < 50_000; i++) lb.pick(keys[i & 1023]).release('success');
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) lb.pick(keys[i & 1023]).release('success');
  return round(Number(process.hrtime.bigint() - t0) / n, 0);
}

export default async function scaling(): Promise<Record<string, unknown>> {
  const headline = balancerScenario(0.8);
  const stable = balancerScenario(0.36);
  const strategies = [
    'round-robin',
    'weighted-round-robin',
    'least-connections',
    'two-choices',
    'consistent-hash',
  ] as const;
  // A first pass warms the JIT for all strategies alike; the second is reported.
  for (const s of strategies) pickCost(s);
  const pick_ns = Object.fromEntries(strategies.map((s) => [s.replaceAll('-', '_'), pickCost(s)]));

  const AUTOSCALING_SEED = SEED + 7;
  const naive = await simulateMean(HEADLINE.naive, AUTOSCALING_SEED);
  const hpaSeedTarget = await simulateMean(HEADLINE.hpa, AUTOSCALING_SEED);
  const hpaDefault = await simulateMean(HEADLINE.hpaDefault, AUTOSCALING_SEED);
  const hpaShortWindow = await simulateMean(HEADLINE.hpaShortWindow, AUTOSCALING_SEED);
  const swept = await sweep(AUTOSCALING_SEED);
  const matched = atBudget(swept.points.hpa_seed_behavior, naive.replica_hours);
  // With no CPU target as cheap as the naive scaler, the seed's own target stands in (and fails).
  const hpa = matched ? await simulateMean(matched.config, AUTOSCALING_SEED) : hpaSeedTarget;
  const hpaTarget =
    matched?.config.kind === 'hpa' ? matched.config.targetCpu : HEADLINE.hpa.targetCpu;
  await mkdir(join(here, 'results'), { recursive: true });
  await writeFile(
    join(here, 'results', 'scaling.svg'),
    replicasChart([
      {
        name: `HPA algorithm, seed behaviour, CPU ${hpaTarget} % (the naive scaler's budget)`,
        short: `HPA ${hpaTarget} %`,
        color: '#1f77b4',
        ...hpa,
      },
      {
        name: `HPA algorithm, seed behaviour, CPU ${HEADLINE.hpa.targetCpu} % (the seed's target)`,
        short: `HPA ${HEADLINE.hpa.targetCpu} %`,
        color: '#17becf',
        ...hpaSeedTarget,
      },
      {
        name: 'HPA algorithm (no behavior: Kubernetes default)',
        short: 'HPA def.',
        color: '#2ca02c',
        ...hpaDefault,
      },
      { name: 'naive threshold scaler', short: 'naive', color: '#ff7f0e', ...naive },
    ]),
  );
  const cpuLabel = (p: (typeof swept.points.hpa_seed_behavior)[number]) => ({
    ...p,
    // Every fifth target is labelled; the line runs through all 41.
    label: p.config.kind === 'hpa' && p.config.targetCpu % 5 === 0 ? `${p.config.targetCpu} %` : '',
  });
  await writeFile(
    join(here, 'results', 'scaling-frontier.svg'),
    frontierChart(
      [
        {
          name: 'HPA, seed behaviour, by CPU target',
          color: '#1f77b4',
          points: swept.points.hpa_seed_behavior.map(cpuLabel),
        },
        {
          name: 'HPA, no behavior (Kubernetes default), by CPU target',
          color: '#2ca02c',
          points: swept.points.hpa_default_behavior.map(cpuLabel),
        },
        {
          name: 'HPA, behavior of API defaults with a 60 s scale-down window',
          color: '#9467bd',
          points: swept.points.hpa_default_60s_scale_down.map(cpuLabel),
        },
      ],
      {
        name: 'threshold scalers (176 configurations)',
        color: '#ff7f0e',
        points: swept.points.naive,
      },
      [
        { ...hpa, label: `HPA (seed behaviour, ${hpaTarget} %)`, labelLeft: true },
        { ...hpaSeedTarget, label: `HPA (seed, ${HEADLINE.hpa.targetCpu} %)` },
        { ...naive, label: 'naive' },
      ],
    ),
  );

  const balancersMet = (s: typeof headline) =>
    s.p99_vs_round_robin.least_connections <= 0.5 && s.p99_vs_round_robin.two_choices <= 0.5;
  const strip = ({ replicas: _r, violated: _v, ...rest }: MeanRun) => rest;
  const beats = (a: MeanRun, b: MeanRun) =>
    a.slo_violation_s < b.slo_violation_s && a.replica_hours <= b.replica_hours;
  const { points: _points, ...sweepSummary } = swept;
  return {
    method:
      'deterministic discrete-event simulations on a virtual clock (seeded); salama LoadBalancer and Autoscaler make every decision; no wall-clock timing except pick_ns',
    seed: SEED,
    p99_ms: headline.p99_ms,
    balancers: {
      workers_service_ms: SERVICE_MS,
      requests: REQUESTS,
      warmup_requests: WARMUP,
      at_80pct_load: headline,
      at_36pct_load: stable,
    },
    pick_ns,
    hpa_slo_violation_s: hpa.slo_violation_s,
    naive_slo_violation_s: naive.slo_violation_s,
    hpa_replica_hours: hpa.replica_hours,
    naive_replica_hours: naive.replica_hours,
    hpa_target_cpu: hpaTarget,
    autoscaling: {
      runs_per_configuration: RUNS,
      stages: STAGES,
      rps_per_user: RPS_PER_USER,
      pod_rps_at_100pct_cpu: POD_RPS,
      pod_start_s: POD_START_S,
      slo: `p95 <= ${SLO_MS} ms; p95 = 40 ms + M/M/1 queueing per pod + backlog drain`,
      hpa_spec: { ...BOUNDS, targetCpu: hpaTarget, behavior: SEED_BEHAVIOR },
      hpa_target_rule:
        "the lowest whole CPU target at which the HPA with the seed's behavior uses no more replica-hours than the naive scaler; violation-seconds play no part in choosing it",
      hpa: strip(hpa),
      hpa_seed_target: { target_cpu: HEADLINE.hpa.targetCpu, ...strip(hpaSeedTarget) },
      hpa_default_behavior: strip(hpaDefault),
      hpa_default_60s_scale_down: strip(hpaShortWindow),
      naive: strip(naive),
      naive_scaler: HEADLINE.naive,
      sweep: sweepSummary,
      charts: ['bench/results/scaling.svg', 'bench/results/scaling-frontier.svg'],
    },
    naive_scaler: `every 15 s on the same CPU metric: above ${HEADLINE.naive.upAbove} % add ${HEADLINE.naive.stepUp * 100} % of the replicas (at least 1), below ${HEADLINE.naive.downBelow} % remove 1; after an action wait ${HEADLINE.naive.cooldownS} s; same min/max, pod start time and metric lag as the HPA`,
    targets: {
      balancers: {
        rule: 'least-connections and two-choices p99 <= 0.5 × round-robin p99 (at 80 % load)',
        met: balancersMet(headline),
        met_at_36pct_load: balancersMet(stable),
      },
      autoscaling: {
        rule: 'HPA fewer SLO-violation seconds than the naive scaler with no more replica-hours',
        met: beats(hpa, naive),
        met_at_seed_target: beats(hpaSeedTarget, naive),
        at_budget: Object.fromEntries(
          Object.entries(swept.naive_beaten_at_budget).map(([family, t]) => [
            family,
            `at the CPU target each threshold scaler's replica-hours buy, beats ${t.beaten} of the ${swept.naive_configs} on violation-seconds, not ${t.not_beaten}; ${t.cheaper_than_every_hpa_target} run on fewer replica-hours than any HPA target reaches`,
          ]),
        ),
      },
    },
  };
}
