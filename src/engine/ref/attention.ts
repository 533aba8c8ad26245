// Causal grouped-query attention with a key mask. Query head h reads key/value head h / (H / KVH).
// Queries are the Tq positions starting at absolute index `qStart` of a sequence of Tk keys (a full
// forward has qStart = 0, Tq = Tk; a KV-cache decode step has Tq = 1, qStart = Tk − 1).
// Query i attends key j iff j ≤ qStart + i and keyMask[b, j] = 1. A query with no visible key (a
// left-padding position) outputs zeros; callers ignore those rows.
// k, v and keyMask may be a KV cache with room for `kvStride` ≥ Tk positions per row.

/**
 * out (B, Tq, H·D); att (B, H, Tq, Tk) softmax probabilities saved for the backward, or null;
 * q (B, Tq, H·D) after RoPE; k, v (B, Tk, KVH·D), k after RoPE; keyMask (B, Tk) of 1/0, or null = all 1.
 */
export function attentionForward(
  out: Float32Array,
  att: Float32Array | null,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  keyMask: ArrayLike<number> | null,
  B: number,
  Tq: number,
  Tk: number,
  qStart: number,
  H: number,
  KVH: number,
  D: number,
  kvStride: number = Tk,
): void {
  const group = H / KVH;
  const scale = 1 / Math.sqrt(D);
  const scores = new Float64Array(Tk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / group);
      for (let i = 0; i < Tq; i++) {
        const qBase = ((b * Tq + i) * H + h) * D;
        const last = Math.min(qStart + i, Tk - 1);
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < Tk; j++) {
          if (j > last || (keyMask !== null && keyMask[b * kvStride + j] === 0)) {
            scores[j] = Number.NEGATIVE_INFINITY;
            continue;
          }
          const kBase = ((b * kvStride + j) * KVH + kvh) * D;
          let s = 0;
          for (let d = 0; d < D; d++) s += q[qBase + d] * k[kBase + d];
          scores[j] = s * scale;
          if (scores[j] > max) max = scores[j];
        }
        const oBase = qBase;
        if (max === Number.NEGATIVE_INFINITY) {
          out.fill(0, oBase, oBase + D);
          if (att) att.fill(0, ((b * H + h) * Tq + i) * Tk, ((b * H + h) * Tq + i + 1) * Tk);
          continue;
        }
        let sum = 0;
        for (let j = 0; j < Tk; j++) {
          const e = scores[j] === Number.NEGATIVE_INFINITY ? 0 : Math.exp(scores[j] - max);
          scores[j] = e;
          sum += e;
        }
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j < Tk; j++) {
            if (scores[j] === 0) continue;
            acc += scores[j] * v[((b * kvStride + j) * KVH + kvh) * D + d];
          }
          out[oBase + d] = acc / sum;
        }
        if (att) {
          const aBase = ((b * H + h) * Tq + i) * Tk;
          for (let j = 0; j < Tk; j++) att[aBase + j] = scores[j] / sum;
        }
      }
    }
  }
}
