// The model's parameters on the GPU as ONE typed table (llm.c's ParameterTensors): typed per-layer fields
// that GpuModel uploads, the forward (forward.ts) reads, and GpuTrainer updates in place — its gradients
// are a table of the same shape (ParameterTable<GpuTensor | null>, null where frozen), which the backward
// (backward.ts) reads field by field. HF names appear only here (upload, by-name access), so no layer
// looks a tensor up by string. The LoRA adapter is a table too: its pairs by HF base name (peft's keys,
// for upload and export) and the same pairs by layer and projection (for the forward and backward).
import { expectedParameters, type Qwen2Config } from '../config.ts';
import { EngineError } from '../errors.ts';
import { type HalfDtype, packHalves, unpackHalves } from '../model/halfFloat.ts';
import type { LoraWeights } from '../ref/model.ts';
import type { WeightMap } from '../tensor.ts';
import type { BufferPool, GpuTensor, WeightDtype } from './buffers.ts';

/** One decoder layer's parameters (HF names after `model.layers.{l}.`: LAYER_NAMES). */
export interface LayerParams<T> {
  ln1w: T; // (C)            input_layernorm.weight
  qw: T; // (H·D, C)         self_attn.q_proj.weight
  qb: T | null; // (H·D)     self_attn.q_proj.bias
  kw: T; // (KVH·D, C)       self_attn.k_proj.weight
  kb: T | null; // (KVH·D)
  vw: T; // (KVH·D, C)       self_attn.v_proj.weight
  vb: T | null; // (KVH·D)
  ow: T; // (C, H·D)         self_attn.o_proj.weight
  ln2w: T; // (C)            post_attention_layernorm.weight
  gatew: T; // (I, C)        mlp.gate_proj.weight
  upw: T; // (I, C)          mlp.up_proj.weight
  downw: T; // (C, I)        mlp.down_proj.weight
}

/** The whole model's parameters (T = GpuTensor), or anything kept per parameter (gradients). */
export interface ParameterTable<T> {
  wte: T; // (V, C)          model.embed_tokens.weight
  layers: LayerParams<T>[]; // L
  lnfw: T; // (C)            model.norm.weight
  lmHead: T; // (V, C)       lm_head.weight, or wte itself when tied
}

export type ParameterTensors = ParameterTable<GpuTensor>;
/** Gradients by parameter: null where the parameter is frozen (nothing is recorded for it). */
export type GradientTensors = ParameterTable<GpuTensor | null>;

const LAYER_NAMES: Record<keyof LayerParams<unknown>, string> = {
  ln1w: 'input_layernorm.weight',
  qw: 'self_attn.q_proj.weight',
  qb: 'self_attn.q_proj.bias',
  kw: 'self_attn.k_proj.weight',
  kb: 'self_attn.k_proj.bias',
  vw: 'self_attn.v_proj.weight',
  vb: 'self_attn.v_proj.bias',
  ow: 'self_attn.o_proj.weight',
  ln2w: 'post_attention_layernorm.weight',
  gatew: 'mlp.gate_proj.weight',
  upw: 'mlp.up_proj.weight',
  downw: 'mlp.down_proj.weight',
};
const EMBED_NAME = 'model.embed_tokens.weight';
const NORM_NAME = 'model.norm.weight';
const HEAD_NAME = 'lm_head.weight';

/** The linear layers of a decoder layer (what LoRA can adapt). */
export const LINEAR_KEYS = ['qw', 'kw', 'vw', 'ow', 'gatew', 'upw', 'downw'] as const;
export type LinearKey = (typeof LINEAR_KEYS)[number];

/** The HF name of layer l's parameter `field`. */
export function layerParamName(l: number, field: keyof LayerParams<unknown>): string {
  return `model.layers.${l}.${LAYER_NAMES[field]}`;
}

/** A linear layer's bias (q/k/v_proj may have one), or null. */
export function biasOf<T>(lp: LayerParams<T>, key: LinearKey): T | null {
  if (key === 'qw') return lp.qb;
  if (key === 'kw') return lp.kb;
  if (key === 'vw') return lp.vb;
  return null;
}

/**
 * Another table of the same shape: fn of each parameter with its HF name; absent biases stay null and a
 * tied lm_head is wte's entry (fn is not called for it).
 */
export function mapParameters<U>(
  p: ParameterTensors,
  tied: boolean,
  fn: (name: string, t: GpuTensor) => U,
): ParameterTable<U> {
  const wte = fn(EMBED_NAME, p.wte);
  const layers = p.layers.map((lp, l): LayerParams<U> => {
    const req = (field: keyof LayerParams<unknown>) => fn(layerParamName(l, field), lp[field]!);
    const opt = (field: 'qb' | 'kb' | 'vb') => {
      const t = lp[field];
      return t ? fn(layerParamName(l, field), t) : null;
    };
    return {
      ln1w: req('ln1w'),
      qw: req('qw'),
      qb: opt('qb'),
      kw: req('kw'),
      kb: opt('kb'),
      vw: req('vw'),
      vb: opt('vb'),
      ow: req('ow'),
      ln2w: req('ln2w'),
      gatew: req('gatew'),
      upw: req('upw'),
      downw: req('downw'),
    };
  });
  const lnfw = fn(NORM_NAME, p.lnfw);
  const lmHead = tied ? wte : fn(HEAD_NAME, p.lmHead);
  return { wte, layers, lnfw, lmHead };
}

/** The tensors by HF name: a tied lm_head is not listed (it is wte), absent biases are not listed. */
export function namedParameters(p: ParameterTensors, tied: boolean): Map<string, GpuTensor> {
  const out = new Map<string, GpuTensor>();
  mapParameters(p, tied, (name, t) => out.set(name, t));
  return out;
}

/** A weight's values on the host: f32, or 16-bit patterns as a checkpoint stores them (not widened). */
export type HostWeight =
  | { kind: 'f32'; data: Float32Array }
  | { kind: 'half'; dtype: HalfDtype; bits: Uint16Array; numel: number };

/**
 * Upload one weight in the storage dtype: a 16-bit checkpoint's bits go up as they are when the storage
 * dtype is theirs; otherwise the values are converted (rounded to nearest even when narrowed).
 */
export function uploadWeight(pool: BufferPool, name: string, w: HostWeight, storage: WeightDtype): GpuTensor {
  if (storage === 'f32') {
    const data = w.kind === 'f32' ? w.data : unpackHalves(w.bits, w.dtype, w.numel);
    return pool.upload(name, data);
  }
  if (w.kind === 'half' && w.dtype === storage) {
    const bits =
      w.bits.length % 2 === 0
        ? w.bits
        : Uint16Array.from({ length: w.bits.length + 1 }, (_, i) => w.bits[i] ?? 0);
    return pool.uploadHalves(name, bits, storage);
  }
  const data = w.kind === 'f32' ? w.data : unpackHalves(w.bits, w.dtype, w.numel);
  return pool.uploadHalves(name, packHalves(data, storage), storage);
}

/** The dtype a parameter of this shape is stored in: the 2-D weight matrices (embeddings, lm_head, the
 * projections) take `storage`; norm weights and biases stay f32 (tiny, and read by kernels that take f32). */
export function parameterDtype(shape: readonly number[], storage: WeightDtype): WeightDtype {
  return shape.length === 2 ? storage : 'f32';
}

/**
 * The parameter table from tensors already on the GPU, by HF name (`lookup` returns null when absent):
 * every required parameter must be there; biases only when the config has them.
 */
export function parameterTableFrom(
  cfg: Qwen2Config,
  lookup: (name: string) => GpuTensor | null,
): ParameterTensors {
  const req = (name: string) => {
    const t = lookup(name);
    if (!t) throw new EngineError('tensor-missing', `GPU model: missing parameter ${name}`, { tensor: name });
    return t;
  };
  const bias = (l: number, field: 'qb' | 'kb' | 'vb') =>
    cfg.attentionBias ? req(layerParamName(l, field)) : null;
  const wte = req(EMBED_NAME);
  const layers: LayerParams<GpuTensor>[] = [];
  for (let l = 0; l < cfg.numHiddenLayers; l++) {
    const w = (field: keyof LayerParams<unknown>) => req(layerParamName(l, field));
    layers.push({
      ln1w: w('ln1w'),
      qw: w('qw'),
      qb: bias(l, 'qb'),
      kw: w('kw'),
      kb: bias(l, 'kb'),
      vw: w('vw'),
      vb: bias(l, 'vb'),
      ow: w('ow'),
      ln2w: w('ln2w'),
      gatew: w('gatew'),
      upw: w('upw'),
      downw: w('downw'),
    });
  }
  const lnfw = req(NORM_NAME);
  const lmHead = cfg.tieWordEmbeddings ? wte : req(HEAD_NAME);
  return { wte, layers, lnfw, lmHead };
}

/** Upload every parameter of `weights` (checked against the config's shapes) into exactly sized tensors,
 * the weight matrices in `storage` (default f32). On failure nothing stays allocated. */
export function uploadParameters(
  pool: BufferPool,
  cfg: Qwen2Config,
  weights: WeightMap,
  storage: WeightDtype = 'f32',
): ParameterTensors {
  const uploaded = new Map<string, GpuTensor>();
  try {
    for (const [name, shape] of expectedParameters(cfg)) {
      if (name === HEAD_NAME && cfg.tieWordEmbeddings) continue;
      const isBias = name.endsWith('_proj.bias');
      const t = weights.get(name);
      if (!t) {
        if (isBias && !cfg.attentionBias) continue;
        throw new EngineError('tensor-missing', `GPU model: missing parameter ${name}`, { tensor: name });
      }
      const numel = shape.reduce((a, b) => a * b, 1);
      if (t.data.length !== numel) {
        throw new EngineError(
          'tensor-shape',
          `GPU model: ${name} has ${t.data.length} elements, expected ${numel}`,
          { tensor: name },
        );
      }
      const dtype = parameterDtype(shape, storage);
      uploaded.set(name, uploadWeight(pool, name, { kind: 'f32', data: t.data }, dtype));
    }
    return parameterTableFrom(cfg, (name) => uploaded.get(name) ?? null);
  } catch (e) {
    for (const t of uploaded.values()) pool.release(t);
    throw e;
  }
}

// ---- LoRA ----------------------------------------------------------------------------------------

export interface LoraPair {
  A: GpuTensor; // (r, IC)
  B: GpuTensor; // (OC, r)
}

/** The adapter on the GPU: y += scale · (x · Aᵀ) · Bᵀ on each adapted linear layer. */
export interface LoraTensors {
  r: number;
  scale: number;
  /** By base weight HF name (peft's keys). */
  pairs: ReadonlyMap<string, LoraPair>;
  /** The same pairs by layer and projection (absent: not adapted). */
  layers: Partial<Record<LinearKey, LoraPair>>[];
}

/** The adapter's gradients by layer and projection, as LoraTensors.layers. */
export type LoraGradients = Partial<Record<LinearKey, { dA: GpuTensor; dB: GpuTensor }>>[];

/** Each decoder projection's layer and slot, by HF name. */
function projectionSlots(L: number): Map<string, { l: number; key: LinearKey }> {
  const out = new Map<string, { l: number; key: LinearKey }>();
  for (let l = 0; l < L; l++) for (const key of LINEAR_KEYS) out.set(layerParamName(l, key), { l, key });
  return out;
}

/** Check every pair against the model: a 2-D weight of it, A (r, IC), B (OC, r). A pair on a weight that
 * is not a decoder projection (lm_head) is kept but, as in the CPU reference, not applied. */
export function checkLoraShapes(cfg: Qwen2Config, lora: LoraWeights): void {
  const shapes = expectedParameters(cfg);
  for (const [name, { A, B }] of lora.layers) {
    const shape = shapes.get(name);
    if (shape?.length !== 2)
      throw new EngineError('adapter-invalid', `LoRA: ${name} is not a linear weight of this model`, {
        tensor: name,
      });
    const [OC, IC] = shape;
    if (A.data.length !== lora.r * IC || B.data.length !== OC * lora.r) {
      throw new EngineError(
        'adapter-invalid',
        `LoRA ${name}: A must be [${lora.r}, ${IC}] and B [${OC}, ${lora.r}]`,
        { tensor: name },
      );
    }
  }
}

/** Upload a checked adapter (checkLoraShapes); on failure nothing stays allocated. */
export function uploadLora(pool: BufferPool, cfg: Qwen2Config, lora: LoraWeights): LoraTensors {
  const pairs = new Map<string, LoraPair>();
  try {
    for (const [name, { A, B }] of lora.layers) {
      pairs.set(name, {
        A: pool.upload(`${name} lora_A`, A.data),
        B: pool.upload(`${name} lora_B`, B.data),
      });
    }
  } catch (e) {
    releaseLoraPairs(pool, pairs.values());
    throw e;
  }
  const L = cfg.numHiddenLayers;
  const layers: Partial<Record<LinearKey, LoraPair>>[] = Array.from({ length: L }, () => ({}));
  for (const [name, slot] of projectionSlots(L)) {
    const pair = pairs.get(name);
    if (pair) layers[slot.l][slot.key] = pair;
  }
  return { r: lora.r, scale: lora.scale, pairs, layers };
}

export function releaseLoraPairs(pool: BufferPool, pairs: Iterable<LoraPair>): void {
  for (const { A, B } of pairs) {
    pool.release(A);
    pool.release(B);
  }
}
