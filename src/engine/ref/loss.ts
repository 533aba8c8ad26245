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
