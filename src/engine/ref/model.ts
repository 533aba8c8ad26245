// The Qwen2 forward pass on the CPU, layer by layer — the reference every WGSL kernel is checked
// against and the engine's fallback when there is no WebGPU. HF parameter names throughout.
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
}

export interface RefModel {
  config: Qwen2Config;
  weights: WeightMap;
}

function w(model: RefModel, name: string): Float32Array {
  const t = model.weights.get(name);
  if (!t) throw new Error(`reference forward: missing parameter ${name}`);
  return t.data;
}

function optional(model: RefModel, name: string): Float32Array | null {
  return model.weights.get(name)?.data ?? null;
}

/** The input embeddings (B·T, C) for any kind of input. */
export function embedInputs(model: RefModel, input: ModelInput, N: number): Float32Array {
  const { hiddenSize: C, vocabSize: V } = model.config;
  const wte = w(model, 'model.embed_tokens.weight');
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

export function qwen2Forward(
  model: RefModel,
  input: ModelInput,
  B: number,
  T: number,
  opts: ForwardOptions = {},
): ForwardResult {
  const cfg = model.config;
  const {
    hiddenSize: C,
    intermediateSize: I,
    numAttentionHeads: H,
    numKeyValueHeads: KVH,
    headDim: D,
    vocabSize: V,
  } = cfg;
  const N = B * T;
  const cache = opts.cache ?? new RefKvCache(cfg, B, T);
  const start = cache.length;
  if (start + T > cache.capacity) throw new RangeError(`KV cache full: ${start} + ${T} > ${cache.capacity}`);
  const Tk = start + T;

  const positions = new Float64Array(N);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      positions[b * T + t] = opts.positionIds ? opts.positionIds[b * T + t] : start + t;
      cache.mask[b * cache.capacity + start + t] = opts.attentionMask ? opts.attentionMask[b * T + t] : 1;
    }
  }

  const linear = (out: Float32Array, inp: Float32Array, name: string, IC: number, OC: number) => {
    const bias = optional(model, name.replace(/\.weight$/, '.bias'));
    const l = opts.lora?.layers.get(name);
    if (l && opts.lora)
      linearLoraForward(
        out,
        inp,
        w(model, name),
        bias,
        l.A.data,
        l.B.data,
        opts.lora.scale,
        N,
        IC,
        OC,
        opts.lora.r,
      );
    else linearForward(out, inp, w(model, name), bias, N, IC, OC);
  };

  const residual = embedInputs(model, input, N);
  const hidden: HiddenStates | undefined = opts.hiddenStates
    ? { embed: residual.slice(), layers: [], finalNorm: new Float32Array(0) }
    : undefined;
  const normed = new Float32Array(N * C);
  const q = new Float32Array(N * H * D);
  const kNew = new Float32Array(N * KVH * D);
  const vNew = new Float32Array(N * KVH * D);
  const attOut = new Float32Array(N * H * D);
  const proj = new Float32Array(N * C);
  const gate = new Float32Array(N * I);
  const up = new Float32Array(N * I);
  const act = new Float32Array(N * I);

  for (let l = 0; l < cfg.numHiddenLayers; l++) {
    const pre = `model.layers.${l}`;
    rmsnormForward(normed, null, residual, w(model, `${pre}.input_layernorm.weight`), N, C, cfg.rmsNormEps);
    linear(q, normed, `${pre}.self_attn.q_proj.weight`, C, H * D);
    linear(kNew, normed, `${pre}.self_attn.k_proj.weight`, C, KVH * D);
    linear(vNew, normed, `${pre}.self_attn.v_proj.weight`, C, KVH * D);
    ropeForward(q, q, positions, N, H, D, cfg.ropeTheta);
    ropeForward(kNew, kNew, positions, N, KVH, D, cfg.ropeTheta);
    // Append the new keys/values to the cache rows, then attend over everything cached.
    const row = KVH * D;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const dst = (b * cache.capacity + start + t) * row;
        cache.k[l].set(kNew.subarray((b * T + t) * row, (b * T + t + 1) * row), dst);
        cache.v[l].set(vNew.subarray((b * T + t) * row, (b * T + t + 1) * row), dst);
      }
    }
    attentionForward(
      attOut,
      null,
      q,
      cache.k[l],
      cache.v[l],
      cache.mask,
      B,
      T,
      Tk,
      start,
      H,
      KVH,
      D,
      cache.capacity,
    );
    linear(proj, attOut, `${pre}.self_attn.o_proj.weight`, H * D, C);
    residualForward(residual, residual, proj, N * C);

    rmsnormForward(
      normed,
      null,
      residual,
      w(model, `${pre}.post_attention_layernorm.weight`),
      N,
      C,
      cfg.rmsNormEps,
    );
    linear(gate, normed, `${pre}.mlp.gate_proj.weight`, C, I);
    linear(up, normed, `${pre}.mlp.up_proj.weight`, C, I);
    swigluForward(act, gate, up, N * I);
    linear(proj, act, `${pre}.mlp.down_proj.weight`, I, C);
    residualForward(residual, residual, proj, N * C);
    hidden?.layers.push(residual.slice());
  }
  cache.length = Tk;

  rmsnormForward(normed, null, residual, w(model, 'model.norm.weight'), N, C, cfg.rmsNormEps);
  if (hidden) hidden.finalNorm = normed.slice();
  const logits = new Float32Array(N * V);
  const head = cfg.tieWordEmbeddings ? w(model, 'model.embed_tokens.weight') : w(model, 'lm_head.weight');
  linearForward(logits, normed, head, null, N, C, V);
  return { logits, hidden };
}
