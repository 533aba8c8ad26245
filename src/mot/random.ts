// Random variates built on counterUniform(seed, row, step, draw), the one random source shared with WGSL:
// a variate is a pure function of its counters, so CPU and GPU draw the same numbers and a rollout can be
// replayed. Every sampler names the draw indices it reads; DRAW fixes which purpose owns which range.
import { counterUniform } from './rng.ts';

/** Where one decoding step's randomness comes from: a trajectory (row) and a position (step) under a seed. */
export interface Counters {
  seed: number;
  row: number;
  step: number;
}

/**
 * Draw-index layout of one step (u32). Disjoint ranges, so the purposes never share a uniform.
 * - choice: the discrete sample / categorical inverse CDF reads draw 0 (as engine/sampling.ts sampleToken);
 *   sampling k without replacement reads draw `id` for token id's Gumbel key.
 * - weights: token id owns the block [weights + id·WEIGHT_BLOCK, … + WEIGHT_BLOCK) (Gamma attempts,
 *   Gumbel-softmax noise).
 * - moiSample: the Mixture-of-Inputs token y; representative: J ~ Categorical(w).
 * - noise: channel c of the Gaussian noise on e_t reads draws noise + 2c and noise + 2c + 1.
 */
export const DRAW = {
  choice: 0,
  weights: 0x1000_0000,
  moiSample: 0x4000_0000,
  representative: 0x5000_0000,
  noise: 0x6000_0000,
} as const;
/** Draws per token id in the weights range: 21 Marsaglia–Tsang attempts × 3, and one for the α < 1 boost. */
export const WEIGHT_BLOCK = 64;
/** Marsaglia–Tsang attempts per Gamma variate (3 draws each; the last draw of the block is the α < 1 boost). */
export const GAMMA_ATTEMPTS = 21;

const TINY = 2 ** -25;

/** Uniform in [0, 1) (24 bits). */
export function uniform(c: Counters, draw: number): number {
  return counterUniform(c.seed, c.row, c.step, draw >>> 0);
}

/** Uniform in (0, 1]: 1 − u, exact in f32, safe under log. */
function uniformPositive(c: Counters, draw: number): number {
  return 1 - uniform(c, draw);
}

/** Standard Gumbel −log(−log u), u clamped to [2^-25, 1 − 2^-24] so the value is finite (WGSL: same clamp). */
export function gumbel(c: Counters, draw: number): number {
  const u = Math.max(uniform(c, draw), TINY);
  return -Math.log(-Math.log(u));
}

/** Standard normal by Box–Muller (cosine branch) from draws `draw` and `draw + 1`. */
export function standardNormal(c: Counters, draw: number): number {
  const u1 = uniformPositive(c, draw);
  const u2 = uniform(c, draw + 1);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/**
 * log of a Gamma(α, 1) variate, reading draws [base, base + WEIGHT_BLOCK). Marsaglia–Tsang for shape
 * α' = α (α ≥ 1) or α + 1 (α < 1), then for α < 1 the boost X · U^(1/α), done in logs
 * (log X + log U / α) so that tiny α does not underflow to 0.
 */
export function sampleLogGamma(alpha: number, c: Counters, base: number): number {
  const boost = alpha < 1;
  const a = boost ? alpha + 1 : alpha;
  const d = a - 1 / 3;
  const cc = 1 / Math.sqrt(9 * d);
  let logX = Math.log(d); // fallback (probability < 1e-27): the mode region, deterministic
  for (let attempt = 0; attempt < GAMMA_ATTEMPTS; attempt++) {
    const x = standardNormal(c, base + 3 * attempt);
    const t = 1 + cc * x;
    if (t <= 0) continue;
    const v = t * t * t;
    const logU = Math.log(uniformPositive(c, base + 3 * attempt + 2));
    if (logU < 0.5 * x * x + d - d * v + d * Math.log(v)) {
      logX = Math.log(d * v);
      break;
    }
  }
  if (boost) logX += Math.log(uniformPositive(c, base + WEIGHT_BLOCK - 1)) / alpha;
  return logX;
}

/** A Gamma(α, 1) variate (see sampleLogGamma; may underflow to 0 for tiny α). */
export function sampleGamma(alpha: number, c: Counters, base: number): number {
  return Math.exp(sampleLogGamma(alpha, c, base));
}

/** A Dirichlet draw: the weights (Σ = 1) and their logs, which stay exact where a weight underflows. */
export interface DirichletDraw {
  weights: number[];
  logWeights: number[];
}

/**
 * Dirichlet(α) via normalised Gammas in log space: log w_j = log G_j − log Σ G. Component j reads the block
 * of `blockIds[j]` in the weights range (default: j), so a component's randomness follows its token id, not
 * its position. For α_j ≪ 1, log G_j ≈ log U / α_j can lie below even a double's range (≈ −745), so only
 * logWeights carries such a draw exactly; weights is exp of it (0 there).
 */
export function sampleDirichletLog(
  alpha: ArrayLike<number>,
  c: Counters,
  blockIds?: ArrayLike<number>,
): DirichletDraw {
  const n = alpha.length;
  const logG = new Array<number>(n);
  let max = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < n; j++) {
    const id = blockIds ? blockIds[j] : j;
    logG[j] = sampleLogGamma(alpha[j], c, DRAW.weights + id * WEIGHT_BLOCK);
    if (logG[j] > max) max = logG[j];
  }
  let sum = 0;
  const weights = new Array<number>(n);
  for (let j = 0; j < n; j++) {
    weights[j] = Math.exp(logG[j] - max);
    sum += weights[j];
  }
  const logSum = Math.log(sum);
  const logWeights = new Array<number>(n);
  for (let j = 0; j < n; j++) {
    weights[j] /= sum;
    logWeights[j] = logG[j] - max - logSum;
  }
  return { weights, logWeights };
}

/** The weights of sampleDirichletLog. */
export function sampleDirichlet(
  alpha: ArrayLike<number>,
  c: Counters,
  blockIds?: ArrayLike<number>,
): number[] {
  return sampleDirichletLog(alpha, c, blockIds).weights;
}

/**
 * Index drawn from the (unnormalised, non-negative) weights by inverting the CDF at one uniform, scanning
 * in array order; the first index whose running sum exceeds u · Σw (as engine/sampling.ts sampleToken).
 */
export function sampleCategorical(weights: ArrayLike<number>, c: Counters, draw: number): number {
  let sum = 0;
  for (let i = 0; i < weights.length; i++) sum += weights[i];
  const target = uniform(c, draw) * sum;
  let acc = 0;
  let last = 0;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] <= 0) continue;
    acc += weights[i];
    last = i;
    if (acc > target) return i;
  }
  return last;
}

/**
 * k distinct indices drawn without replacement with probability ∝ exp(logWeights) (Gumbel-top-k):
 * keys logWeights[i] + Gumbel(draw base + ids[i]); the k largest keys, in decreasing key order, which is
 * the Plackett–Luce draw order. Entries with logWeight −∞ are never chosen. Returns positions into the
 * arrays (use ids[pos] for the token).
 */
export function sampleWithoutReplacement(
  logWeights: ArrayLike<number>,
  ids: ArrayLike<number>,
  k: number,
  c: Counters,
  base = DRAW.choice,
): number[] {
  const keys: { pos: number; key: number }[] = [];
  for (let i = 0; i < logWeights.length; i++) {
    if (logWeights[i] === Number.NEGATIVE_INFINITY) continue;
    keys.push({ pos: i, key: logWeights[i] + gumbel(c, base + ids[i]) });
  }
  keys.sort((a, b) => b.key - a.key || a.pos - b.pos);
  return keys.slice(0, Math.min(k, keys.length)).map((e) => e.pos);
}

/** The Gaussian noise vector on e_t for one step (channel c from draws DRAW.noise + 2c, + 2c + 1), unit σ. */
export function gaussianNoise(c: Counters, C: number): Float64Array {
  const n = new Float64Array(C);
  for (let ch = 0; ch < C; ch++) n[ch] = standardNormal(c, DRAW.noise + 2 * ch);
  return n;
}
