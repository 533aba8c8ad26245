// Which weights (MOTG.md §1), over the chosen ids of one step: renormalised probabilities, a Dirichlet
// sample with concentration c·p̃, Gumbel-softmax softmax((log p̃ + g)/τ_g), or the Mixture-of-Inputs blend
// with a sampled one-hot. The optional Gaussian noise on e_t is described by a NoiseSpec (e_t lives on the GPU).
import type { RowDistribution } from './choice.ts';
import {
  type Counters,
  DRAW,
  gumbel,
  sampleCategorical,
  sampleDirichletLog,
  WEIGHT_BLOCK,
} from './random.ts';
import type { NoiseScale, WeightKind } from './settings.ts';

/**
 * The embedding weights of a Dirichlet or Gumbel-softmax draw are kept ≥ this, then renormalised (ours): the
 * forward pass uses them. The exact likelihood scores the draw's unfloored log-weights instead (likelihood.ts),
 * since scoring floored weights biases its score function wherever draws fall below the floor.
 */
export const WEIGHT_FLOOR = 1e-20;
/** Dirichlet concentrations are kept ≥ this, for ids whose probability underflowed (ours). */
export const ALPHA_FLOOR = 1e-30;

export interface WeightParams {
  weights: WeightKind;
  concentration: number;
  gumbelTau: number;
  moiBeta: number;
}

export interface WeightResult {
  /** w_j for ids[j]; Σ w = 1. */
  weights: number[];
  /**
   * log w_j of the draw before the floor, computed in log space (Dirichlet and Gumbel-softmax over n > 1
   * ids; null otherwise): exact where w_j is far below WEIGHT_FLOOR or underflows.
   */
  logWeights: number[] | null;
  /** The Mixture-of-Inputs sampled token y (null for other weight kinds). */
  sampled: number | null;
}

/** Gaussian noise to add to e_t: σ · n with n_c = standardNormal(counters, DRAW.noise + 2c) (random.ts). */
export interface NoiseSpec {
  sigma: number;
  /** `embedding-rms`: the absolute σ is sigma × RMS of the embedding matrix entries. */
  scale: NoiseScale;
  seed: number;
  row: number;
  step: number;
  drawBase: number;
}

/** p̃: p restricted to ids and renormalised. */
export function renormalised(dist: RowDistribution, ids: ArrayLike<number>): number[] {
  let sum = 0;
  for (let j = 0; j < ids.length; j++) sum += dist.p[ids[j]];
  const out = new Array<number>(ids.length);
  for (let j = 0; j < ids.length; j++) out[j] = sum > 0 ? dist.p[ids[j]] / sum : 1 / ids.length;
  return out;
}

/** Dirichlet concentration c · p̃_j, floored at ALPHA_FLOOR. */
export function dirichletAlpha(pTilde: ArrayLike<number>, c: number): number[] {
  return Array.from(pTilde, (q) => Math.max(c * q, ALPHA_FLOOR));
}

/** Normalised entropy H = −Σ p̃ log p̃ / log n over n ids (0 when n = 1), the Mixture-of-Inputs gate. */
export function normalisedEntropy(pTilde: ArrayLike<number>): number {
  const n = pTilde.length;
  if (n < 2) return 0;
  let h = 0;
  for (let j = 0; j < n; j++) if (pTilde[j] > 0) h -= pTilde[j] * Math.log(pTilde[j]);
  return h / Math.log(n);
}

/** Mixture-of-Inputs weights w_j = (H·p̃_j + (β+1−H)·[ids_j = y]) / (β+1). */
export function moiWeights(pTilde: ArrayLike<number>, ySlot: number, beta: number): number[] {
  const H = normalisedEntropy(pTilde);
  return Array.from(pTilde, (q, j) => (H * q + (j === ySlot ? beta + 1 - H : 0)) / (beta + 1));
}

function floorAndRenormalise(w: number[]): number[] {
  let sum = 0;
  for (let j = 0; j < w.length; j++) {
    w[j] = Math.max(w[j], WEIGHT_FLOOR);
    sum += w[j];
  }
  for (let j = 0; j < w.length; j++) w[j] /= sum;
  return w;
}

/**
 * The weights of one step over `ids` (Σ = 1). Randomness: Dirichlet and Gumbel-softmax read the weights
 * block of each token id (DRAW.weights + id · WEIGHT_BLOCK); Mixture of Inputs reads DRAW.moiSample.
 */
export function computeWeights(
  dist: RowDistribution,
  ids: number[],
  params: WeightParams,
  counters: Counters,
): WeightResult {
  const pt = renormalised(dist, ids);
  const n = ids.length;
  switch (params.weights) {
    case 'renormalised':
      return { weights: pt, logWeights: null, sampled: null };
    case 'dirichlet': {
      if (n === 1) return { weights: [1], logWeights: null, sampled: null };
      const draw = sampleDirichletLog(dirichletAlpha(pt, params.concentration), counters, ids);
      return { weights: floorAndRenormalise(draw.weights), logWeights: draw.logWeights, sampled: null };
    }
    case 'gumbel-softmax': {
      if (n === 1) return { weights: [1], logWeights: null, sampled: null };
      const y = ids.map(
        (id, j) => (Math.log(pt[j]) + gumbel(counters, DRAW.weights + id * WEIGHT_BLOCK)) / params.gumbelTau,
      );
      let max = Number.NEGATIVE_INFINITY;
      for (const v of y) if (v > max) max = v;
      const e = y.map((v) => Math.exp(v - max));
      const sum = e.reduce((a, b) => a + b, 0);
      const logSum = Math.log(sum);
      return {
        weights: floorAndRenormalise(e.map((v) => v / sum)),
        logWeights: y.map((v) => v - max - logSum),
        sampled: null,
      };
    }
    case 'moi': {
      const slot = sampleCategorical(pt, counters, DRAW.moiSample);
      return { weights: moiWeights(pt, slot, params.moiBeta), logWeights: null, sampled: ids[slot] };
    }
  }
}
