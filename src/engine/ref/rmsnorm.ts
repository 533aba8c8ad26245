// RMSNorm as Qwen2RMSNorm: y = weight · x / sqrt(mean(x²) + eps).

/** out (N, C); rstd (N) saved for the backward, or null; inp (N, C); weight (C). */
export function rmsnormForward(
  out: Float32Array,
  rstd: Float32Array | null,
  inp: Float32Array,
  weight: Float32Array,
  N: number,
  C: number,
  eps: number,
): void {
  for (let n = 0; n < N; n++) {
    const base = n * C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += inp[base + c] * inp[base + c];
    const r = 1 / Math.sqrt(ss / C + eps);
    if (rstd) rstd[n] = r;
    for (let c = 0; c < C; c++) out[base + c] = weight[c] * (inp[base + c] * r);
  }
}

// ---- Backward (accumulation rule: see embedding.ts) ----------------------------------------------

/**
 * Backward of rmsnormForward, from the saved rstd. With g = weight · dout and x̂ = x · rstd:
 * dinp += rstd · (g − x̂ · mean(g · x̂)) — `+=` because the input is the residual stream;
 * dweight (C) += Σ_n dout · x̂ (null when frozen).
 */
export function rmsnormBackward(
  dinp: Float32Array,
  dweight: Float32Array | null,
  dout: Float32Array,
  inp: Float32Array,
  weight: Float32Array,
  rstd: Float32Array,
  N: number,
  C: number,
): void {
  for (let n = 0; n < N; n++) {
    const base = n * C;
    const r = rstd[n];
    let dot = 0;
    for (let c = 0; c < C; c++) dot += weight[c] * dout[base + c] * inp[base + c];
    const k = (dot * r * r) / C;
    for (let c = 0; c < C; c++) {
      const x = inp[base + c];
      dinp[base + c] += r * (weight[c] * dout[base + c] - x * k);
      if (dweight) dweight[c] += dout[base + c] * x * r;
    }
  }
}
