// Distributions from logits: log-softmax, gathered log-probs, next-token entropy; and the hidden-state
// entropy of MOTG.md §4 (softmax over the C hidden dimensions of one residual vector).

/** out (N, V) = log_softmax(logits (N, V)) along V. */
export function logSoftmaxForward(out: Float32Array, logits: Float32Array, N: number, V: number): void {
  for (let n = 0; n < N; n++) {
    const base = n * V;
    const lse = logSumExp(logits, base, V);
    for (let v = 0; v < V; v++) out[base + v] = logits[base + v] - lse;
  }
}

/** out (N) = log_softmax(logits)[n, targets[n]]. */
export function gatherLogprobsForward(
  out: Float32Array,
  logits: Float32Array,
  targets: ArrayLike<number>,
  N: number,
  V: number,
): void {
  for (let n = 0; n < N; n++) {
    const base = n * V;
    out[n] = logits[base + targets[n]] - logSumExp(logits, base, V);
  }
}

/** out (N) = entropy of softmax(logits[n] / temperature) in nats. */
export function entropyForward(
  out: Float32Array,
  logits: Float32Array,
  N: number,
  V: number,
  temperature = 1,
): void {
  for (let n = 0; n < N; n++) out[n] = softmaxEntropy(logits, n * V, V, 1 / temperature);
}

/** out (N) = −Σ_c q_c log q_c with q = softmax(h[n, :]) over the C hidden dimensions. */
export function hiddenEntropyForward(out: Float32Array, hidden: Float32Array, N: number, C: number): void {
  for (let n = 0; n < N; n++) out[n] = softmaxEntropy(hidden, n * C, C, 1);
}

function logSumExp(x: Float32Array, base: number, n: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) if (x[base + i] > max) max = x[base + i];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(x[base + i] - max);
  return max + Math.log(sum);
}

/** Entropy of softmax(s · x[base .. base+n]): H = lse − Σ p·z, computed stably. */
function softmaxEntropy(x: Float32Array, base: number, n: number, s: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) if (s * x[base + i] > max) max = s * x[base + i];
  let sum = 0;
  let weighted = 0;
  for (let i = 0; i < n; i++) {
    const z = s * x[base + i] - max;
    const e = Math.exp(z);
    sum += e;
    weighted += e * z;
  }
  return Math.log(sum) - weighted / sum;
}
