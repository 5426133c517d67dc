/**
 * The serving side of a rollout: the champion's GPUOptimizer, and during a canary or shadow
 * the candidate's, with the routing between them. A request goes to the candidate with
 * probability `weight` %; one the candidate fails is retried on the champion (the caller sees
 * the champion's answer, the analysis sees the candidate's failure). In shadow mode every
 * request is answered by the champion and mirrored to the candidate, whose answer is compared
 * and dropped. Promotion makes the candidate the champion; the old one finishes the requests
 * it holds and closes, so no request fails on the way.
 */
import type { GPUOptimizer } from '../gpu/gpu-optimizer.js';
import type { InferOptions, InferResult } from '../gpu/gpu-optimizer-types.js';
import type { Tensor } from '../gpu/tensor.js';
import type { ModelVersion } from './model-registry.js';
import { type Arm, TrafficRecorder } from './traffic-window.js';

/** Whether two answers to one request agree (shadow mode). */
export type AgreementCheck = (champion: InferResult, candidate: InferResult) => boolean;

/** Shadow traffic so far. */
export interface ShadowTally {
  /** Requests the candidate answered (or failed). */
  mirrored: number;
  agreed: number;
  candidateErrors: number;
  /** Requests not mirrored because {@link MAX_MIRRORS} were in flight: the candidate lagged. */
  skipped: number;
}

/**
 * Mirrored requests in flight at most. Callers do not wait for the candidate, so without a cap
 * a slower candidate would fill its queue; beyond it requests are answered but not mirrored.
 */
export const MAX_MIRRORS = 64;

export interface Served {
  readonly version: ModelVersion;
  readonly optimizer: GPUOptimizer;
}

type Input = Tensor | Record<string, Tensor>;

interface ShadowState {
  readonly agree: AgreementCheck;
  readonly tally: ShadowTally;
}

/** Copies an input, so a mirrored request does not read a buffer the caller reuses. */
function copyInput(input: Input): Input {
  const copy = (t: Tensor): Tensor => ({ ...t, data: (t.data as Float32Array).slice() }) as Tensor;
  if ('data' in input && 'dims' in input) return copy(input as Tensor);
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(input as Record<string, Tensor>)) out[name] = copy(t);
  return out;
}

export class ModelServing {
  #champion: Served;
  #candidate: Served | undefined;
  #weight = 0;
  #shadow: ShadowState | undefined;
  readonly #mirrors = new Set<Promise<void>>();
  readonly traffic: TrafficRecorder;
  readonly #random: () => number;

  /** Items answered by runtime label (`name@version`), from the optimizers' batch events. */
  readonly #answered = new Map<string, number>();
  readonly #counted = new WeakSet<GPUOptimizer>();

  constructor(champion: Served, now: () => number, random: () => number) {
    this.#champion = champion;
    this.traffic = new TrafficRecorder(now);
    this.#random = random;
    this.#count(champion.optimizer);
  }

  /** Items answered per version number. */
  answered(): Record<number, number> {
    const out: Record<number, number> = {};
    for (const [label, items] of this.#answered) {
      const version = Number(label.slice(label.lastIndexOf('@') + 1));
      if (Number.isInteger(version)) out[version] = (out[version] ?? 0) + items;
    }
    return out;
  }

  #count(optimizer: GPUOptimizer) {
    if (this.#counted.has(optimizer)) return;
    this.#counted.add(optimizer);
    optimizer.on('batch', (batch) => {
      this.#answered.set(batch.runtime, (this.#answered.get(batch.runtime) ?? 0) + batch.size);
    });
  }

  get champion(): Served {
    return this.#champion;
  }

  get candidate(): Served | undefined {
    return this.#candidate;
  }

  /** The share of requests the candidate answers, 0–100. */
  get weight(): number {
    return this.#weight;
  }

  async infer(input: Input, options?: InferOptions): Promise<InferResult> {
    const candidate = this.#candidate;
    if (candidate && this.#weight > 0 && this.#random() * 100 < this.#weight) {
      try {
        return await this.#timed('candidate', candidate.optimizer, input, options);
      } catch (error) {
        if (options?.signal?.aborted) throw error;
        // Fall through: the champion answers what the candidate could not.
      }
    }
    const champion = this.#champion.optimizer;
    const shadow = this.#shadow;
    if (!shadow || !candidate) return this.#timed('champion', champion, input, options);
    const mirrored = copyInput(input);
    const answer = await this.#timed('champion', champion, input, options);
    this.#mirror(candidate.optimizer, mirrored, answer, shadow);
    return answer;
  }

  /** Starts routing to `candidate` (weight 0 until {@link setWeight}). */
  attach(candidate: Served): void {
    this.#count(candidate.optimizer);
    this.#candidate = candidate;
    this.#weight = 0;
  }

  setWeight(weight: number): void {
    this.#weight = weight;
  }

  /** Mirrors every request to the candidate and compares the answers with `agree`. */
  startShadow(agree: AgreementCheck): ShadowTally {
    const tally = { mirrored: 0, agreed: 0, candidateErrors: 0, skipped: 0 };
    this.#shadow = { agree, tally };
    return tally;
  }

  /** Stops routing to the candidate and returns it; its mirrored requests finish first. */
  async detach(): Promise<Served | undefined> {
    const candidate = this.#candidate;
    this.#weight = 0;
    this.#shadow = undefined;
    this.#candidate = undefined;
    await Promise.all(this.#mirrors);
    return candidate;
  }

  /** Makes `next` the champion; returns the old one, which the caller closes (draining). */
  replaceChampion(next: Served): Served {
    const old = this.#champion;
    this.#champion = next;
    return old;
  }

  async #timed(arm: Arm, optimizer: GPUOptimizer, input: Input, options?: InferOptions) {
    const start = performance.now();
    try {
      const result = await optimizer.infer(input, options);
      this.traffic.record(arm, true, performance.now() - start);
      return result;
    } catch (error) {
      this.traffic.record(arm, false, performance.now() - start);
      throw error;
    }
  }

  #mirror(optimizer: GPUOptimizer, input: Input, answer: InferResult, shadow: ShadowState) {
    if (this.#mirrors.size >= MAX_MIRRORS) {
      shadow.tally.skipped++;
      return;
    }
    const run = this.#timed('candidate', optimizer, input)
      .then(
        (result) => {
          shadow.tally.mirrored++;
          let agreed = false;
          try {
            agreed = shadow.agree(answer, result);
          } catch {
            // A check that throws counts as a disagreement.
          }
          if (agreed) shadow.tally.agreed++;
        },
        () => {
          shadow.tally.mirrored++;
          shadow.tally.candidateErrors++;
        },
      )
      .finally(() => this.#mirrors.delete(run));
    this.#mirrors.add(run);
  }
}
