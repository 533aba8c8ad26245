// THE forward pass of the model on WebGPU (llm.c's gpt2_forward; ref/model.ts is the CPU reference), recorded
// by one function for both of its uses, so the input embedding (ids, mixtures with their noise, dense
// probabilities, embeddings), RoPE, attention, LoRA and the MLP are recorded in exactly one place:
//
//   inference (GpuModel: forward, decode, decodeWith): the call's N = B·T positions are appended to a KV
//     cache at its length `start`; every layer reuses ONE set of activation buffers and updates the
//     residual stream in place (resIn = resMid = resOut); RoPE writes the keys, a row scatter the values,
//     into the cache, and attention reads the cache. The head computes logits for every position, or for
//     a decode step only each row's last position.
//   training (GpuTrainer.backward): a full sequence from position 0 (start 0, capacity T, no cache); every
//     layer writes its OWN buffers, which the backward (backward.ts) reads: the residual stream after
//     each layer, the rmsnorms' 1/rms, q and k after RoPE, v (written by v_proj directly), the attention
//     output with each query's log-sum-exp (the flash-attention backward recomputes the probabilities
//     from it) and the MLP's gate, up and act. With GpuTrainer's `recompute`, only the residual stream is
//     kept per layer: every layer writes its internals into ONE shared set, and the backward re-records
//     each layer (recordLayer, from the kept residual into that set) just before that layer's backward.
//
// The caller says which by the tensors it passes (ForwardPass.layer, .kv, .head); the dispatches and their
// order are the same in both, except that inference with few rows (a decode step: nothing kept, N ≤ 16)
// records the fused kernels (kernels/fusedDecode.wgsl.ts): norm + q/k/v + RoPE + cache write, norm +
// gate/up + SwiGLU, and the final norm + lm_head, each one dispatch (projections with a LoRA term excepted).
// Weight matrices may be stored in 16 bits (GpuModel's weightDtype); every kernel widens them to f32.
// Nothing here waits on the GPU: inputs are written with queue.writeBuffer and
// everything else is recorded on the caller's CommandRecorder, submitted by the caller.
import type { Qwen2Config } from '../config.ts';
import { EngineError } from '../errors.ts';
import type { ModelInput } from '../ref/model.ts';
import type { GpuTensor } from './buffers.ts';
import type { CallTensors } from './callTensors.ts';
import type { CommandRecorder } from './commands.ts';
import {
  attentionForward,
  denseMixtureForward,
  embeddingForward,
  fusedNormFits,
  fusedNormLinearForward,
  fusedNormSwigluForward,
  fusedQkvFits,
  fusedQkvRopeForward,
  inputNoiseForward,
  matmulForward,
  mixtureForward,
  rmsnormForward,
  ropeForward,
  ropeTable,
  scatterRows,
  swigluForward,
} from './ops.ts';
import { biasOf, type LinearKey, type LoraTensors, type ParameterTensors } from './params.ts';

/** A forward input: a ModelInput, or input embeddings (B·T, C) already on the GPU (written by a `before` hook). */
export type GpuDecodeInput = ModelInput | { kind: 'gpu-embeds'; embeds: GpuTensor };

/** What one decoder layer reads and writes, N = B·T rows (see the header for the two modes). */
export interface LayerActivations {
  resIn: GpuTensor; // (N, C)       the residual stream into the layer
  rstd1: GpuTensor | null; // (N)   input_layernorm 1/rms (null: not kept)
  normed1: GpuTensor; // (N, C)     input of q/k/v_proj
  qraw: GpuTensor; // (N, H·D)      q before RoPE
  q: GpuTensor; // (N, H·D)         q after RoPE
  kraw: GpuTensor; // (N, KVH·D)    k before RoPE
  vraw: GpuTensor; // (N, KVH·D)    v_proj's output: `v` itself, or scattered into it (a cache)
  k: GpuTensor; // keys after RoPE that attention reads: the cache's (B, capacity, KVH·D), or (N, KVH·D)
  v: GpuTensor; // values, laid out as k
  attOut: GpuTensor; // (N, H·D)    attention output: input of o_proj
  lse?: GpuTensor; // (B, H, T)     training: each query's log-sum-exp of its scores, for the backward
  resMid: GpuTensor; // (N, C)      the residual stream after attention
  rstd2: GpuTensor | null; // (N)   post_attention_layernorm 1/rms
  normed2: GpuTensor; // (N, C)     input of gate/up_proj
  gate: GpuTensor; // (N, I)
  up: GpuTensor; // (N, I)
  act: GpuTensor; // (N, I)         silu(gate) · up: input of down_proj
  resOut: GpuTensor; // (N, C)      the residual stream after the layer
}

/** Where the call's positions sit in the keys and values: positions [start, start + T) of each row's
 * `capacity`. Training: start 0, capacity T. */
export interface KvSlots {
  mask: GpuTensor; // (B, capacity) u32, 1 = real token; the call's slots are written here
  start: number;
  capacity: number;
}

/** The final norm and lm_head. */
export interface HeadActivations {
  rstd: GpuTensor | null; // (N)     model.norm 1/rms (null: not kept)
  normed: GpuTensor; // (N, C)       input of lm_head
  /** (N, V), or (B, V) with lastRows; null: only the final norm (training's chunked head, headChunks.ts,
   * computes the logits a vocabulary chunk at a time). */
  logits: GpuTensor | null;
  /** Decode: only each row's last position gets logits, its rows gathered here (N, C) first; null: all. */
  lastRows: GpuTensor | null;
}

export interface ForwardPass {
  config: Qwen2Config;
  params: ParameterTensors;
  /** The adapter to apply, or null: the base model. */
  lora: LoraTensors | null;
  /** Where this call's inputs are uploaded (released by the caller after the submit). */
  inputs: CallTensors;
  B: number;
  T: number;
  input: GpuDecodeInput;
  /** (B, T) positions; default start + t. */
  positionIds?: ArrayLike<number>;
  /** (B, T) 1 = real token, 0 = padding; default all ones. */
  attentionMask?: ArrayLike<number>;
  kv: KvSlots;
  cs: GpuTensor; // (N, D)          RoPE cos/sin at this call's positions, written here
  loraTmp: GpuTensor; // (N, r)     x · Aᵀ of the LoRA term
  /** Layer l's tensors (layer(0).resIn receives the input embeddings). */
  layer(l: number): LayerActivations;
  head: HeadActivations;
  /** After the input embedding / after layer l: the residual stream, for dispatches of the caller's. */
  onEmbedded?(residual: GpuTensor): void;
  onLayer?(l: number, residual: GpuTensor): void;
}

/** What one layer's recording reads of the pass (recordLayer; the backward's recompute passes this). */
export type LayerPass = Pick<ForwardPass, 'config' | 'params' | 'lora' | 'B' | 'T' | 'kv' | 'cs' | 'loraTmp'>;

/** What the input's backward needs from its forward: the mixture ids or the dense probabilities. */
export interface EmbeddedInput {
  ids?: GpuTensor; // (N, k) u32
  probs?: GpuTensor; // (N, V)
}

/** Record the forward: positions and mask, input embedding, the L layers, final norm and lm_head. */
export function recordForward(rec: CommandRecorder, f: ForwardPass): EmbeddedInput {
  writePositions(rec, f);
  const embeddings = f.layer(0).resIn;
  const embedded = recordEmbedding(rec, embeddings, f);
  f.onEmbedded?.(embeddings);
  let residual = embeddings;
  for (let l = 0; l < f.config.numHiddenLayers; l++) {
    const t = f.layer(l);
    recordLayer(rec, f, l, t);
    residual = t.resOut;
    f.onLayer?.(l, residual);
  }
  recordHead(rec, f, residual);
  return embedded;
}

/** The RoPE table of the call's positions into f.cs; the attention mask into the call's slots of kv.mask. */
function writePositions(rec: CommandRecorder, f: ForwardPass): void {
  const { B, T, kv } = f;
  const N = B * T;
  const positions = new Float64Array(N);
  const mask = new Uint32Array(N);
  if (f.positionIds && f.positionIds.length !== N)
    throw new EngineError('invalid-argument', `positionIds: ${f.positionIds.length} != B·T = ${N}`);
  if (f.attentionMask && f.attentionMask.length !== N)
    throw new EngineError('invalid-argument', `attentionMask: ${f.attentionMask.length} != B·T = ${N}`);
  for (let i = 0; i < N; i++) {
    positions[i] = f.positionIds ? f.positionIds[i] : kv.start + (i % T);
    mask[i] = f.attentionMask ? (f.attentionMask[i] ? 1 : 0) : 1;
  }
  const queue = rec.ctx.device.queue;
  const cs = ropeTable(positions, N, f.config.headDim, f.config.ropeTheta);
  queue.writeBuffer(f.cs.buffer, 0, cs.buffer, 0, cs.byteLength);
  for (let b = 0; b < B; b++)
    queue.writeBuffer(kv.mask.buffer, (b * kv.capacity + kv.start) * 4, mask.buffer, b * T * 4, T * 4);
}

/** The input embeddings (N, C) into `out`, for every kind of input. */
function recordEmbedding(rec: CommandRecorder, out: GpuTensor, f: ForwardPass): EmbeddedInput {
  const { hiddenSize: C, vocabSize: V } = f.config;
  const N = f.B * f.T;
  const { input, inputs } = f;
  const wte = f.params.wte;
  switch (input.kind) {
    case 'ids': {
      embeddingForward(rec, out, inputs.ids('input ids', input.ids, N, V), wte, N, C, V);
      return {};
    }
    case 'mixture': {
      const K = input.k;
      if (input.weights.length !== N * K)
        throw new EngineError(
          'invalid-argument',
          `mixture weights: ${input.weights.length} != B·T·k = ${N * K}`,
        );
      const ids = inputs.ids('mixture ids', input.ids, N * K, V);
      const weights = inputs.upload('mixture weights', Float32Array.from(input.weights));
      mixtureForward(rec, out, ids, weights, wte, N, K, C, V);
      // The rollout's noise on e_t, regenerated from its counters: a constant to the backward, so E still
      // gets its gradient through the weights alone.
      if (input.noise) inputNoiseForward(rec, out, input.noise, N, C, (n, d) => inputs.upload(n, d));
      return { ids };
    }
    case 'dense': {
      if (input.probs.length < N * V)
        throw new EngineError('invalid-argument', `dense probs: ${input.probs.length} < B·T·V = ${N * V}`);
      const probs = inputs.upload('dense probs', input.probs.subarray(0, N * V));
      denseMixtureForward(rec, out, probs, wte, N, V, C);
      return { probs };
    }
    case 'embeds': {
      if (input.embeds.length < N * C)
        throw new EngineError('invalid-argument', `embeds: ${input.embeds.length} < B·T·C = ${N * C}`);
      const { embeds } = input;
      rec.ctx.device.queue.writeBuffer(out.buffer, 0, embeds.buffer, embeds.byteOffset, N * C * 4);
      return {};
    }
    case 'gpu-embeds': {
      if (input.embeds.bytes < N * C * 4)
        throw new EngineError('invalid-argument', `gpu embeds: ${input.embeds.bytes / 4} < B·T·C = ${N * C}`);
      rec.copy(input.embeds, out, 0, 0, N * C * 4);
      return {};
    }
  }
}

/** One decoder layer: pre-norm attention (GQA, RoPE) and SwiGLU MLP, each added into the residual stream.
 * Reads f.cs and f.kv.mask as writePositions left them (the training backward's recompute relies on it). */
export function recordLayer(rec: CommandRecorder, f: LayerPass, l: number, t: LayerActivations): void {
  const {
    hiddenSize: C,
    intermediateSize: I,
    numAttentionHeads: H,
    numKeyValueHeads: KVH,
    headDim: D,
    rmsNormEps: eps,
  } = f.config;
  const { B, T, kv } = f;
  const N = B * T;
  const lp = f.params.layers[l];
  const adapter = f.lora?.layers[l];
  // out (= or, with beta 1, +=) inp · Wᵀ + b, plus the LoRA term when the layer is adapted.
  const linear = (out: GpuTensor, inp: GpuTensor, key: LinearKey, IC: number, OC: number, beta = 0) => {
    matmulForward(rec, out, inp, lp[key], biasOf(lp, key), N, IC, OC, { beta });
    const pair = adapter?.[key];
    if (pair && f.lora) {
      const { r, scale } = f.lora;
      matmulForward(rec, f.loraTmp, inp, pair.A, null, N, IC, r);
      matmulForward(rec, out, f.loraTmp, pair.B, null, N, r, OC, { alpha: scale, beta: 1 });
    }
  };
  const rowBytes = N * C * 4;
  const place = { T, outT: kv.capacity, outStart: kv.start };

  // A decode step (fusedDecode): the norm, the projections, RoPE and the cache writes in one dispatch.
  if (fusesDecode(t, N, C, adapter, ['qw', 'kw', 'vw']) && fusedQkvFits(rec, N, C, D)) {
    fusedQkvRopeForward(rec, t.q, t.k, t.v, t.resIn, lp.ln1w, lp, f.cs, N, C, H, KVH, D, eps, place);
  } else {
    rmsnormForward(rec, t.normed1, t.rstd1, t.resIn, lp.ln1w, N, C, eps);
    linear(t.qraw, t.normed1, 'qw', C, H * D);
    linear(t.kraw, t.normed1, 'kw', C, KVH * D);
    linear(t.vraw, t.normed1, 'vw', C, KVH * D);
    ropeForward(rec, t.q, t.qraw, f.cs, N, H, D);
    ropeForward(rec, t.k, t.kraw, f.cs, N, KVH, D, place);
    // Inference: the values go into the cache's rows; training: v_proj wrote v itself.
    if (t.vraw !== t.v) scatterRows(rec, t.v, t.vraw, N, KVH * D, place);
  }
  attentionForward(
    rec,
    t.attOut,
    t.q,
    t.k,
    t.v,
    kv.mask,
    B,
    T,
    kv.start + T,
    kv.start,
    H,
    KVH,
    D,
    kv.capacity,
    t.lse ?? null,
  );
  // Training keeps the stream before and after each block: copy it on, then add the block in place.
  if (t.resMid !== t.resIn) rec.copy(t.resIn, t.resMid, 0, 0, rowBytes);
  linear(t.resMid, t.attOut, 'ow', H * D, C, 1);

  if (fusesDecode(t, N, C, adapter, ['gatew', 'upw'])) {
    fusedNormSwigluForward(rec, t.act, t.resMid, lp.ln2w, lp.gatew, lp.upw, N, C, I, eps);
  } else {
    rmsnormForward(rec, t.normed2, t.rstd2, t.resMid, lp.ln2w, N, C, eps);
    linear(t.gate, t.normed2, 'gatew', C, I);
    linear(t.up, t.normed2, 'upw', C, I);
    swigluForward(rec, t.act, t.gate, t.up, N * I);
  }
  if (t.resOut !== t.resMid) rec.copy(t.resMid, t.resOut, 0, 0, rowBytes);
  linear(t.resOut, t.act, 'downw', I, C, 1);
}

/** Inference with few rows and no adapter on the given projections: the fused decode kernels
 * (kernels/fusedDecode.wgsl.ts) replace a norm and the projections that read it. Training keeps the norms'
 * 1/rms for its backward, so it never takes them. */
function fusesDecode(
  t: LayerActivations,
  N: number,
  C: number,
  adapter: Partial<Record<LinearKey, unknown>> | undefined,
  keys: LinearKey[],
): boolean {
  return t.rstd1 === null && t.rstd2 === null && fusedNormFits(N, C) && !keys.some((k) => adapter?.[k]);
}

/** The final norm and lm_head (the largest matmul: a decode step runs it on each row's last position only;
 * without head.logits it is left to the caller). */
function recordHead(rec: CommandRecorder, f: ForwardPass, residual: GpuTensor): void {
  const { hiddenSize: C, vocabSize: V, rmsNormEps: eps } = f.config;
  const { B, T, head } = f;
  const p = f.params;
  // A decode step (only last positions, nothing kept): the norm and lm_head in one dispatch, each row's
  // last position read in place (head.normed is not written: no decode caller reads it).
  if (head.logits && head.lastRows && head.rstd === null && fusedNormFits(B, C)) {
    const rows = { stride: T, offset: T - 1 };
    fusedNormLinearForward(rec, head.logits, residual, p.lnfw, p.lmHead, B, C, V, eps, rows);
    return;
  }
  if (head.lastRows && T > 1) {
    for (let b = 0; b < B; b++) rec.copy(residual, head.lastRows, (b * T + T - 1) * C * 4, b * C * 4, C * 4);
    rmsnormForward(rec, head.normed, head.rstd, head.lastRows, p.lnfw, B, C, eps);
    if (head.logits) matmulForward(rec, head.logits, head.normed, p.lmHead, null, B, C, V);
    return;
  }
  const N = B * T;
  rmsnormForward(rec, head.normed, head.rstd, residual, p.lnfw, N, C, eps);
  if (head.logits) matmulForward(rec, head.logits, head.normed, p.lmHead, null, N, C, V);
}
