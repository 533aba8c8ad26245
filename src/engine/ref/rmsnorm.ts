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
