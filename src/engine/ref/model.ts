// The Qwen2 forward pass on the CPU, layer by layer — the reference every WGSL kernel is checked
// against and the engine's fallback when there is no WebGPU. One forward, one layer loop, serves both
// inference (qwen2Forward: an optional KV cache, optional hidden states) and training (ref/backward.ts
// qwen2ForwardTrain: every activation the backward needs, saved), so the input kinds, the LoRA linear,
// RoPE and attention are written once (llm.c's gpt2_forward). HF parameter names throughout.
import type { Qwen2Config } from '../config.ts';
import type { HostTensor, WeightMap } from '../tensor.ts';
import { attentionForward } from './attention.ts';
import { denseMixtureForward, embeddingForward, type InputNoise, mixtureForward } from './embedding.ts';
import { linearForward, linearLoraForward } from './linear.ts';
import { swigluForward } from './mlp.ts';
import { residualForward } from './residual.ts';
import { rmsnormForward } from './rmsnorm.ts';
import { ropeForward } from './rope.ts';

/** What feeds the first layer, for B rows of T positions. */
export type ModelInput =
  | { kind: 'ids'; ids: ArrayLike<number> } // (B, T)
  // (B, T, k), plus Gaussian noise regenerated from counters on some positions (embedding.ts InputNoise)
  | { kind: 'mixture'; ids: ArrayLike<number>; weights: ArrayLike<number>; k: number; noise?: InputNoise }
  | { kind: 'dense'; probs: Float32Array } // (B, T, V)
  | { kind: 'embeds'; embeds: Float32Array }; // (B, T, C)

export type { InputNoise } from './embedding.ts';

/** LoRA matrices by base weight name (structurally what model/lora.ts loads): A (r, in), B (out, r). */
export interface LoraWeights {
  r: number;
  scale: number;
  layers: Map<string, { A: HostTensor; B: HostTensor }>;
}

export interface ForwardOptions {
  /** (B, T) positions; default: the cache length + t. */
  positionIds?: ArrayLike<number>;
  /** (B, T) 1 = real token, 0 = padding; default all ones. */
  attentionMask?: ArrayLike<number>;
  lora?: LoraWeights | null;
  /** Keep the residual stream after the embedding, after each layer, and after the final norm. */
  hiddenStates?: boolean;
  /** Append to (and attend over) this cache instead of starting from nothing. */
  cache?: RefKvCache;
}

export interface HiddenStates {
  embed: Float32Array; // (B, T, C)
  layers: Float32Array[]; // L × (B, T, C), residual stream after each layer
  finalNorm: Float32Array; // (B, T, C)
}

export interface ForwardResult {
  logits: Float32Array; // (B, T, V)
  hidden?: HiddenStates;
}

/** Keys (after RoPE) and values of every layer for B rows of up to `capacity` positions. */
export class RefKvCache {
  readonly k: Float32Array[]; // L × (B, capacity, KVH·D)
  readonly v: Float32Array[];
  readonly mask: Uint8Array; // (B, capacity)
  length = 0;

  constructor(
    readonly config: Qwen2Config,
    readonly B: number,
    readonly capacity: number,
  ) {
    const size = B * capacity * config.numKeyValueHeads * config.headDim;
    this.k = Array.from({ length: config.numHiddenLayers }, () => new Float32Array(size));
    this.v = Array.from({ length: config.numHiddenLayers }, () => new Float32Array(size));
    this.mask = new Uint8Array(B * capacity);
  }

  /** Copy row `from` of `src`, positions [0, n) (keys and values of every layer, and the mask), into each
   * row of `to`: a prompt prefilled once for the rows that continue it. The caller sets `length`. */
  copyRowFrom(src: RefKvCache, from: number, to: readonly number[], n: number): void {
    const row = this.config.numKeyValueHeads * this.config.headDim;
    const srcRow = src.config.numKeyValueHeads * src.config.headDim;
    if (src.k.length !== this.k.length || srcRow !== row)
      throw new RangeError('KV cache row copy: the caches are of different models');
    if (!(Number.isInteger(n) && n >= 0 && n <= src.length && n <= this.capacity))
      throw new RangeError(
        `KV cache row copy: ${n} positions (source holds ${src.length}, capacity ${this.capacity})`,
      );
    const outside = [from, ...to].find(
      (b, i) => !(Number.isInteger(b) && b >= 0 && b < (i ? this.B : src.B)),
    );
    if (outside !== undefined) throw new RangeError(`KV cache row copy: row ${outside} out of range`);
    const at = from * src.capacity;
    for (let l = 0; l < this.k.length; l++) {
      const k = src.k[l].subarray(at * row, (at + n) * row);
      const v = src.v[l].subarray(at * row, (at + n) * row);
      for (const b of to) {
        this.k[l].set(k, b * this.capacity * row);
        this.v[l].set(v, b * this.capacity * row);
      }
    }
    for (const b of to) this.mask.set(src.mask.subarray(at, at + n), b * this.capacity);
  }
}

export interface RefModel {
  config: Qwen2Config;
  weights: WeightMap;
}

/** A parameter by HF name (throws when the model lacks it). */
export function parameter(model: RefModel, name: string): Float32Array {
  const t = model.weights.get(name);
  if (!t) throw new Error(`reference model: missing parameter ${name}`);
  return t.data;
}

/** The bias that goes with a linear layer's weight (`….weight` → `….bias`; q/k/v have one), or null. */
function biasOf(model: RefModel, weightName: string): Float32Array | null {
  return model.weights.get(weightName.replace(/\.weight$/, '.bias'))?.data ?? null;
}

/** The output head: the embedding matrix when tied, else lm_head. */
export function headName(config: Qwen2Config): string {
  return config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
}

/** The input embeddings (B·T, C) for any kind of input. */
export function embedInputs(model: RefModel, input: ModelInput, N: number): Float32Array {
  const { hiddenSize: C, vocabSize: V } = model.config;
  const wte = parameter(model, 'model.embed_tokens.weight');
  const out = new Float32Array(N * C);
  switch (input.kind) {
    case 'ids':
      embeddingForward(out, input.ids, wte, N, C);
      break;
    case 'mixture':
      mixtureForward(out, input.ids, input.weights, wte, N, input.k, C, input.noise ?? null);
      break;
    case 'dense':
      denseMixtureForward(out, input.probs, wte, N, V, C);
      break;
    case 'embeds':
      out.set(input.embeds.subarray(0, N * C));
      break;
  }
  return out;
}

/** What one decoder layer saves for its backward (N = B·T). */
export interface LayerActivations {
  resIn: Float32Array; // (N, C) residual stream entering the layer (the previous layer's output)
  rstd1: Float32Array; // (N) input_layernorm 1/rms
  normed1: Float32Array; // (N, C) input_layernorm output: input of q/k/v_proj
  q: Float32Array; // (N, H·D) after RoPE
  k: Float32Array; // (N, KVH·D) after RoPE
  v: Float32Array; // (N, KVH·D)
  att: Float32Array; // (B, H, T, T) softmax probabilities
  attOut: Float32Array; // (N, H·D) input of o_proj
  resMid: Float32Array; // (N, C) residual stream after attention
  rstd2: Float32Array; // (N) post_attention_layernorm 1/rms
  normed2: Float32Array; // (N, C) input of gate/up_proj
  gate: Float32Array; // (N, I) gate_proj output
  up: Float32Array; // (N, I) up_proj output
  act: Float32Array; // (N, I) silu(gate) · up: input of down_proj
}

/** What a saving forward keeps besides the logits: everything the backward reads. */
export interface SavedActivations {
  positions: Float64Array; // (N) RoPE positions
  mask: Uint8Array; // (B, T) key mask
  embeds: Float32Array; // (N, C) input embeddings (= layers[0].resIn)
  layers: LayerActivations[];
  resOut: Float32Array; // (N, C) residual stream after the last layer
  rstdF: Float32Array; // (N) model.norm 1/rms
  normedF: Float32Array; // (N, C) input of lm_head
}

export interface ForwardPassOptions extends ForwardOptions {
  /** Keep every layer's activations for the backward (a full forward: no cache). */
  save?: boolean;
}

export interface ForwardPass extends ForwardResult {
  /** The activations, when the forward ran with `save`; else null. */
  saved: SavedActivations | null;
}

/** The buffers one decoder layer writes: its LayerActivations when the forward saves, or one scratch
 * set that every layer reuses (the residual stream updated in place, no 1/rms or softmax kept). */
type LayerBuffers = Omit<LayerActivations, 'rstd1' | 'rstd2' | 'att'> & {
  rstd1: Float32Array | null;
  rstd2: Float32Array | null;
  att: Float32Array | null;
};

/** What every layer of one forward shares. */
interface PassContext {
  model: RefModel;
  B: number;
  T: number;
  N: number;
  positions: Float64Array; // (N)
  mask: Uint8Array; // (B, T) key mask of the new positions
  lora: LoraWeights | null;
  /** Append the new keys/values here and attend over everything cached; null: attend over the layer's own. */
  cache: RefKvCache | null;
  /** Cached positions before this forward (0 without a cache). */
  start: number;
  proj: Float32Array; // (N, C) scratch: the o_proj and down_proj outputs before they join the residual
}

/** Inference: logits (and, with `hiddenStates`, the residual stream) for B rows of T new positions. */
export function qwen2Forward(
  model: RefModel,
  input: ModelInput,
  B: number,
  T: number,
  opts: ForwardOptions = {},
): ForwardResult {
  const { logits, hidden } = qwen2ForwardPass(model, input, B, T, opts);
  return { logits, hidden };
}

/** The one forward: input embeddings, the decoder layers, the final norm and the head. */
export function qwen2ForwardPass(
  model: RefModel,
  input: ModelInput,
  B: number,
  T: number,
  opts: ForwardPassOptions = {},
): ForwardPass {
  const cfg = model.config;
  const { hiddenSize: C, vocabSize: V } = cfg;
  const N = B * T;
  const cache = opts.cache ?? null;
  // The backward reads a full forward's (B, H, T, T) probabilities; a cached step attends over more keys.
  if (opts.save && cache)
    throw new Error('reference forward: saving activations needs a full forward, no cache');
  const start = cache ? cache.length : 0;
  if (cache && start + T > cache.capacity)
    throw new RangeError(`KV cache full: ${start} + ${T} > ${cache.capacity}`);
  const { positions, mask } = positionsAndMask(B, T, start, opts);
  // The new positions' key mask joins the cache's, row by row.
  if (cache)
    for (let b = 0; b < B; b++) cache.mask.set(mask.subarray(b * T, (b + 1) * T), b * cache.capacity + start);
  const lora = opts.lora ?? null;
  const ctx: PassContext = {
    model,
    B,
    T,
    N,
    positions,
    mask,
    lora,
    cache,
    start,
    proj: new Float32Array(N * C),
  };

  const embeds = embedInputs(model, input, N);
  const hidden: HiddenStates | undefined = opts.hiddenStates
    ? { embed: embeds.slice(), layers: [], finalNorm: new Float32Array(0) }
    : undefined;
  const layers: LayerActivations[] = [];
  const scratch = opts.save ? null : layerScratch(ctx, embeds);
  let res = embeds;
  for (let l = 0; l < cfg.numHiddenLayers; l++) {
    if (scratch) {
      decoderLayerForward(ctx, l, res, scratch); // in place: the residual stream stays where it is
    } else {
      const a = layerActivations(ctx, res);
      res = new Float32Array(N * C);
      decoderLayerForward(ctx, l, res, a);
      layers.push(a);
    }
    hidden?.layers.push(res.slice());
  }
  if (cache) cache.length = start + T;

  const rstdF = opts.save ? new Float32Array(N) : null;
  const normedF = new Float32Array(N * C);
  rmsnormForward(normedF, rstdF, res, parameter(model, 'model.norm.weight'), N, C, cfg.rmsNormEps);
  if (hidden) hidden.finalNorm = normedF.slice();
  const logits = new Float32Array(N * V);
  linearForward(logits, normedF, parameter(model, headName(cfg)), null, N, C, V);
  const saved = rstdF ? { positions, mask, embeds, layers, resOut: res, rstdF, normedF } : null;
  return { logits, hidden, saved };
}

/** (N) RoPE positions (default: the cache length + t) and the (B, T) key mask (default all ones). */
function positionsAndMask(
  B: number,
  T: number,
  start: number,
  opts: ForwardOptions,
): { positions: Float64Array; mask: Uint8Array } {
  const N = B * T;
  const positions = new Float64Array(N);
  const mask = new Uint8Array(N);
  for (let n = 0; n < N; n++) {
    positions[n] = opts.positionIds ? opts.positionIds[n] : start + (n % T);
    mask[n] = opts.attentionMask ? opts.attentionMask[n] : 1;
  }
  return { positions, mask };
}

/** One decoder layer: resOut = resMid + mlp(norm2(resMid)), resMid = resIn + attention(norm1(resIn)). */
function decoderLayerForward(ctx: PassContext, l: number, resOut: Float32Array, a: LayerBuffers): void {
  const { model, N, positions, proj } = ctx;
  const cfg = model.config;
  const {
    hiddenSize: C,
    intermediateSize: I,
    numAttentionHeads: H,
    numKeyValueHeads: KVH,
    headDim: D,
    rmsNormEps: eps,
  } = cfg;
  const pre = `model.layers.${l}`;
  rmsnormForward(a.normed1, a.rstd1, a.resIn, parameter(model, `${pre}.input_layernorm.weight`), N, C, eps);
  projectionForward(ctx, a.q, a.normed1, `${pre}.self_attn.q_proj.weight`, C, H * D);
  projectionForward(ctx, a.k, a.normed1, `${pre}.self_attn.k_proj.weight`, C, KVH * D);
  projectionForward(ctx, a.v, a.normed1, `${pre}.self_attn.v_proj.weight`, C, KVH * D);
  ropeForward(a.q, a.q, positions, N, H, D, cfg.ropeTheta);
  ropeForward(a.k, a.k, positions, N, KVH, D, cfg.ropeTheta);
  causalAttentionForward(ctx, l, a);
  projectionForward(ctx, proj, a.attOut, `${pre}.self_attn.o_proj.weight`, H * D, C);
  residualForward(a.resMid, a.resIn, proj, N * C);

  const ln2 = parameter(model, `${pre}.post_attention_layernorm.weight`);
  rmsnormForward(a.normed2, a.rstd2, a.resMid, ln2, N, C, eps);
  projectionForward(ctx, a.gate, a.normed2, `${pre}.mlp.gate_proj.weight`, C, I);
  projectionForward(ctx, a.up, a.normed2, `${pre}.mlp.up_proj.weight`, C, I);
  swigluForward(a.act, a.gate, a.up, N * I);
  projectionForward(ctx, proj, a.act, `${pre}.mlp.down_proj.weight`, I, C);
  residualForward(resOut, a.resMid, proj, N * C);
}

/** A named linear layer of the model, through its LoRA adapter when the adapter has one for it. */
function projectionForward(
  ctx: PassContext,
  out: Float32Array,
  inp: Float32Array,
  name: string,
  IC: number,
  OC: number,
): void {
  const { model, lora, N } = ctx;
  const weight = parameter(model, name);
  const bias = biasOf(model, name);
  const adapter = lora?.layers.get(name);
  if (lora && adapter)
    linearLoraForward(out, inp, weight, bias, adapter.A.data, adapter.B.data, lora.scale, N, IC, OC, lora.r);
  else linearForward(out, inp, weight, bias, N, IC, OC);
}

/** Attention of the T new positions: over the layer's own keys (a full forward), or appended to the KV
 * cache and over everything cached. */
function causalAttentionForward(ctx: PassContext, l: number, a: LayerBuffers): void {
  const { B, T, cache, start } = ctx;
  const { numAttentionHeads: H, numKeyValueHeads: KVH, headDim: D } = ctx.model.config;
  if (!cache) {
    attentionForward(a.attOut, a.att, a.q, a.k, a.v, ctx.mask, B, T, T, 0, H, KVH, D);
    return;
  }
  const row = KVH * D;
  for (let b = 0; b < B; b++) {
    const src = b * T * row;
    const dst = (b * cache.capacity + start) * row;
    cache.k[l].set(a.k.subarray(src, src + T * row), dst);
    cache.v[l].set(a.v.subarray(src, src + T * row), dst);
  }
  const { k, v, mask, capacity } = cache;
  attentionForward(a.attOut, a.att, a.q, k[l], v[l], mask, B, T, start + T, start, H, KVH, D, capacity);
}

/** One scratch set for inference: every layer writes the same buffers; the residual stream is `res`. */
function layerScratch(ctx: PassContext, res: Float32Array): LayerBuffers {
  const { N } = ctx;
  const {
    hiddenSize: C,
    intermediateSize: I,
    numAttentionHeads: H,
    numKeyValueHeads: KVH,
    headDim: D,
  } = ctx.model.config;
  const normed = new Float32Array(N * C); // input_layernorm's output is dead once q/k/v are made
  return {
    resIn: res,
    rstd1: null,
    normed1: normed,
    q: new Float32Array(N * H * D),
    k: new Float32Array(N * KVH * D),
    v: new Float32Array(N * KVH * D),
    att: null,
    attOut: new Float32Array(N * H * D),
    resMid: res,
    rstd2: null,
    normed2: normed,
    gate: new Float32Array(N * I),
    up: new Float32Array(N * I),
    act: new Float32Array(N * I),
  };
}

/** Fresh buffers for one layer's saved activations; `resIn` is the previous layer's output. */
function layerActivations(ctx: PassContext, resIn: Float32Array): LayerActivations {
  const { B, T, N } = ctx;
  const {
    hiddenSize: C,
    intermediateSize: I,
    numAttentionHeads: H,
    numKeyValueHeads: KVH,
    headDim: D,
  } = ctx.model.config;
  return {
    resIn,
    rstd1: new Float32Array(N),
    normed1: new Float32Array(N * C),
    q: new Float32Array(N * H * D),
    k: new Float32Array(N * KVH * D),
    v: new Float32Array(N * KVH * D),
    att: new Float32Array(B * H * T * T),
    attOut: new Float32Array(N * H * D),
    resMid: new Float32Array(N * C),
    rstd2: new Float32Array(N),
    normed2: new Float32Array(N * C),
    gate: new Float32Array(N * I),
    up: new Float32Array(N * I),
    act: new Float32Array(N * I),
  };
}
