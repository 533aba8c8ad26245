// Input embeddings: one token per position, a k-sparse mixture of tokens, or a dense mixture over the
// whole vocabulary (MOTG.md §1: e_t = Σ_j w_j · E[i_j], and e_t = p · E).
import { gaussianNoise } from '../../mot/random.ts';

/** out[n, :] = wte[ids[n], :]. out (N, C), ids (N), wte (V, C). */
export function embeddingForward(
  out: Float32Array,
  ids: ArrayLike<number>,
  wte: Float32Array,
  N: number,
  C: number,
): void {
  const V = wte.length / C;
  for (let n = 0; n < N; n++) {
    const id = ids[n];
    if (!(id >= 0 && id < V))
      throw new RangeError(`embedding: token id ${id} outside the vocabulary [0, ${V})`);
    out.set(wte.subarray(id * C, id * C + C), n * C);
  }
}

/** Words per position of InputNoise.counters: [1 = noisy (0: none), seed, row, step]. */
export const NOISE_STRIDE = 4;

/**
 * Gaussian noise on the mixture input of some positions (MOTG.md §1: e_t = Σ w_i E[id_i] + σ · n, the
 * soft-tokens preset): n_c is the standard normal of draws DRAW.noise + 2c, + 2c + 1 under the position's
 * counters (mot/random.ts gaussianNoise; WGSL: kernels/mixtureEmbed.wgsl.ts). The noise is regenerated from
 * its counters wherever the input is embedded, never stored: a rollout's records carry the counters, so the
 * training forward rebuilds exactly the input the rollout fed, and e_t stays a function of E (its gradient
 * reaches the embedding through the mixture weights; the noise itself is a constant).
 */
export interface InputNoise {
  /** Absolute σ (σ · RMS(E) for `embedding-rms`, fixed when the inputs were built). */
  std: number;
  /** (N, NOISE_STRIDE) u32: [1 = noisy, seed, row, step] of each position. */
  counters: Uint32Array;
}

/**
 * out[n, :] = Σ_j weights[n, j] · wte[ids[n, j], :] (+ σ · n of the position when `noise` marks it, added
 * in the same double accumulator, one rounding to f32). out (N, C), ids/weights (N, K), wte (V, C).
 */
export function mixtureForward(
  out: Float32Array,
  ids: ArrayLike<number>,
  weights: ArrayLike<number>,
  wte: Float32Array,
  N: number,
  K: number,
  C: number,
  noise: InputNoise | null = null,
): void {
  const V = wte.length / C;
  if (noise && noise.counters.length < N * NOISE_STRIDE)
    throw new RangeError(`mixture noise: ${noise.counters.length} counter words < N·4 = ${N * NOISE_STRIDE}`);
  const acc = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    acc.fill(0);
    for (let j = 0; j < K; j++) {
      const id = ids[n * K + j];
      if (!(id >= 0 && id < V))
        throw new RangeError(`mixture: token id ${id} outside the vocabulary [0, ${V})`);
      const w = weights[n * K + j];
      const row = id * C;
      for (let c = 0; c < C; c++) acc[c] += w * wte[row + c];
    }
    const at = n * NOISE_STRIDE;
    if (noise && noise.std > 0 && noise.counters[at] === 1) {
      const counters = {
        seed: noise.counters[at + 1],
        row: noise.counters[at + 2],
        step: noise.counters[at + 3],
      };
      const z = gaussianNoise(counters, C);
      for (let c = 0; c < C; c++) acc[c] += noise.std * z[c];
    }
    for (let c = 0; c < C; c++) out[n * C + c] = acc[c];
  }
}

/** out = probs @ wte. out (N, C), probs (N, V), wte (V, C). */
export function denseMixtureForward(
  out: Float32Array,
  probs: Float32Array,
  wte: Float32Array,
  N: number,
  V: number,
  C: number,
): void {
  const acc = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    acc.fill(0);
    for (let v = 0; v < V; v++) {
      const p = probs[n * V + v];
      if (p === 0) continue;
      const row = v * C;
      for (let c = 0; c < C; c++) acc[c] += p * wte[row + c];
    }
    for (let c = 0; c < C; c++) out[n * C + c] = acc[c];
  }
}

// ---- Backward ----------------------------------------------------------------------------------
// Accumulation rule for every *Backward in ref/ (llm.c's): parameter gradients `+=` (so micro-batches
// and the two uses of a tied embedding add up), activation gradients `=` (overwritten), except the
// residual stream, whose gradient `+=` because every branch adds into it. A frozen parameter's
// gradient is passed as null and not computed.

/** dwte[ids[n], :] += dout[n, :] (scatter-add; repeated ids add up). dwte (V, C), dout (N, C). */
export function embeddingBackward(
  dwte: Float32Array,
  dout: Float32Array,
  ids: ArrayLike<number>,
  N: number,
  C: number,
): void {
  for (let n = 0; n < N; n++) {
    const row = ids[n] * C;
    const g = n * C;
    for (let c = 0; c < C; c++) dwte[row + c] += dout[g + c];
  }
}

/**
 * Backward of mixtureForward. dwte (V, C) += weights[n, j] · dout[n, :] into row ids[n, j] (or null
 * when the embedding is frozen); dweights (N, K) = dout[n, :] · wte[ids[n, j], :] (or null).
 */
export function mixtureBackward(
  dwte: Float32Array | null,
  dweights: Float32Array | null,
  dout: Float32Array,
  ids: ArrayLike<number>,
  weights: ArrayLike<number>,
  wte: Float32Array,
  N: number,
  K: number,
  C: number,
): void {
  for (let n = 0; n < N; n++) {
    const g = n * C;
    for (let j = 0; j < K; j++) {
      const row = ids[n * K + j] * C;
      if (dwte) {
        const wj = weights[n * K + j];
        if (wj !== 0) for (let c = 0; c < C; c++) dwte[row + c] += wj * dout[g + c];
      }
      if (dweights) {
        let s = 0;
        for (let c = 0; c < C; c++) s += dout[g + c] * wte[row + c];
        dweights[n * K + j] = s;
      }
    }
  }
}

/** Backward of denseMixtureForward: dwte (V, C) += probsᵀ · dout (or null); dprobs (N, V) = dout · wteᵀ (or null). */
export function denseMixtureBackward(
  dwte: Float32Array | null,
  dprobs: Float32Array | null,
  dout: Float32Array,
  probs: Float32Array,
  wte: Float32Array,
  N: number,
  V: number,
  C: number,
): void {
  for (let n = 0; n < N; n++) {
    const g = n * C;
    for (let v = 0; v < V; v++) {
      const row = v * C;
      if (dwte) {
        const p = probs[n * V + v];
        if (p !== 0) for (let c = 0; c < C; c++) dwte[row + c] += p * dout[g + c];
      }
      if (dprobs) {
        let s = 0;
        for (let c = 0; c < C; c++) s += dout[g + c] * wte[row + c];
        dprobs[n * V + v] = s;
      }
    }
  }
}
