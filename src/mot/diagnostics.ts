// Diagnostics of mixtures and hidden states (issue 14; formulas in docs/experiments.md, "metrics.jsonl
// fields"): how many tokens a mixture really mixes, how far its embedding lies from any token's, and a
// hidden-state entropy that does not depend on the activations' scale. Plain maths on plain arrays: the
// rollout steppers (engine/) and the step metrics (rl/metrics.ts) both use it.

/** Effective number of mixed tokens 1/Σw² (1 for a one-hot mixture, k for k equal weights; 0 for none). */
export function effectiveTokenCount(weights: ArrayLike<number>): number {
  let s = 0;
  for (let j = 0; j < weights.length; j++) s += weights[j] * weights[j];
  return s > 0 ? 1 / s : 0;
}

/** Weight entropy −Σ w log w in nats (0 · log 0 = 0, so floored weights add nothing). */
export function weightEntropy(weights: ArrayLike<number>): number {
  let h = 0;
  for (let j = 0; j < weights.length; j++) if (weights[j] > 0) h -= weights[j] * Math.log(weights[j]);
  return h;
}

/** The embedding matrix E (V, C), row v = token v's embedding. */
export interface EmbeddingTable {
  E: Float32Array;
  C: number;
}

/** The mixed embedding e_mix = Σ_j w_j E[ids_j] (without any noise), in doubles. */
export function mixedEmbedding(
  ids: ArrayLike<number>,
  weights: ArrayLike<number>,
  table: EmbeddingTable,
): Float64Array {
  const { E, C } = table;
  const e = new Float64Array(C);
  for (let j = 0; j < ids.length; j++) {
    const base = ids[j] * C;
    for (let c = 0; c < C; c++) e[c] += weights[j] * E[base + c];
  }
  return e;
}

function norm(x: ArrayLike<number>, offset = 0, n = x.length): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[offset + i] * x[offset + i];
  return Math.sqrt(s);
}

/** ‖e_mix‖ / Σ_j w_j ‖E[ids_j]‖: 1 when the mixed rows point the same way, smaller as they cancel (row
 * norms from `rowNorms` when given: embeddingRowNorms). */
export function mixtureNormRatio(
  ids: ArrayLike<number>,
  weights: ArrayLike<number>,
  table: EmbeddingTable,
  rowNorms?: ArrayLike<number>,
): number {
  const { E, C } = table;
  let weighted = 0;
  for (let j = 0; j < ids.length; j++)
    weighted += weights[j] * (rowNorms ? rowNorms[ids[j]] : norm(E, ids[j] * C, C));
  return weighted > 0 ? norm(mixedEmbedding(ids, weights, table)) / weighted : 0;
}

/** ‖E[v]‖ of every row v. */
export function embeddingRowNorms(table: EmbeddingTable): Float64Array {
  const V = Math.floor(table.E.length / table.C);
  return Float64Array.from({ length: V }, (_, v) => norm(table.E, v * table.C, table.C));
}

/** max_v cos(e, E[v]) over the whole vocabulary (rows of norm 0 skipped; 0 when e = 0). */
export function nearestTokenCosine(
  e: ArrayLike<number>,
  table: EmbeddingTable,
  rowNorms: ArrayLike<number>,
): number {
  const { E, C } = table;
  const ne = norm(e);
  if (!(ne > 0)) return 0;
  let best = Number.NEGATIVE_INFINITY;
  for (let v = 0; v < rowNorms.length; v++) {
    if (!(rowNorms[v] > 0)) continue;
    let dot = 0;
    const base = v * C;
    for (let c = 0; c < C; c++) dot += e[c] * E[base + c];
    const cos = dot / (ne * rowNorms[v]);
    if (cos > best) best = cos;
  }
  return Number.isFinite(best) ? best : 0;
}

/**
 * Scale-free hidden-state entropy: the entropy −Σ_i p_i log p_i of the energy shares p_i = h_i² / Σ_c h_c²
 * over the C dimensions. Chosen because it depends only on h's direction (h and a·h give the same value)
 * and has no temperature to pick, unlike softmax(h), whose entropy falls as the activations grow; it runs
 * from 0 (all energy in one dimension) to log C (spread evenly). Computed on h / max|h| so neither tiny
 * nor huge activations under- or overflow; 0 for h = 0. The WGSL twin: engine/gpu/kernels/mixtureEmbed
 * (hiddenEntropyKernel).
 */
export function energyEntropy(h: ArrayLike<number>, offset = 0, C = h.length - offset): number {
  let m = 0;
  for (let i = 0; i < C; i++) m = Math.max(m, Math.abs(h[offset + i]));
  if (!(m > 0) || !Number.isFinite(m)) return 0;
  let s = 0;
  let qLogQ = 0;
  for (let i = 0; i < C; i++) {
    const x = h[offset + i] / m;
    const q = x * x;
    s += q;
    if (q > 0) qLogQ += q * Math.log(q);
  }
  // −Σ (q/s) log(q/s) = log s − Σ q log q / s
  return Math.log(s) - qLogQ / s;
}
