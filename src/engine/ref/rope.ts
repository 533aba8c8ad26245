// Rotary position embedding, HF "rotate half" convention with explicit position ids:
// for i < D/2, with f = pos · θ^(−2i/D):
//   out[i]       = x[i] cos f − x[i + D/2] sin f
//   out[i + D/2] = x[i + D/2] cos f + x[i] sin f

/** out, inp (N, nHeads, D) — may be the same array; positions (N). */
export function ropeForward(
  out: Float32Array,
  inp: Float32Array,
  positions: ArrayLike<number>,
  N: number,
  nHeads: number,
  D: number,
  theta: number,
): void {
  rotate(out, inp, positions, N, nHeads, D, theta, 1);
}

/**
 * Backward of ropeForward: the inverse (transposed) rotation, i.e. the rotation by −f, for i < D/2:
 *   dinp[i]       =  dout[i] cos f + dout[i + D/2] sin f
 *   dinp[i + D/2] = −dout[i] sin f + dout[i + D/2] cos f
 * dinp, dout (N, nHeads, D) — may be the same array (activation gradient, overwritten).
 */
export function ropeBackward(
  dinp: Float32Array,
  dout: Float32Array,
  positions: ArrayLike<number>,
  N: number,
  nHeads: number,
  D: number,
  theta: number,
): void {
  rotate(dinp, dout, positions, N, nHeads, D, theta, -1);
}

/** Rotate each (i, i + D/2) pair by the angle sign · pos · θ^(−2i/D). */
function rotate(
  out: Float32Array,
  inp: Float32Array,
  positions: ArrayLike<number>,
  N: number,
  nHeads: number,
  D: number,
  theta: number,
  sign: 1 | -1,
): void {
  const half = D / 2;
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = 1 / theta ** ((2 * i) / D);
  for (let n = 0; n < N; n++) {
    const pos = positions[n];
    for (let h = 0; h < nHeads; h++) {
      const base = (n * nHeads + h) * D;
      for (let i = 0; i < half; i++) {
        const f = pos * invFreq[i];
        const cos = Math.cos(f);
        const sin = sign * Math.sin(f);
        const x1 = inp[base + i];
        const x2 = inp[base + i + half];
        out[base + i] = x1 * cos - x2 * sin;
        out[base + i + half] = x2 * cos + x1 * sin;
      }
    }
  }
}
