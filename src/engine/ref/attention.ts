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

/**
 * Backward of attentionForward from the saved probabilities `att` (masked and future keys hold 0, so
 * they get no gradient; a query with no visible key has an all-zero row and passes none). For each
 * query row, with p = att[b, h, i, :] and s = 1/√D:
 *   dp_j = dout_i · v_j;  dscore_j = p_j (dp_j − Σ_k p_k dp_k)
 *   dq_i = s Σ_j dscore_j k_j;  dk_j += s dscore_j q_i;  dv_j += p_j dout_i
 * dk and dv sum over the H / KVH query heads that share a key/value head. All three are activation
 * gradients (overwritten): dq (B, Tq, H·D); dk, dv (B, kvStride, KVH·D), rows ≥ Tk set to 0.
 */
export function attentionBackward(
  dq: Float32Array,
  dk: Float32Array,
  dv: Float32Array,
  dout: Float32Array,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  att: Float32Array,
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
  const dkAcc = new Float64Array(B * kvStride * KVH * D);
  const dvAcc = new Float64Array(B * kvStride * KVH * D);
  const dp = new Float64Array(Tk);
  const dqAcc = new Float64Array(D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / group);
      for (let i = 0; i < Tq; i++) {
        const qBase = ((b * Tq + i) * H + h) * D;
        const aBase = ((b * H + h) * Tq + i) * Tk;
        const last = Math.min(qStart + i, Tk - 1);
        let sum = 0;
        for (let j = 0; j <= last; j++) {
          const p = att[aBase + j];
          if (p === 0) {
            dp[j] = 0;
            continue;
          }
          const vBase = ((b * kvStride + j) * KVH + kvh) * D;
          let s = 0;
          for (let d = 0; d < D; d++) {
            s += dout[qBase + d] * v[vBase + d];
            dvAcc[vBase + d] += p * dout[qBase + d];
          }
          dp[j] = s;
          sum += p * s;
        }
        dqAcc.fill(0);
        for (let j = 0; j <= last; j++) {
          const p = att[aBase + j];
          if (p === 0) continue;
          const ds = p * (dp[j] - sum) * scale;
          const kBase = ((b * kvStride + j) * KVH + kvh) * D;
          for (let d = 0; d < D; d++) {
            dqAcc[d] += ds * k[kBase + d];
            dkAcc[kBase + d] += ds * q[qBase + d];
          }
        }
        for (let d = 0; d < D; d++) dq[qBase + d] = dqAcc[d];
      }
    }
  }
  dk.set(dkAcc.subarray(0, dk.length));
  dv.set(dvAcc.subarray(0, dv.length));
}
