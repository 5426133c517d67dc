/**
 * The autoscaling simulation behind `npm run bench -- scaling`: the seed's k6 stages against a
 * cluster of pods, driven either by salama's `Autoscaler` (the Kubernetes HPA algorithm) or by
 * a hand-written threshold scaler, one simulated second at a time on a virtual clock.
 *
 * Model. 0 → 100 users in 5 min, → 1,000 in 10, → 5,000 in 5, → 1,000 in 10, → 0 in 5; 2.5
 * requests/s per user, open loop (cameras send frames whether or not the service keeps up),
 * Poisson noise. Pods serve 400 requests/s at 100 % CPU (request = limit, so CPU reads at most
 * 100 %) and take 30 s from scale-up to ready; CPU is averaged over the last 15 s. Each pod is an
 * M/M/1 queue: p95 = 40 ms + 3 × 2.5 ms / (1 − ρ), plus the drain time of any backlog; a second
 * violates the SLO when p95 > 200 ms (the seed's k6 threshold). Both kinds of scaler act every
 * 15 s on the same CPU metric, with the same bounds (3–50) and pod start time. Every figure is
 * the mean of {@link RUNS} runs on consecutive seeds.
 */
import { ManualClock } from 'salama';
import {
  Autoscaler,
  type HpaBehavior,
  type MetricReadings,
  type ScaleTarget,
} from 'salama/scaling';
import { SEED_BEHAVIOR } from '../../test/support/hpa.js';
import { mulberry32 } from '../../test/support/random.js';

export const STAGES = [
  { seconds: 300, users: 100 },
  { seconds: 600, users: 1000 },
  { seconds: 300, users: 5000 },
  { seconds: 600, users: 1000 },
  { seconds: 300, users: 0 },
] as const;
export const RPS_PER_USER = 2.5;
export const POD_RPS = 400;
export const POD_START_S = 30;
export const SLO_MS = 200;
const BASE_MS = 40;
const SERVICE_S = 1 / POD_RPS;
const SYNC_S = 15;
export const DURATION_S = STAGES.reduce((sum, s) => sum + s.seconds, 0);
export const BOUNDS = { minReplicas: 3, maxReplicas: 50 } as const;

/**
 * The `behavior`s simulated: the seed's; none, which Kubernetes runs on its older path (the
 * highest recommendation of 300 s, at most `max(2 × current, 4)` per sync); and a 60 s
 * scale-down window with every other field defaulted by the API, which isolates what the
 * 300 s window costs in replica-hours.
 */
const BEHAVIORS = {
  seed: SEED_BEHAVIOR,
  default: undefined,
  'default-60s-scale-down': { scaleDown: { stabilizationWindowSeconds: 60 } },
} as const satisfies Record<string, HpaBehavior | undefined>;
export type BehaviorName = keyof typeof BEHAVIORS;

/** Which scaler drives the cluster. */
export type ScalerConfig =
  | {
      kind: 'hpa';
      /** One of {@link BEHAVIORS}. */
      behavior: BehaviorName;
      /** `averageUtilization` of the CPU metric, %. */
      targetCpu: number;
    }
  | {
      kind: 'naive';
      /** Scale up when CPU is above this, %. */
      upAbove: number;
      /** Scale down (one pod) when CPU is below this, %. */
      downBelow: number;
      /** Add this share of the replicas on scale-up, at least one pod (0: one pod). */
      stepUp: number;
      /** Do nothing for this long after acting. */
      cooldownS: number;
    };

/**
 * The threshold scaler the headline measures the HPA against (fixed before the HPA's first
 * run), and the HPA at the seed's 70 % CPU target with each `behavior`. The headline HPA itself
 * is the seed's `behavior` at the CPU target the naive scaler's replica-hours buy
 * ({@link atBudget}).
 */
export const HEADLINE = {
  hpa: { kind: 'hpa', behavior: 'seed', targetCpu: 70 },
  hpaDefault: { kind: 'hpa', behavior: 'default', targetCpu: 70 },
  hpaShortWindow: { kind: 'hpa', behavior: 'default-60s-scale-down', targetCpu: 70 },
  naive: { kind: 'naive', upAbove: 80, downBelow: 40, stepUp: 0.2, cooldownS: 60 },
} as const satisfies Record<string, ScalerConfig>;

export interface ScalerRun {
  slo_violation_s: number;
  replica_hours: number;
  peak_replicas: number;
  /** Replicas (ready or starting) at each second. */
  replicas: number[];
  /** Whether each second violated the SLO. */
  violated: boolean[];
}

export function usersAt(t: number): number {
  let start = 0;
  let from = 0;
  for (const stage of STAGES) {
    if (t < start + stage.seconds)
      return from + ((stage.users - from) * (t - start)) / stage.seconds;
    start += stage.seconds;
    from = stage.users;
  }
  return from;
}

/** The cluster both kinds of scaler drive: pods, their readiness, CPU history. */
class Cluster implements ScaleTarget {
  readyAt: number[] = Array.from({ length: BOUNDS.minReplicas }, () => 0);
  now = 0;
  readonly cpu: number[] = [];

  replicas(): number {
    return this.readyAt.length;
  }

  scale(replicas: number): void {
    if (replicas > this.readyAt.length) {
      for (let i = this.readyAt.length; i < replicas; i++)
        this.readyAt.push(this.now + POD_START_S);
    } else {
      // A ReplicaSet deletes not-ready pods first, then the newest.
      this.readyAt.sort((a, b) => a - b).length = replicas;
    }
  }

  ready(): number {
    return this.readyAt.filter((at) => at <= this.now).length;
  }

  /** CPU of the ready pods averaged over the last 15 s, %. */
  averageCpu(): number {
    const window = this.cpu.slice(-SYNC_S);
    return window.reduce((a, b) => a + b, 0) / Math.max(1, window.length);
  }

  metrics(): MetricReadings {
    const value = this.averageCpu();
    return {
      cpu: this.readyAt.map((at) => (at <= this.now ? { value } : { value: 100, ready: false })),
    };
  }
}

/** The hand-written scaler: thresholds, a step, a cooldown. */
function thresholdScaler(config: Extract<ScalerConfig, { kind: 'naive' }>, cluster: Cluster) {
  let lastAction = Number.NEGATIVE_INFINITY;
  return (t: number) => {
    if (t === 0 || t % SYNC_S !== 0 || t - lastAction < config.cooldownS) return;
    const cpu = cluster.averageCpu();
    const current = cluster.replicas();
    let next = current;
    if (cpu > config.upAbove) next = current + Math.max(1, Math.ceil(current * config.stepUp));
    else if (cpu < config.downBelow) next = current - 1;
    next = Math.min(BOUNDS.maxReplicas, Math.max(BOUNDS.minReplicas, next));
    if (next !== current) {
      cluster.scale(next);
      lastAction = t;
    }
  };
}

/** Runs the seed's load test once against `config`; the same seed gives the same demand. */
export async function simulateScaler(config: ScalerConfig, seed: number): Promise<ScalerRun> {
  const cluster = new Cluster();
  const clock = new ManualClock(0);
  const noise = mulberry32(seed);
  const autoscaler =
    config.kind === 'hpa'
      ? new Autoscaler({
          target: cluster,
          metrics: [{ type: 'Resource', name: 'cpu', averageUtilization: config.targetCpu }],
          ...BOUNDS,
          behavior: BEHAVIORS[config.behavior],
          syncPeriodMs: SYNC_S * 1000,
          clock,
        })
      : undefined;
  const naive = config.kind === 'naive' ? thresholdScaler(config, cluster) : undefined;
  let backlog = 0;
  let podSeconds = 0;
  const replicas: number[] = [];
  const violated: boolean[] = [];
  for (let t = 0; t < DURATION_S; t++) {
    cluster.now = t;
    const mean = usersAt(t) * RPS_PER_USER;
    const u = Math.max(1e-12, noise());
    const v = noise();
    const gaussian = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    const demand = Math.max(0, mean + Math.sqrt(mean) * gaussian);
    const capacity = cluster.ready() * POD_RPS;
    const rho = demand / capacity;
    backlog = Math.max(0, backlog + demand - capacity);
    const p95Ms =
      BASE_MS +
      (rho < 1 ? (3 * SERVICE_S * 1000) / (1 - rho) : Number.POSITIVE_INFINITY) +
      (backlog / capacity) * 1000;
    violated.push(p95Ms > SLO_MS);
    cluster.cpu.push(Math.min(100, rho * 100));
    podSeconds += cluster.replicas();
    replicas.push(cluster.replicas());
    naive?.(t);
    await clock.advanceAsync(1000);
  }
  await autoscaler?.close();
  return {
    slo_violation_s: violated.filter(Boolean).length,
    replica_hours: Math.round((podSeconds / 3600) * 100) / 100,
    peak_replicas: Math.max(...replicas),
    replicas,
    violated,
  };
}

// Several runs ------------------------------------------------------------------------------

/**
 * Each configuration runs once per seed and is scored by the mean: one run's Poisson noise
 * alone moves an HPA's violation-seconds by tens of seconds (a CPU target of 67 % against 68 %
 * can look five times better on one seed and no better on the next).
 */
export const RUNS = 8;
const seedsFrom = (seed: number) => Array.from({ length: RUNS }, (_, i) => seed + i);

/** The mean of {@link RUNS} runs, the spread of violation-seconds, and the first run's trace. */
export interface MeanRun extends ScalerRun {
  runs: number;
  slo_violation_s_range: [number, number];
}

export async function simulateMean(config: ScalerConfig, seed: number): Promise<MeanRun> {
  const runs: ScalerRun[] = [];
  for (const s of seedsFrom(seed)) runs.push(await simulateScaler(config, s));
  const mean = (pick: (r: ScalerRun) => number) =>
    runs.reduce((sum, r) => sum + pick(r), 0) / runs.length;
  const violations = runs.map((r) => r.slo_violation_s);
  const [first] = runs as [ScalerRun];
  return {
    ...first,
    slo_violation_s: Math.round(mean((r) => r.slo_violation_s) * 10) / 10,
    replica_hours: Math.round(mean((r) => r.replica_hours) * 100) / 100,
    peak_replicas: Math.max(...runs.map((r) => r.peak_replicas)),
    runs: runs.length,
    slo_violation_s_range: [Math.min(...violations), Math.max(...violations)],
  };
}

// The sweep ---------------------------------------------------------------------------------

/**
 * HPA CPU targets swept: every whole percentage (`averageUtilization` is an integer). Above
 * 90 % the HPA cannot scale up on CPU at all: CPU reads at most 100 %, and 100 / 91 is inside
 * the 0.1 tolerance.
 */
const HPA_TARGETS = Array.from({ length: 41 }, (_, i) => 50 + i);
const NAIVE_GRID = {
  upAbove: [70, 80, 90],
  downBelow: [30, 40, 50, 60],
  stepUp: [0, 0.2, 0.5, 1],
  cooldownS: [15, 60, 180, 300],
};
/** The band between the thresholds is at least this wide, or a scale-down re-triggers a scale-up. */
const MIN_BAND = 20;

export interface Point {
  config: ScalerConfig;
  slo_violation_s: number;
  replica_hours: number;
}

const point = (config: ScalerConfig, run: ScalerRun): Point => ({
  config,
  slo_violation_s: run.slo_violation_s,
  replica_hours: run.replica_hours,
});

/** The points no other point beats on both violation-seconds and replica-hours. */
export function pareto(points: readonly Point[]): Point[] {
  const sorted = [...points].sort(
    (a, b) => a.replica_hours - b.replica_hours || a.slo_violation_s - b.slo_violation_s,
  );
  const front: Point[] = [];
  for (const p of sorted) {
    const last = front.at(-1);
    if (!last || p.slo_violation_s < last.slo_violation_s) front.push(p);
  }
  return front;
}

/**
 * The HPA run the benchmark's rule compares with a threshold scaler that used `budget`
 * replica-hours: the lowest CPU target of `family` whose replica-hours fit in the budget. The
 * budget alone picks it (violation-seconds play no part), as a user given that many
 * replica-hours would set the target; `undefined` when no target is that cheap.
 */
export function atBudget(family: readonly Point[], budget: number): Point | undefined {
  const byTarget = [...family].sort((a, b) => cpuTarget(a) - cpuTarget(b));
  return byTarget.find((p) => p.replica_hours <= budget);
}

const cpuTarget = (p: Point) => (p.config.kind === 'hpa' ? p.config.targetCpu : Number.NaN);

/**
 * Every threshold scaler of the grid and the HPA at every target, each scored over
 * {@link RUNS} seeds; each family's Pareto front; and, per threshold scaler, whether the HPA
 * (with the same `behavior`) at the target its replica-hours buy has fewer violation-seconds:
 * the benchmark's rule applied to each of them.
 */
export async function sweep(seed: number) {
  const hpa: Record<BehaviorName, Point[]> = {
    seed: [],
    default: [],
    'default-60s-scale-down': [],
  };
  for (const behavior of Object.keys(BEHAVIORS) as BehaviorName[]) {
    for (const targetCpu of HPA_TARGETS) {
      const config: ScalerConfig = { kind: 'hpa', behavior, targetCpu };
      hpa[behavior].push(point(config, await simulateMean(config, seed)));
    }
  }
  const naive: Point[] = [];
  for (const upAbove of NAIVE_GRID.upAbove)
    for (const downBelow of NAIVE_GRID.downBelow) {
      if (upAbove - downBelow < MIN_BAND) continue;
      for (const stepUp of NAIVE_GRID.stepUp)
        for (const cooldownS of NAIVE_GRID.cooldownS) {
          const config: ScalerConfig = { kind: 'naive', upAbove, downBelow, stepUp, cooldownS };
          naive.push(point(config, await simulateMean(config, seed)));
        }
    }
  /** Per threshold scaler: the HPA at its budget beats it, does not, or costs more at any target. */
  const beaten = (family: readonly Point[]) => {
    const tally = { beaten: 0, not_beaten: 0, cheaper_than_every_hpa_target: 0 };
    for (const n of naive) {
      const matched = atBudget(family, n.replica_hours);
      if (!matched) tally.cheaper_than_every_hpa_target++;
      else if (matched.slo_violation_s < n.slo_violation_s) tally.beaten++;
      else tally.not_beaten++;
    }
    return tally;
  };
  const strip = ({ config, ...p }: Point) => ({ ...configLabel(config), ...p });
  const perFamily = <T>(f: (points: Point[]) => T) =>
    Object.fromEntries(
      (Object.keys(FAMILY) as BehaviorName[]).map((b) => [FAMILY[b], f(hpa[b])]),
    ) as Record<(typeof FAMILY)[BehaviorName], T>;
  return {
    grid: {
      hpa_targets_cpu: [HPA_TARGETS[0], HPA_TARGETS.at(-1)],
      naive: NAIVE_GRID,
      naive_min_band: MIN_BAND,
      runs_per_configuration: RUNS,
    },
    naive_configs: naive.length,
    naive_beaten_at_budget: perFamily(beaten),
    pareto: {
      ...perFamily((points) => pareto(points).map(strip)),
      naive: pareto(naive).map(strip),
    },
    points: { ...perFamily((points) => points), naive },
  };
}

/** How each `behavior` is named in the results. */
const FAMILY = {
  seed: 'hpa_seed_behavior',
  default: 'hpa_default_behavior',
  'default-60s-scale-down': 'hpa_default_60s_scale_down',
} as const satisfies Record<BehaviorName, string>;

function configLabel(config: ScalerConfig) {
  if (config.kind === 'hpa')
    return { scaler: `hpa ${config.behavior} behavior, cpu ${config.targetCpu} %` };
  const step = config.stepUp === 0 ? '1 pod' : `${config.stepUp * 100} %`;
  return {
    scaler: `naive up >${config.upAbove} % (+${step}), down <${config.downBelow} %, cooldown ${config.cooldownS} s`,
  };
}
