// Input embeddings: one token per position, a k-sparse mixture of tokens, or a dense mixture over the
// whole vocabulary (MOTG.md §1: e_t = Σ_j w_j · E[i_j], and e_t = p · E).

/** out[n, :] = wte[ids[n], :]. out (N, C), ids (N), wte (V, C). */
export function embeddingForward(out: Float32Array, ids: ArrayLike<number>, wte: Float32Array, N: number, C: number): void {
  const V = wte.length / C;
  for (let n = 0; n < N; n++) {
    const id = ids[n];
    if (!(id >= 0 && id < V)) throw new RangeError(`embedding: token id ${id} outside the vocabulary [0, ${V})`);
    out.set(wte.subarray(id * C, id * C + C), n * C);
  }
}

/** out[n, :] = Σ_j weights[n, j] · wte[ids[n, j], :]. out (N, C), ids/weights (N, K), wte (V, C). */
export function mixtureForward(
  out: Float32Array,
  ids: ArrayLike<number>,
  weights: ArrayLike<number>,
  wte: Float32Array,
  N: number,
  K: number,
  C: number,
): void {
  const V = wte.length / C;
  const acc = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    acc.fill(0);
    for (let j = 0; j < K; j++) {
      const id = ids[n * K + j];
      if (!(id >= 0 && id < V)) throw new RangeError(`mixture: token id ${id} outside the vocabulary [0, ${V})`);
      const w = weights[n * K + j];
      const row = id * C;
      for (let c = 0; c < C; c++) acc[c] += w * wte[row + c];
    }
    for (let c = 0; c < C; c++) out[n * C + c] = acc[c];
  }
}

/** out = probs @ wte. out (N, C), probs (N, V), wte (V, C). */
export function denseMixtureForward(out: Float32Array, probs: Float32Array, wte: Float32Array, N: number, V: number, C: number): void {
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
