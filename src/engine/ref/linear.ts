// Linear layer in Hugging Face layout: weight is [out, in], y = x · Wᵀ + b.

/** out (N, OC), inp (N, IC), weight (OC, IC), bias (OC) or null. */
export function linearForward(
  out: Float32Array,
  inp: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  N: number,
  IC: number,
  OC: number,
): void {
  for (let n = 0; n < N; n++) {
    const x = n * IC;
    for (let o = 0; o < OC; o++) {
      const w = o * IC;
      // Four partial sums: fewer dependent adds, and double precision like the float64 goldens.
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let i = 0;
      for (; i + 3 < IC; i += 4) {
        s0 += inp[x + i] * weight[w + i];
        s1 += inp[x + i + 1] * weight[w + i + 1];
        s2 += inp[x + i + 2] * weight[w + i + 2];
        s3 += inp[x + i + 3] * weight[w + i + 3];
      }
      for (; i < IC; i++) s0 += inp[x + i] * weight[w + i];
      out[n * OC + o] = s0 + s1 + s2 + s3 + (bias ? bias[o] : 0);
    }
  }
}

/** LoRA-augmented linear (peft): y = x · Wᵀ + b + scale · (x · Aᵀ) · Bᵀ. A (r, IC), B (OC, r). */
export function linearLoraForward(
  out: Float32Array,
  inp: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  loraA: Float32Array,
  loraB: Float32Array,
  scale: number,
  N: number,
  IC: number,
  OC: number,
  r: number,
): void {
  linearForward(out, inp, weight, bias, N, IC, OC);
  const ax = new Float32Array(N * r);
  linearForward(ax, inp, loraA, null, N, IC, r);
  const bax = new Float32Array(N * OC);
  linearForward(bax, ax, loraB, null, N, r, OC);
  for (let i = 0; i < N * OC; i++) out[i] += scale * bax[i];
}
