// The activations of a training step on the GPU (llm.c's ActivationTensors with their gradients): what the
// forward (forward.ts, training mode) saves per layer for the backward, and the backward's (backward.ts)
// scratch, sized once per (B, T) and reused across steps. trainLayer() is layer l's view for the forward
// and the backward alike. With `recompute`, only the residual stream is kept per layer (res, L + 1) and
// every layer's internals share ONE SavedLayer, which the backward refills by re-recording the layer.
import type { Qwen2Config } from '../config.ts';
import type { GpuTensor } from './buffers.ts';
import type { GpuContext } from './commands.ts';
import type { LayerActivations } from './forward.ts';

/** What one decoder layer keeps for its backward (N = B·T), as ref/model.ts LayerActivations. */
interface SavedLayer {
  rstd1: GpuTensor; // (N)        input_layernorm 1/rms
  normed1: GpuTensor; // (N, C)   input of q/k/v_proj
  q: GpuTensor; // (N, H·D)       after RoPE
  k: GpuTensor; // (N, KVH·D)     after RoPE
  v: GpuTensor; // (N, KVH·D)
  attOut: GpuTensor; // (N, H·D)  input of o_proj
  lse: GpuTensor; // (B, H, T)    attention's log-sum-exp per query (the backward recomputes p from it)
  resMid: GpuTensor; // (N, C)    residual stream after attention
  rstd2: GpuTensor; // (N)        post_attention_layernorm 1/rms
  normed2: GpuTensor; // (N, C)   input of gate/up_proj
  gate: GpuTensor; // (N, I)
  up: GpuTensor; // (N, I)
  act: GpuTensor; // (N, I)       silu(gate) · up: input of down_proj
}

/** Saved activations and backward scratch for one (B, T). */
export interface TrainActivations {
  B: number;
  T: number;
  /** One shared SavedLayer (re-recorded before each layer's backward) instead of L. */
  recompute: boolean;
  res: GpuTensor[]; // (L + 1) × (N, C): res[0] the input embeddings, res[l + 1] after layer l
  layers: SavedLayer[]; // L, or 1 with recompute
  rstdF: GpuTensor; // (N)        model.norm 1/rms
  normedF: GpuTensor; // (N, C)   input of lm_head
  logits: GpuTensor; // (N, Vc)   one vocabulary chunk's logits, then their gradient (headChunks.ts)
  headStats: GpuTensor; // (N, 2) the head's running max and Σ exp, then lse and s
  logp: GpuTensor; // (N)
  cs: GpuTensor; // (N, D)        RoPE cos/sin
  mask: GpuTensor; // (B, T) u32
  qraw: GpuTensor; // (N, H·D)    q before RoPE (forward scratch)
  kraw: GpuTensor; // (N, KVH·D)
  loraU: GpuTensor; // (N, r)     x · Aᵀ
  loraDu: GpuTensor; // (N, r)    scale · dout · B
  dres: GpuTensor; // (N, C)      d loss / d residual stream (accumulated through the layers)
  dnormed: GpuTensor; // (N, C)
  dact: GpuTensor; // (N, I)
  dgate: GpuTensor; // (N, I)
  dup: GpuTensor; // (N, I)
  dattOut: GpuTensor; // (N, H·D)
  dq: GpuTensor; // (N, H·D)      w.r.t. q after RoPE
  dk: GpuTensor; // (N, KVH·D)
  dv: GpuTensor; // (N, KVH·D)
  dqraw: GpuTensor; // (N, H·D)   w.r.t. q before RoPE
  dkraw: GpuTensor; // (N, KVH·D)
  attDelta: GpuTensor; // (B, H, T) attention backward scratch: Σ_j p dp per query
}

/** A training layer: every tensor its own (v_proj writes v directly), the 1/rms and attention's lse kept. */
export type TrainLayer = LayerActivations & { rstd1: GpuTensor; rstd2: GpuTensor; lse: GpuTensor };

/** Layer l's tensors: its saved (or, with recompute, the shared) activations between res[l] and res[l + 1]. */
export function trainLayer(a: TrainActivations, l: number): TrainLayer {
  const s = a.layers[a.recompute ? 0 : l];
  return { ...s, resIn: a.res[l], qraw: a.qraw, kraw: a.kraw, vraw: s.v, resOut: a.res[l + 1] };
}

/** Allocate the activations of B rows of T positions; `loraRank` sizes the LoRA scratch (1 without);
 * `recompute` keeps one shared set of layer internals instead of L; `headChunk`: the vocabulary rows of
 * one chunk of the head's logits (headChunks.ts headChunkRows; default V). */
export function allocTrainActivations(
  ctx: GpuContext,
  config: Qwen2Config,
  B: number,
  T: number,
  loraRank: number,
  recompute = false,
  headChunk = config.vocabSize,
): TrainActivations {
  const {
    hiddenSize: C,
    intermediateSize: I,
    numAttentionHeads: H,
    numKeyValueHeads: KVH,
    headDim: D,
    vocabSize: V,
    numHiddenLayers: L,
  } = config;
  const N = B * T;
  const t = (name: string, numel: number) => ctx.pool.tensor(`train ${name}`, numel);
  const r = Math.max(1, loraRank);
  return {
    B,
    T,
    recompute,
    res: Array.from({ length: L + 1 }, (_, l) => t(`residual ${l}`, N * C)),
    layers: Array.from({ length: recompute ? 1 : L }, (_, l) => ({
      rstd1: t(`rstd1[${l}]`, N),
      normed1: t(`normed1[${l}]`, N * C),
      q: t(`q[${l}]`, N * H * D),
      k: t(`k[${l}]`, N * KVH * D),
      v: t(`v[${l}]`, N * KVH * D),
      attOut: t(`attOut[${l}]`, N * H * D),
      lse: t(`lse[${l}]`, N * H),
      resMid: t(`resMid[${l}]`, N * C),
      rstd2: t(`rstd2[${l}]`, N),
      normed2: t(`normed2[${l}]`, N * C),
      gate: t(`gate[${l}]`, N * I),
      up: t(`up[${l}]`, N * I),
      act: t(`act[${l}]`, N * I),
    })),
    rstdF: t('rstdF', N),
    normedF: t('normedF', N * C),
    logits: t('logits chunk', N * Math.min(headChunk, V)),
    headStats: t('head stats', N * 2),
    logp: t('logp', N),
    cs: t('rope cos/sin', N * D),
    mask: t('mask', N),
    qraw: t('qraw', N * H * D),
    kraw: t('kraw', N * KVH * D),
    loraU: t('lora u', N * r),
    loraDu: t('lora du', N * r),
    dres: t('dres', N * C),
    dnormed: t('dnormed', N * C),
    dact: t('dact', N * I),
    dgate: t('dgate', N * I),
    dup: t('dup', N * I),
    dattOut: t('dattOut', N * H * D),
    dq: t('dq', N * H * D),
    dk: t('dk', N * KVH * D),
    dv: t('dv', N * KVH * D),
    dqraw: t('dqraw', N * H * D),
    dkraw: t('dkraw', N * KVH * D),
    attDelta: t('attention delta', N * H),
  };
}

export function releaseTrainActivations(ctx: GpuContext, a: TrainActivations): void {
  const pool = ctx.pool;
  for (const x of a.res) pool.release(x);
  for (const l of a.layers) for (const x of Object.values(l)) pool.release(x);
  for (const [k, x] of Object.entries(a)) {
    if (k === 'res' || k === 'layers' || typeof x === 'number' || typeof x === 'boolean') continue;
    pool.release(x as GpuTensor);
  }
}
