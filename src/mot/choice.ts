// Which tokens (MOTG.md §1): from one row of logits and a temperature, the distribution p = softmax(z/T),
// the candidate set left by the top-k / top-p / min-p filters, and the chosen ids: the top k, k samples
// without replacement, or every candidate (dense).
import { type Counters, DRAW, sampleCategorical, sampleWithoutReplacement } from './random.ts';
import type { TokenSelect } from './settings.ts';

/** p = softmax(z / T) of one row, in doubles, with what the step records. */
export interface RowDistribution {
  V: number;
  temperature: number;
  /** p_v. */
  p: Float64Array;
  /** log p_v (−∞ where p_v = 0, i.e. only at T = 0). */
  logp: Float64Array;
  /** Ids by decreasing p, ties by lower id (stable, as torch.topk / sort). */
  order: Int32Array;
  /** argmax p (the lowest id among ties). */
  argmax: number;
  /** Entropy of p in nats. */
  entropy: number;
}

/** Distribution of softmax(logits[0..V) / T). T = 0 is greedy: p is one-hot at the argmax. */
export function rowDistribution(logits: ArrayLike<number>, V: number, temperature: number): RowDistribution {
  let argmax = 0;
  for (let v = 1; v < V; v++) if (logits[v] > logits[argmax]) argmax = v;
  const p = new Float64Array(V);
  const logp = new Float64Array(V);
  let entropy = 0;
  if (temperature === 0) {
    logp.fill(Number.NEGATIVE_INFINITY);
    p[argmax] = 1;
    logp[argmax] = 0;
  } else {
    const inv = 1 / temperature;
    const max = logits[argmax] * inv;
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[v] * inv - max);
    const lse = max + Math.log(sum);
    for (let v = 0; v < V; v++) {
      logp[v] = logits[v] * inv - lse;
      p[v] = Math.exp(logp[v]);
      if (p[v] > 0) entropy -= p[v] * logp[v];
    }
  }
  const order = Int32Array.from({ length: V }, (_, i) => i);
  order.sort((a, b) => p[b] - p[a] || a - b);
  return { V, temperature, p, logp, order, argmax, entropy };
}

export interface CandidateFilters {
  /** Keep at most this many (0 = no cap). */
  topK: number;
  /** Keep the smallest prefix whose probability reaches topP (1 = off). */
  topP: number;
  /** Keep p_v ≥ minP · max p (0 = off). */
  minP: number;
}

/**
 * How many of the most probable ids survive the filters. Each filter keeps a prefix of `order`, computed on
 * the unfiltered p, so the order of the filters does not matter and the result is the shortest prefix.
 * At least one id always survives.
 */
export function candidateCount(dist: RowDistribution, f: CandidateFilters): number {
  const { p, order, V } = dist;
  let n = f.topK > 0 ? Math.min(f.topK, V) : V;
  if (f.topP < 1) {
    let acc = 0;
    let m = 0;
    while (m < V) {
      acc += p[order[m]];
      m++;
      if (acc >= f.topP) break;
    }
    n = Math.min(n, m);
  }
  if (f.minP > 0) {
    const threshold = f.minP * p[order[0]];
    let m = 0;
    while (m < V && p[order[m]] >= threshold) m++;
    n = Math.min(n, Math.max(m, 1));
  }
  // Zero-probability ids (T = 0) are never candidates.
  while (n > 1 && p[order[n - 1]] === 0) n--;
  return Math.max(n, 1);
}

/** The candidate ids: the first candidateCount(...) entries of `order`. */
export function candidates(dist: RowDistribution, f: CandidateFilters): number[] {
  return Array.from(dist.order.subarray(0, candidateCount(dist, f)));
}

export interface TokenChoice {
  /**
   * Chosen ids: by decreasing p for `top` / `all`; in draw order (the Plackett–Luce order) for `sample`.
   */
  ids: number[];
  /** The candidate set the choice was made from, by decreasing p. */
  candidates: number[];
}

/**
 * Choose the ids of one step. `top`: the min(k, |candidates|) most probable; `sample`: k draws without
 * replacement from p restricted to the candidates (Gumbel-top-k, draws DRAW.choice + id); `all`: every
 * candidate. With `sample` and k = 1 the draw is the categorical inverse CDF at draw 0 over the candidates
 * in id order, so the unfiltered case matches engine/sampling.ts sampleToken at the same counters.
 */
export function chooseTokens(
  dist: RowDistribution,
  select: TokenSelect,
  k: number,
  filters: CandidateFilters,
  counters: Counters,
): TokenChoice {
  const cand = candidates(dist, filters);
  if (select === 'all') return { ids: cand, candidates: cand };
  if (select === 'top') return { ids: cand.slice(0, Math.min(k, cand.length)), candidates: cand };
  if (k === 1) return { ids: [sampleOne(dist, cand, counters)], candidates: cand };
  const logw = cand.map((id) => dist.logp[id]);
  const picks = sampleWithoutReplacement(logw, cand, k, counters, DRAW.choice);
  return { ids: picks.map((pos) => cand[pos]), candidates: cand };
}

/** One categorical sample from p restricted to `cand`, scanning ids in increasing order (draw `draw`). */
export function sampleOne(
  dist: RowDistribution,
  cand: number[],
  counters: Counters,
  draw = DRAW.choice,
): number {
  const sorted = cand.slice().sort((a, b) => a - b);
  const w = sorted.map((id) => dist.p[id]);
  return sorted[sampleCategorical(w, counters, draw)];
}
