// Log-likelihood ℓ of a recorded action under (current) logits, and dℓ/dlogits of that row (MOTG.md §2),
// in the two modes:
// - paper: mixture steps → log π(r) (`representative`) or Σ_j q_j log π(x_j) with q = π(x)/Σπ(x) from the
//   current policy (`weighted-ids`); discrete steps → log π(y); π is the full softmax at the sampling
//   temperature, or at 1 (`paperTemperature: 'one'`, the paper's code).
// - exact (ours): the sum of the log-densities of the random parts of the action, at the sampling temperature:
//   k draws without replacement → Plackett–Luce over the candidate set; Dirichlet weights → log Dir(w; c·p̃);
//   Gumbel-softmax weights → the Concrete density; Mixture of Inputs → log p̃(y); Gaussian noise on e_t →
//   −‖e_t − μ_θ‖²/2σ². Deterministic parts (a top-k set, renormalised weights, an argmax) contribute 0:
//   "log P(top-k set) treated as fixed". θ-independent terms (log w_J of the representative draw, Gaussian
//   normalising constants, −Σ log w_j of the Dirichlet density) are left out; they cancel in ratios and in
//   the k3 KL. Both weight densities score the draw's log-weights (StepRecord.logWeights), not the floored
//   embedding weights, so their score functions stay unbiased however small p̃ gets.
// The candidate set of the current logits is recomputed with the same filters, and the recorded ids are
// added to it, so ℓ stays finite when the current policy would have filtered a recorded id out (ours).
import { candidates, type RowDistribution, rowDistribution } from './choice.ts';
import { type Counters, gaussianNoise } from './random.ts';
import { type MotSettings, SettingsError } from './settings.ts';
import { digamma, logGamma } from './special.ts';
import { ALPHA_FLOOR, dirichletAlpha, type NoiseSpec, renormalised } from './weights.ts';

/** What a step records (MOTG.md §1, "What a rollout records at every step"). */
export interface StepRecord {
  mode: 'mixture' | 'discrete';
  /** Chosen ids (a discrete step: [y]); for `sample` in draw order, else by decreasing p. */
  ids: number[];
  /** The weights actually used, aligned with ids (a discrete step: [1]). */
  weights: number[];
  /**
   * Exact likelihood, Dirichlet / Gumbel-softmax weights: log w_j of the draw before weights.ts floors it,
   * which the density scores. Absent (paper mode, records read back from the GPU): log of `weights`.
   */
  logWeights?: number[];
  /** The representative token r (the transcript token). */
  representative: number;
  /** The temperature p was computed at. */
  temperature: number;
  /** Behaviour log-likelihood of the action under the likelihood mode of the settings. */
  logLikelihood: number;
  /** Next-token entropy H(p) in nats, p at `temperature`. */
  entropy: number;
  /** argmax p (lowest id among ties). */
  argmax: number;
  /** The sampled token: y of a discrete step, Mixture of Inputs' y; null otherwise. */
  sampled: number | null;
  /** Gaussian noise to add to e_t, or null. */
  noise: NoiseSpec | null;
  /** Where the step's randomness came from. */
  counters: Counters;
}

/** The input embedding matrix [V, C] row-major; the exact Gaussian-noise term needs it. */
export interface EmbeddingContext {
  E: ArrayLike<number>;
  C: number;
  /** RMS of E's entries, if known (computed otherwise, for `noiseScale: 'embedding-rms'`). */
  rms?: number;
}

export interface LikelihoodContext {
  embedding?: EmbeddingContext;
}

/**
 * One term of dℓ/dlogits in compact form: grad_v += (a_j [v = ids_j] − s · q_v [v ∈ set]) / temperature,
 * q = softmax(logits / temperature) restricted to `set` and renormalised (set null: the whole vocabulary).
 * What a GPU backward needs instead of a dense V-vector: the sparse part, and a scalar times a softmax it can
 * recompute from the logits.
 */
export interface GradTerm {
  temperature: number;
  ids: number[];
  a: number[];
  s: number;
  set: number[] | null;
}

export interface LogLikelihood {
  value: number;
  /** dℓ/dlogits of the row, dense (length V). */
  grad: Float64Array;
  /** The same gradient as a sum of compact terms (see denseFromTerms). */
  terms: GradTerm[];
}

interface GradSink {
  dense: Float64Array;
  terms: GradTerm[];
}

function finish(value: number, sink: GradSink): LogLikelihood {
  return { value, grad: sink.dense, terms: sink.terms };
}

/** The dense gradient of compact terms at these logits (one row of at least V entries). */
export function denseFromTerms(terms: GradTerm[], logits: ArrayLike<number>, V: number): Float64Array {
  const sink: GradSink = { dense: new Float64Array(V), terms: [] };
  const cache = new Map<number, RowDistribution>();
  for (const t of terms) {
    let dist = cache.get(t.temperature);
    if (!dist) {
      dist = rowDistribution(logits, V, t.temperature);
      cache.set(t.temperature, dist);
    }
    addSoftmaxTerm(sink, dist, t.ids, t.a, t.s, t.set);
  }
  return sink.dense;
}

/** RMS of the embedding entries. */
export function embeddingRms(E: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < E.length; i++) s += E[i] * E[i];
  return Math.sqrt(s / Math.max(E.length, 1));
}

/** The absolute noise σ of a spec. */
export function absoluteSigma(noise: NoiseSpec, embedding?: EmbeddingContext): number {
  if (noise.scale === 'absolute') return noise.sigma;
  if (!embedding)
    throw new SettingsError(
      'missing-context',
      'embedding',
      'noiseScale "embedding-rms" needs the embedding matrix',
    );
  return noise.sigma * (embedding.rms ?? embeddingRms(embedding.E));
}

/**
 * grad_v += (a_v [v ∈ ids] − s · q_v [v ∈ set]) / T with q = p restricted to `set` and renormalised
 * (set null: the whole vocabulary). Every log-softmax gradient here has this form.
 */
function addSoftmaxTerm(
  sink: GradSink,
  dist: RowDistribution,
  ids: ArrayLike<number>,
  a: ArrayLike<number>,
  s: number,
  set: ArrayLike<number> | null,
): void {
  sink.terms.push({
    temperature: dist.temperature,
    ids: Array.from(ids),
    a: Array.from(a),
    s,
    set: set === null ? null : Array.from(set),
  });
  const grad = sink.dense;
  const invT = 1 / dist.temperature;
  for (let j = 0; j < ids.length; j++) grad[ids[j]] += a[j] * invT;
  if (s === 0) return;
  if (set === null) {
    for (let v = 0; v < dist.V; v++) grad[v] -= s * dist.p[v] * invT;
    return;
  }
  let z = 0;
  for (let j = 0; j < set.length; j++) z += dist.p[set[j]];
  for (let j = 0; j < set.length; j++) grad[set[j]] -= (s * dist.p[set[j]] * invT) / z;
}

/** log of p restricted to `set` and renormalised, at id. */
function logRestricted(dist: RowDistribution, set: ArrayLike<number>, id: number): number {
  let z = 0;
  for (let j = 0; j < set.length; j++) z += dist.p[set[j]];
  return dist.logp[id] - Math.log(z);
}

function withIds(set: number[], ids: number[]): number[] {
  const have = new Set(set);
  const out = set.slice();
  for (const id of ids) if (!have.has(id)) out.push(id);
  return out;
}

/** log π(id) at the distribution's temperature, with its gradient. */
function logProbTerm(grad: GradSink, dist: RowDistribution, id: number): number {
  addSoftmaxTerm(grad, dist, [id], [1], 1, null);
  return dist.logp[id];
}

/** Σ_j q_j log π(x_j), q = π(x)/Σ π(x) not detached. */
function weightedIdsTerm(grad: GradSink, dist: RowDistribution, ids: number[]): number {
  const q = renormalised(dist, ids);
  let value = 0;
  for (let j = 0; j < ids.length; j++) value += q[j] * dist.logp[ids[j]];
  const a = ids.map((id, j) => q[j] * (dist.logp[id] - value + 1));
  addSoftmaxTerm(grad, dist, ids, a, 1, null);
  return value;
}

/** Plackett–Luce log-probability of drawing ids in this order without replacement from p restricted to set. */
function plackettLuceTerm(grad: GradSink, dist: RowDistribution, set: number[], ids: number[]): number {
  let z = 0;
  for (const v of set) z += dist.p[v];
  const taken = new Set<number>();
  const a = new Array<number>(ids.length).fill(0);
  let s = 0;
  let value = 0;
  for (let j = 0; j < ids.length; j++) {
    let rest = 0; // R_j: the probability left after the first j draws
    for (const v of set) if (!taken.has(v)) rest += dist.p[v] / z;
    value += dist.logp[ids[j]] - Math.log(z) - Math.log(rest);
    a[j] += 1;
    for (let l = 0; l < j; l++) a[l] += dist.p[ids[l]] / z / rest;
    s += 1 / rest;
    taken.add(ids[j]);
  }
  addSoftmaxTerm(grad, dist, ids, a, s, set);
  return value;
}

/**
 * log Dirichlet(w; c · p̃) with p̃ = p restricted to ids, from log w, less the θ-independent −Σ log w_j:
 * log Γ(Σα) + Σ (α_j log w_j − log Γ(α_j)). Every part stays O(1) as α_j → 0, where log w_j ≈ log U / α_j
 * (random.ts): α_j log w_j ≈ log U, and α_j ψ(α_j) = α_j ψ(α_j + 1) − 1 in the gradient.
 */
function dirichletTerm(
  grad: GradSink,
  dist: RowDistribution,
  ids: number[],
  logW: number[],
  c: number,
): number {
  const pt = renormalised(dist, ids);
  const alpha = dirichletAlpha(pt, c);
  let sumA = 0;
  for (const x of alpha) sumA += x;
  let value = logGamma(sumA);
  const psiSum = digamma(sumA);
  const a = new Array<number>(ids.length);
  let s = 0;
  for (let j = 0; j < ids.length; j++) {
    value += alpha[j] * logW[j] - logGamma(alpha[j]);
    // dℓ/dα_j · dα_j/d(log p̃_j) = α_j (ψ(Σα) − ψ(α_j) + log w_j); 0 where the floor holds α_j fixed.
    const scaled = alpha[j] * (psiSum - digamma(alpha[j] + 1) + logW[j]) + 1;
    const g = c * pt[j] > ALPHA_FLOOR ? scaled : 0;
    a[j] = g;
    s += g;
  }
  addSoftmaxTerm(grad, dist, ids, a, s, ids);
  return value;
}

/**
 * The Concrete (Gumbel-softmax) log-density of w with class probabilities π = p̃ and temperature τ
 * (Maddison et al. 2017), from log w: log Γ(n) + (n−1) log τ + Σ (log π_i − (τ+1) log w_i)
 * − n log Σ π_i w_i^(−τ).
 */
function concreteTerm(
  grad: GradSink,
  dist: RowDistribution,
  ids: number[],
  logW: number[],
  tau: number,
): number {
  const n = ids.length;
  const pt = renormalised(dist, ids);
  const t = ids.map((_, j) => Math.log(pt[j]) - tau * logW[j]);
  let max = Number.NEGATIVE_INFINITY;
  for (const x of t) if (x > max) max = x;
  let sum = 0;
  for (const x of t) sum += Math.exp(x - max);
  const lse = max + Math.log(sum);
  let value = logGamma(n) + (n - 1) * Math.log(tau) - n * lse;
  for (let j = 0; j < n; j++) value += Math.log(pt[j]) - (tau + 1) * logW[j];
  // dℓ/d log π_i = 1 − n softmax(t)_i; these sum to 0, so the softmax-normaliser term vanishes.
  const b = t.map((x) => 1 - n * Math.exp(x - lse));
  let s = 0;
  for (const x of b) s += x;
  addSoftmaxTerm(grad, dist, ids, b, s, ids);
  return value;
}

/** −‖e_t − μ_θ‖²/2σ²: e_t = Σ w_rec E[ids] + σ n; μ_θ = Σ p̃_θ E[ids] for renormalised weights. */
function noiseTerm(
  grad: GradSink,
  dist: RowDistribution,
  record: StepRecord,
  settings: MotSettings,
  emb: EmbeddingContext,
): number {
  const noise = record.noise as NoiseSpec;
  const { E, C } = emb;
  const n = gaussianNoise(record.counters, C);
  if (settings.weights !== 'renormalised') {
    // μ is the recorded (sampled) mixture, which does not depend on θ given w.
    let sq = 0;
    for (let c = 0; c < C; c++) sq += n[c] * n[c];
    return -0.5 * sq;
  }
  const sigma = absoluteSigma(noise, emb);
  const ids = record.ids;
  const pt = renormalised(dist, ids);
  const d = new Float64Array(C);
  for (let c = 0; c < C; c++) d[c] = sigma * n[c];
  for (let j = 0; j < ids.length; j++) {
    const coef = record.weights[j] - pt[j];
    if (coef === 0) continue;
    const base = ids[j] * C;
    for (let c = 0; c < C; c++) d[c] += coef * E[base + c];
  }
  let sq = 0;
  for (let c = 0; c < C; c++) sq += d[c] * d[c];
  const inv = 1 / (sigma * sigma);
  // dℓ/dp̃_j = E[ids_j] · d / σ²; through p̃ = softmax over ids.
  const a = new Array<number>(ids.length);
  let s = 0;
  for (let j = 0; j < ids.length; j++) {
    const base = ids[j] * C;
    let dot = 0;
    for (let c = 0; c < C; c++) dot += E[base + c] * d[c];
    a[j] = pt[j] * dot * inv;
    s += a[j];
  }
  addSoftmaxTerm(grad, dist, ids, a, s, ids);
  return -0.5 * sq * inv;
}

/**
 * ℓ of the recorded action under `logits` (one row, at least V entries) and dℓ/dlogits. `settings` must be
 * the ones the step was taken with. The exact Gaussian-noise term needs `ctx.embedding`.
 */
export function actionLogLikelihood(
  logits: ArrayLike<number>,
  V: number,
  record: StepRecord,
  settings: MotSettings,
  ctx: LikelihoodContext = {},
): LogLikelihood {
  return logLikelihoodParts(logits, V, record, settings, ctx, true);
}

/** As actionLogLikelihood; with includeNoise false the Gaussian-noise term is left out (step.ts). */
export function logLikelihoodParts(
  logits: ArrayLike<number>,
  V: number,
  record: StepRecord,
  settings: MotSettings,
  ctx: LikelihoodContext,
  includeNoise: boolean,
): LogLikelihood {
  if (logits.length < V)
    throw new SettingsError('shape-mismatch', 'logits', `row has ${logits.length} entries, V = ${V}`);
  const grad: GradSink = { dense: new Float64Array(V), terms: [] };
  const paper = settings.likelihood === 'paper';
  const T = paper && settings.paperTemperature === 'one' ? 1 : record.temperature;
  if (T === 0) return finish(0, grad); // greedy: deterministic action
  const dist = rowDistribution(logits, V, T);

  if (record.mode === 'discrete') {
    const y = record.ids[0];
    if (paper) return finish(logProbTerm(grad, dist, y), grad);
    const set = withIds(
      candidates(dist, {
        topK: settings.discreteTopK,
        topP: settings.discreteTopP,
        minP: settings.discreteMinP,
      }),
      [y],
    );
    const value = logRestricted(dist, set, y);
    addSoftmaxTerm(grad, dist, [y], [1], 1, set);
    return finish(value, grad);
  }

  if (paper) {
    const value =
      settings.paperRule === 'weighted-ids'
        ? weightedIdsTerm(grad, dist, record.ids)
        : logProbTerm(grad, dist, record.representative);
    return finish(value, grad);
  }

  let value = 0;
  const ids = record.ids;
  if (settings.select === 'sample') {
    const set = withIds(candidates(dist, { topK: 0, topP: settings.topP, minP: settings.minP }), ids);
    value += plackettLuceTerm(grad, dist, set, ids);
  }
  if (ids.length > 1) {
    const logW = record.logWeights ?? record.weights.map(Math.log);
    if (settings.weights === 'dirichlet')
      value += dirichletTerm(grad, dist, ids, logW, settings.concentration);
    else if (settings.weights === 'gumbel-softmax')
      value += concreteTerm(grad, dist, ids, logW, settings.gumbelTau);
  }
  if (settings.weights === 'moi' && record.sampled !== null) {
    value += logRestricted(dist, ids, record.sampled);
    addSoftmaxTerm(grad, dist, [record.sampled], [1], 1, ids);
  }
  if (includeNoise && record.noise !== null) {
    if (!ctx.embedding)
      throw new SettingsError(
        'missing-context',
        'embedding',
        'the exact Gaussian-noise term needs the embedding matrix',
      );
    value += noiseTerm(grad, dist, record, settings, ctx.embedding);
  }
  return finish(value, grad);
}

/** −½‖n‖²: the behaviour value of the Gaussian-noise term (e_t − μ_old = σ n), which needs only C. */
export function behaviourNoiseTerm(counters: Counters, C: number): number {
  const n = gaussianNoise(counters, C);
  let sq = 0;
  for (let c = 0; c < C; c++) sq += n[c] * n[c];
  return -0.5 * sq;
}
