// The per-token log-probability loss every policy-gradient objective reduces to:
//   loss = −Σ_n coef[n] · log_softmax(logits[n])[target[n]]
// (cross-entropy when coef = 1/N; GRPO when coef = advantage / length, masked to 0 on prompt tokens).
// Its backward is written inline, row by row, like llm.c's crossentropy_softmax_backward:
//   dlogits[n, v] = dloss · coef[n] · (softmax(logits[n])[v] − [v = target[n]])
// No softmax matrix is kept: each row's log-sum-exp is recomputed, then the row is overwritten.

/** Log-sum-exp of x[base .. base+n), stable, in f64. */
function rowLogSumExp(x: Float32Array, base: number, n: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) if (x[base + i] > max) max = x[base + i];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(x[base + i] - max);
  return max + Math.log(sum);
}

/**
 * logp (N) = log_softmax(logits[n])[targets[n]] (or null); returns the loss
 * −Σ coef[n] · logp[n] (summed in f64). logits (N, V), targets (N), coef (N).
 */
export function logprobLossForward(
  logp: Float32Array | null,
  logits: Float32Array,
  targets: ArrayLike<number>,
  coef: ArrayLike<number>,
  N: number,
  V: number,
): number {
  let loss = 0;
  for (let n = 0; n < N; n++) {
    const t = targets[n];
    if (!(t >= 0 && t < V)) throw new RangeError(`loss: target ${t} outside the vocabulary [0, ${V})`);
    const lp = logits[n * V + t] - rowLogSumExp(logits, n * V, V);
    if (logp) logp[n] = lp;
    loss -= coef[n] * lp;
  }
  return loss;
}

/**
 * dlogits (N, V) = dloss · coef[n] · (softmax(logits[n]) − onehot(targets[n])), an activation gradient
 * (overwritten). dlogits may be the logits array itself (each row is read before it is written), which
 * is how the training memory plan keeps one (N, V) buffer. Rows with coef 0 become 0.
 */
export function logprobLossBackward(
  dlogits: Float32Array,
  logits: Float32Array,
  targets: ArrayLike<number>,
  coef: ArrayLike<number>,
  N: number,
  V: number,
  dloss = 1,
): void {
  for (let n = 0; n < N; n++) {
    const base = n * V;
    const c = dloss * coef[n];
    if (c === 0) {
      dlogits.fill(0, base, base + V);
      continue;
    }
    const lse = rowLogSumExp(logits, base, V);
    const t = targets[n];
    for (let v = 0; v < V; v++)
      dlogits[base + v] = c * (Math.exp(logits[base + v] - lse) - (v === t ? 1 : 0));
  }
}

/** Forward and backward together: the loss, logp (N) and dlogits (N, V) for dloss = 1. */
export function logprobLoss(
  logits: Float32Array,
  targets: ArrayLike<number>,
  coef: ArrayLike<number>,
  N: number,
  V: number,
): { loss: number; logp: Float32Array; dlogits: Float32Array } {
  const logp = new Float32Array(N);
  const loss = logprobLossForward(logp, logits, targets, coef, N, V);
  const dlogits = new Float32Array(N * V);
  logprobLossBackward(dlogits, logits, targets, coef, N, V);
  return { loss, logp, dlogits };
}

/** Several weighted targets per position (the GPU loss kernel's `LossTargets`). */
export interface WeightedTargets {
  /** Targets per position: targets and weights hold K entries per position. */
  K: number;
  /** (N, K) weights; null: all 1. Weight 0 pads a position's list to K. */
  weights: ArrayLike<number> | null;
  /** Weights renormalised by the current softmax, not detached (q_k ∝ w_k · p(target_k), w ≥ 0). */
  renormalise?: boolean;
}

/**
 * One row: ℓ = Σ_k a_k log p(target_k) and its gradient dℓ/dlogits = Σ_k g_k onehot(target_k) − s · softmax,
 * in f64. Fixed weights: a = g = w, s = Σ w. Renormalised: q_k = w_k p_k / Σ_l w_l p_l, ℓ = Σ_k q_k log p_k,
 * g_k = q_k (1 + log p_k − ℓ), s = Σ g = 1 (the `weighted-ids` rule of mot/likelihood.ts).
 */
function weightedRow(
  logits: Float32Array,
  base: number,
  V: number,
  ids: ArrayLike<number>,
  w: ArrayLike<number>,
  renormalise: boolean,
): { value: number; g: Float64Array; s: number; lse: number } {
  const K = ids.length;
  const lse = rowLogSumExp(logits, base, V);
  const lp = Float64Array.from({ length: K }, (_, k) => logits[base + ids[k]] - lse);
  const g = new Float64Array(K);
  if (!renormalise) {
    let value = 0;
    let s = 0;
    for (let k = 0; k < K; k++) {
      value += w[k] * lp[k];
      g[k] = w[k];
      s += w[k];
    }
    return { value, g, s, lse };
  }
  let m = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < K; k++) if (w[k] > 0 && lp[k] > m) m = lp[k];
  let z = 0;
  for (let k = 0; k < K; k++) if (w[k] > 0) z += w[k] * Math.exp(lp[k] - m);
  if (!(z > 0)) return { value: 0, g, s: 0, lse };
  const q = Float64Array.from({ length: K }, (_, k) => (w[k] > 0 ? (w[k] * Math.exp(lp[k] - m)) / z : 0));
  let value = 0;
  for (let k = 0; k < K; k++) value += q[k] * lp[k];
  for (let k = 0; k < K; k++) g[k] = q[k] * (1 + lp[k] - value);
  return { value, g, s: 1, lse };
}

/**
 * logprobLoss over K weighted targets per position: ℓ[n] = Σ_k a[n,k] log_softmax(logits[n])[targets[n,k]]
 * (see WeightedTargets), loss = −Σ coef[n] ℓ[n], dlogits[n] = dloss · coef[n] · (s · softmax − Σ_k g_k
 * onehot(targets[n,k])); rows with coef 0 get a zero gradient. logits (N, V), targets (N, K), coef (N).
 */
export function weightedLogprobLoss(
  logits: Float32Array,
  targets: ArrayLike<number>,
  coef: ArrayLike<number>,
  N: number,
  V: number,
  multi: WeightedTargets,
  dloss = 1,
): { loss: number; logp: Float32Array; dlogits: Float32Array } {
  const { K } = multi;
  const logp = new Float32Array(N);
  const dlogits = new Float32Array(N * V);
  let loss = 0;
  for (let n = 0; n < N; n++) {
    const ids = Array.from({ length: K }, (_, k) => targets[n * K + k]);
    for (const t of ids)
      if (!(t >= 0 && t < V)) throw new RangeError(`loss: target ${t} outside the vocabulary [0, ${V})`);
    const w = Array.from({ length: K }, (_, k) => (multi.weights ? multi.weights[n * K + k] : 1));
    const base = n * V;
    const r = weightedRow(logits, base, V, ids, w, multi.renormalise === true);
    logp[n] = r.value;
    loss -= coef[n] * r.value;
    const c = dloss * coef[n];
    if (c === 0) continue;
    const row = new Float64Array(V);
    for (let v = 0; v < V; v++) row[v] = r.s * Math.exp(logits[base + v] - r.lse);
    for (let k = 0; k < K; k++) row[ids[k]] -= r.g[k];
    for (let v = 0; v < V; v++) dlogits[base + v] = c * row[v];
  }
  return { loss, logp, dlogits };
}
