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

// ---- Backward (accumulation rule: see embedding.ts — parameters `+=`, activations `=`) -----------

/**
 * Backward of linearForward. dinp (N, IC) = dout · W, or null when not needed; dweight (OC, IC) +=
 * doutᵀ · inp and dbias (OC) += Σ_n dout — null when frozen (a LoRA base, a fixed head).
 */
export function linearBackward(
  dinp: Float32Array | null,
  dweight: Float32Array | null,
  dbias: Float32Array | null,
  dout: Float32Array,
  inp: Float32Array,
  weight: Float32Array,
  N: number,
  IC: number,
  OC: number,
): void {
  if (dinp) {
    const acc = new Float64Array(IC);
    for (let n = 0; n < N; n++) {
      acc.fill(0);
      const g = n * OC;
      for (let o = 0; o < OC; o++) {
        const d = dout[g + o];
        if (d === 0) continue;
        const w = o * IC;
        for (let i = 0; i < IC; i++) acc[i] += d * weight[w + i];
      }
      dinp.set(acc, n * IC);
    }
  }
  if (dweight) {
    const acc = new Float64Array(IC);
    for (let o = 0; o < OC; o++) {
      acc.fill(0);
      for (let n = 0; n < N; n++) {
        const d = dout[n * OC + o];
        if (d === 0) continue;
        const x = n * IC;
        for (let i = 0; i < IC; i++) acc[i] += d * inp[x + i];
      }
      const w = o * IC;
      for (let i = 0; i < IC; i++) dweight[w + i] += acc[i];
    }
  }
  if (dbias) {
    for (let o = 0; o < OC; o++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += dout[n * OC + o];
      dbias[o] += s;
    }
  }
}

/**
 * Backward of linearLoraForward with the base W, b frozen (their gradients are not computed). With
 * u = x · Aᵀ (N, r), recomputed here: dB (OC, r) += scale · doutᵀ · u; du = scale · dout · B;
 * dA (r, IC) += duᵀ · x; dinp (N, IC) = dout · W + du · A (or null).
 */
export function linearLoraBackward(
  dinp: Float32Array | null,
  dloraA: Float32Array | null,
  dloraB: Float32Array | null,
  dout: Float32Array,
  inp: Float32Array,
  weight: Float32Array,
  loraA: Float32Array,
  loraB: Float32Array,
  scale: number,
  N: number,
  IC: number,
  OC: number,
  r: number,
): void {
  const u = new Float32Array(N * r);
  linearForward(u, inp, loraA, null, N, IC, r);
  // du = dout · B (N, r), before the scale; dB += scale · doutᵀ · u.
  const du = new Float32Array(N * r);
  linearBackward(du, null, null, dout, u, loraB, N, r, OC);
  if (dloraB) {
    const dBs = new Float32Array(OC * r);
    linearBackward(null, dBs, null, dout, u, loraB, N, r, OC);
    for (let i = 0; i < OC * r; i++) dloraB[i] += scale * dBs[i];
  }
  for (let i = 0; i < N * r; i++) du[i] *= scale;
  if (dloraA) linearBackward(null, dloraA, null, du, inp, loraA, N, IC, r);
  if (dinp) {
    linearBackward(dinp, null, null, dout, inp, weight, N, IC, OC);
    const dx = new Float32Array(N * IC);
    linearBackward(dx, null, null, du, inp, loraA, N, IC, r);
    for (let i = 0; i < N * IC; i++) dinp[i] += dx[i];
  }
}
