// The backward GPU layers (llm.c's *_backward), one function per forward op in ops.ts, with the same
// argument order: gradients first (d prefix), then the forward's inputs, then sizes. backward.ts strings
// them into the model's backward pass.
//
// Accumulation rule, for every *Backward below and its kernel (as ref/ and llm.c): parameter gradients
// `+=` (so micro-batches and the two uses of a tied embedding add up), activation gradients `=`
// (overwritten), except the residual stream, whose gradient `+=` because every branch adds into it
// (rmsnormBackward's dinp, residualBackward). A frozen parameter's gradient is null: nothing is
// recorded for it. Zero a parameter gradient (CommandRecorder.clear) before a step's first micro-batch.
import type { GpuTensor } from './buffers.ts';
import type { CommandRecorder } from './commands.ts';
import { attentionBackwardDkDvKernel, attentionBackwardDqKernel } from './kernels/attentionBackward.wgsl.ts';
import { headChunkGradKernel } from './kernels/chunkedLoss.wgsl.ts';
import { residualBackwardKernel, swigluBackwardKernel } from './kernels/elementwiseBackward.wgsl.ts';
import { embeddingBackwardKernel, mixtureBackwardKernel } from './kernels/embeddingBackward.wgsl.ts';
import { logprobLossBackwardKernel, scaleRowsKernel } from './kernels/lossBackward.wgsl.ts';
import { matmulBackwardBiasKernel, matmulBackwardWeightKernel } from './kernels/matmulBackward.wgsl.ts';
import { rmsnormBackwardKernel, rmsnormBackwardWeightKernel } from './kernels/rmsnormBackward.wgsl.ts';
import { ropeBackwardKernel } from './kernels/ropeBackward.wgsl.ts';
import { ATTENTION_WG, elementwise, matmulForward } from './ops.ts';

/** The scatter-add of embeddingBackward grouped by token id on the CPU (the ids are there anyway). */
export interface EmbeddingPlan {
  /** Distinct ids. */
  U: number;
  /** (U, 3): [id, first entry, one past the last], ids ascending. */
  buckets: Uint32Array;
  /** (E): the dout row of each entry, grouped by bucket, in input order within a bucket. */
  rows: Uint32Array;
  /** (E): each entry's weight (mixtures), or null (plain ids: weight 1). */
  weights: Float32Array | null;
}

/** The plan for ids (N·K entries; entry e feeds dout row ⌊e / K⌋ with weight weights[e]). */
export function planEmbeddingBackward(
  ids: ArrayLike<number>,
  weights: ArrayLike<number> | null,
  K = 1,
): EmbeddingPlan {
  const byId = new Map<number, number[]>();
  for (let e = 0; e < ids.length; e++) {
    const id = ids[e];
    let list = byId.get(id);
    if (!list) {
      list = [];
      byId.set(id, list);
    }
    list.push(e);
  }
  const sorted = [...byId.keys()].sort((a, b) => a - b);
  const buckets = new Uint32Array(sorted.length * 3);
  const rows = new Uint32Array(ids.length);
  const w = weights ? new Float32Array(ids.length) : null;
  let at = 0;
  sorted.forEach((id, u) => {
    buckets[u * 3] = id;
    buckets[u * 3 + 1] = at;
    for (const e of byId.get(id)!) {
      rows[at] = Math.floor(e / K);
      if (w && weights) w[at] = weights[e];
      at++;
    }
    buckets[u * 3 + 2] = at;
  });
  return { U: sorted.length, buckets, rows, weights: w };
}

/** An EmbeddingPlan on the device. */
export interface GpuEmbeddingPlan {
  U: number;
  buckets: GpuTensor;
  rows: GpuTensor;
  weights: GpuTensor | null;
}

/** dwte (V, C) += dout rows scattered by the plan (weighted for a mixture). Deterministic. */
export function embeddingBackward(
  rec: CommandRecorder,
  dwte: GpuTensor,
  dout: GpuTensor,
  plan: GpuEmbeddingPlan,
  C: number,
): void {
  if (plan.U === 0) return;
  rec.dispatch(embeddingBackwardKernel, {
    constants: { HAS_WEIGHTS: plan.weights !== null },
    params: { U: plan.U, C },
    bind: {
      dwte,
      dout,
      buckets: plan.buckets,
      rows: plan.rows,
      weights: plan.weights ?? rec.ctx.dummy,
    },
    workgroups: elementwise(plan.U * C),
  });
}

/**
 * Backward of mixtureForward: dwte (V, C) += weights[n, j] · dout[n, :] into row ids[n, j] through
 * `plan` (planEmbeddingBackward(ids, weights, K)), or null when frozen; dweights (N, K) = dout[n, :] ·
 * wte[ids[n, j], :], or null. ids (N, K) u32 on the device.
 */
export function mixtureBackward(
  rec: CommandRecorder,
  dwte: GpuTensor | null,
  dweights: GpuTensor | null,
  dout: GpuTensor,
  plan: GpuEmbeddingPlan | null,
  ids: GpuTensor,
  wte: GpuTensor,
  N: number,
  K: number,
  C: number,
  V: number,
): void {
  if (dwte) {
    if (!plan) throw new Error('mixtureBackward: dwte needs the embedding plan');
    embeddingBackward(rec, dwte, dout, plan, C);
  }
  if (dweights) {
    rec.dispatch(mixtureBackwardKernel(wte.dtype ?? 'f32'), {
      params: { N, K, C, V },
      bind: { dweights, dout, ids, wte },
      workgroups: N * K,
    });
  }
}

/** Backward of denseMixtureForward: dwte (V, C) += probsᵀ · dout (or null); dprobs (N, V) = dout · wteᵀ (or null). */
export function denseMixtureBackward(
  rec: CommandRecorder,
  dwte: GpuTensor | null,
  dprobs: GpuTensor | null,
  dout: GpuTensor,
  probs: GpuTensor,
  wte: GpuTensor,
  N: number,
  V: number,
  C: number,
): void {
  if (dwte) matmulBackwardWeight(rec, dwte, probs, dout, N, C, V);
  if (dprobs) matmulForward(rec, dprobs, dout, wte, null, N, C, V);
}

/** Backward of rmsnormForward from the saved rstd: dinp (N, C) `+=` (residual stream), dweight (C) `+=` or null. */
export function rmsnormBackward(
  rec: CommandRecorder,
  dinp: GpuTensor,
  dweight: GpuTensor | null,
  dout: GpuTensor,
  inp: GpuTensor,
  weight: GpuTensor,
  rstd: GpuTensor,
  N: number,
  C: number,
): void {
  rec.dispatch(rmsnormBackwardKernel, {
    params: { N, C },
    bind: { dinp, dout, inp, weight, rstd },
    workgroups: N,
  });
  if (dweight) {
    rec.dispatch(rmsnormBackwardWeightKernel, {
      params: { N, C },
      bind: { dweight, dout, inp, rstd },
      workgroups: elementwise(C),
    });
  }
}

/** dweight (OC, IC) += alpha · doutᵀ (OC, N) · inp (N, IC). */
export function matmulBackwardWeight(
  rec: CommandRecorder,
  dweight: GpuTensor,
  dout: GpuTensor,
  inp: GpuTensor,
  N: number,
  IC: number,
  OC: number,
  alpha = 1,
): void {
  rec.dispatch(matmulBackwardWeightKernel, {
    params: { N, IC, OC, alpha },
    bind: { dweight, dout, inp },
    workgroups: [Math.ceil(IC / 64), Math.ceil(OC / 64), 1],
  });
}

export interface MatmulBackwardOptions {
  /** dinp += dout · W instead of = (several layers reading one input: q/k/v, gate/up). */
  accumulate?: boolean;
}

/**
 * Backward of matmulForward (HF layout W (OC, IC)): dinp (N, IC) = dout · W — the forward's tiled
 * kernel with W read as [in, out] — or null; dweight (OC, IC) += doutᵀ · inp and dbias (OC) += Σ_n dout,
 * each null when frozen.
 */
export function matmulBackward(
  rec: CommandRecorder,
  dinp: GpuTensor | null,
  dweight: GpuTensor | null,
  dbias: GpuTensor | null,
  dout: GpuTensor,
  inp: GpuTensor,
  weight: GpuTensor,
  N: number,
  IC: number,
  OC: number,
  opts: MatmulBackwardOptions = {},
): void {
  if (dinp)
    matmulForward(rec, dinp, dout, weight, null, N, OC, IC, { wInOut: true, beta: opts.accumulate ? 1 : 0 });
  if (dweight) matmulBackwardWeight(rec, dweight, dout, inp, N, IC, OC);
  if (dbias) {
    rec.dispatch(matmulBackwardBiasKernel, {
      params: { N, OC },
      bind: { dbias, dout },
      workgroups: elementwise(OC),
    });
  }
}

/**
 * Backward of the LoRA term of a linear layer, y = x · Wᵀ + b + scale · (x · Aᵀ) · Bᵀ, with W, b frozen:
 * u = x · Aᵀ (N, r) is recomputed into `u`; du = scale · dout · B (N, r) into `du`;
 * dB (OC, r) += scale · doutᵀ · u; dA (r, IC) += duᵀ · x; dinp (N, IC) = (or +=) dout · W + du · A.
 */
export function matmulLoraBackward(
  rec: CommandRecorder,
  dinp: GpuTensor | null,
  dA: GpuTensor | null,
  dB: GpuTensor | null,
  dout: GpuTensor,
  inp: GpuTensor,
  weight: GpuTensor,
  A: GpuTensor,
  B: GpuTensor,
  scale: number,
  N: number,
  IC: number,
  OC: number,
  r: number,
  u: GpuTensor,
  du: GpuTensor,
  opts: MatmulBackwardOptions = {},
): void {
  matmulForward(rec, du, dout, B, null, N, OC, r, { wInOut: true, alpha: scale });
  if (dB) {
    matmulForward(rec, u, inp, A, null, N, IC, r);
    matmulBackwardWeight(rec, dB, dout, u, N, r, OC, scale);
  }
  if (dA) matmulBackwardWeight(rec, dA, du, inp, N, IC, r);
  if (dinp) {
    matmulForward(rec, dinp, dout, weight, null, N, OC, IC, { wInOut: true, beta: opts.accumulate ? 1 : 0 });
    matmulForward(rec, dinp, du, A, null, N, r, IC, { wInOut: true, beta: 1 });
  }
}

/** Backward of ropeForward (same-row placement): dinp = the inverse rotation of dout; dinp ≠ dout. */
export function ropeBackward(
  rec: CommandRecorder,
  dinp: GpuTensor,
  dout: GpuTensor,
  cs: GpuTensor,
  N: number,
  nH: number,
  D: number,
): void {
  rec.dispatch(ropeBackwardKernel, {
    params: { N, nH, D },
    bind: { dinp, dout, cs },
    workgroups: elementwise((N * nH * D) / 2),
  });
}

/** Queries (and keys) per tile of the attention backward for head dim D: the largest TILE ≤ 8 (TILE² pairs
 * on 64 invocations) whose q, dout, k, v tiles and pair scratch fit in 16 KiB of workgroup memory (WebGPU's
 * guaranteed minimum), which also keeps TILE·D ≤ 1024, the outputs the kernels' invocations can own. */
export function attentionBackwardTile(D: number): number {
  const floats = (t: number) => 4 * t * D + 2 * t * t + 2 * t;
  let tile = 8;
  while (tile > 1 && floats(tile) > 16384 / 4) tile--;
  return tile;
}

/**
 * Backward of attentionForward (k, v, mask with Tk positions per row, no cache stride) without a (Tq, Tk)
 * buffer: the probabilities are recomputed tile by tile from q, k, the mask and `lse` (B, H, Tq), the
 * log-sum-exps the forward wrote. dq (B, Tq, H·D), dk, dv (B, Tk, KVH·D) are overwritten; `delta`
 * (B, H, Tq) is scratch (Σ_j p_ij dp_ij per query, kept between the two kernels).
 */
export function attentionBackward(
  rec: CommandRecorder,
  dq: GpuTensor,
  dk: GpuTensor,
  dv: GpuTensor,
  delta: GpuTensor,
  dout: GpuTensor,
  lse: GpuTensor,
  q: GpuTensor,
  k: GpuTensor,
  v: GpuTensor,
  mask: GpuTensor,
  B: number,
  Tq: number,
  Tk: number,
  qStart: number,
  H: number,
  KVH: number,
  D: number,
): void {
  if (D > 4 * ATTENTION_WG) throw new Error(`attention backward: head dim ${D} > ${4 * ATTENTION_WG}`);
  const TILE = attentionBackwardTile(D);
  const constants = { D, TILE, OWN: Math.ceil((TILE * D) / 64) };
  const params = { B, Tq, Tk, qStart, H, KVH, scale: 1 / Math.sqrt(D), tile: TILE };
  rec.dispatch(attentionBackwardDqKernel, {
    constants,
    params,
    bind: { dq, delta, dout, lse, q, k, v, mask },
    workgroups: B * H * Math.ceil(Tq / TILE),
  });
  rec.dispatch(attentionBackwardDkDvKernel, {
    constants,
    params,
    bind: { dk, dv, delta, dout, lse, q, k, v, mask },
    workgroups: B * KVH * Math.ceil(Tk / TILE),
  });
}

/** Backward of swigluForward: dgate, dup (n) overwritten. */
export function swigluBackward(
  rec: CommandRecorder,
  dgate: GpuTensor,
  dup: GpuTensor,
  dout: GpuTensor,
  gate: GpuTensor,
  up: GpuTensor,
  n: number,
): void {
  rec.dispatch(swigluBackwardKernel, {
    params: { n },
    bind: { dgate, dup, dout, gate, up },
    workgroups: elementwise(n),
  });
}

/** Backward of residualForward: da += dout, db += dout (db may be null); the residual stream accumulates. */
export function residualBackward(
  rec: CommandRecorder,
  da: GpuTensor,
  db: GpuTensor | null,
  dout: GpuTensor,
  n: number,
): void {
  rec.dispatch(residualBackwardKernel, {
    constants: { HAS_B: db !== null },
    params: { n },
    bind: { da, db: db ?? rec.ctx.scratchTensor(1), dout },
    workgroups: elementwise(n),
  });
}

/** Several weighted targets per position for logprobLossBackward (ref/loss.ts weightedLogprobLoss). */
export interface LossTargets {
  /** Targets per position: `targets` (and `weights`) hold K entries per position. */
  K: number;
  /** (N, K) the weights; null: all 1. Weight 0 pads a position's list to K. */
  weights: GpuTensor | null;
  /** The weights are renormalised by the current softmax, not detached (the `weighted-ids` rule). */
  renormalise?: boolean;
}

/**
 * The log-prob loss, fused forward and backward (ref/loss.ts): `dlogits` holds the logits (N, V) on
 * entry and dloss · coef[n] · (s · softmax − Σ_k a_k onehot(target_k)) on exit; logp (N) = ℓ =
 * Σ_k a_k log_softmax[target_k] (one target, weight 1: log_softmax[target]). The loss is −Σ coef · ℓ,
 * summed on the CPU from the read-back ℓ. Without `multi`, one target per position.
 */
export function logprobLossBackward(
  rec: CommandRecorder,
  dlogits: GpuTensor,
  logp: GpuTensor,
  targets: GpuTensor,
  coef: GpuTensor,
  N: number,
  V: number,
  dloss = 1,
  multi: LossTargets | null = null,
): void {
  const K = multi?.K ?? 1;
  if (!(Number.isInteger(K) && K >= 1)) throw new Error(`logprobLossBackward: K = ${K}`);
  const weights = multi?.weights ?? null;
  rec.dispatch(logprobLossBackwardKernel, {
    constants: { K, HAS_W: weights !== null, RENORM: multi?.renormalise === true },
    params: { N, V, dloss },
    bind: { dlogits, logp, targets, coef, weights: weights ?? rec.ctx.scratchTensor(1) },
    workgroups: N,
  });
}

/**
 * dlogits (N, V): row n ×= dloss · coef[n], a zero factor giving an exact 0 row. After logprobLossBackward at
 * unit coefficients (dℓ_n/dlogits_n in place of the logits), this is its gradient at coefficients `coef`,
 * bit for bit what logprobLossBackward with them would have written.
 */
export function scaleRows(
  rec: CommandRecorder,
  dlogits: GpuTensor,
  coef: GpuTensor,
  N: number,
  V: number,
  dloss = 1,
): void {
  rec.dispatch(scaleRowsKernel, {
    params: { N, V, dloss },
    bind: { dlogits, coef },
    workgroups: elementwise(N * V),
  });
}

/**
 * The chunked loss's backward over one chunk (kernels/chunkedLoss.wgsl.ts): dlogits (N, W) holds the
 * logits of vocabulary ids [v0, v0 + W) on entry and dloss · coef[n] · (s · softmax − Σ_k a_k
 * onehot(target_k)) on exit; stats (N, 2) [lse, s] and grad (N, K) the a_k as headChunkFinalize left
 * them; targets (N, K) u32.
 */
export function headChunkGrad(
  rec: CommandRecorder,
  dlogits: GpuTensor,
  stats: GpuTensor,
  grad: GpuTensor,
  targets: GpuTensor,
  coef: GpuTensor,
  N: number,
  W: number,
  v0: number,
  V: number,
  K: number,
  dloss = 1,
): void {
  rec.dispatch(headChunkGradKernel, {
    constants: { K },
    params: { N, W, v0, V, dloss },
    bind: { dlogits, stats, grad, targets, coef },
    workgroups: N,
  });
}
