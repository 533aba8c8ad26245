// Qwen2-family configuration: parsed from a Hugging Face config.json and validated.
import { EngineError, jsonForMessage } from './errors.ts';

export interface Qwen2Config {
  vocabSize: number;
  hiddenSize: number; // C
  intermediateSize: number; // I (MLP)
  numHiddenLayers: number; // L
  numAttentionHeads: number; // H
  numKeyValueHeads: number; // KVH (grouped-query attention: H % KVH == 0)
  headDim: number; // D = C / H unless config.json says otherwise
  rmsNormEps: number;
  ropeTheta: number;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  /** Qwen2 always has q/k/v biases; kept as a field so a config can say otherwise. */
  attentionBias: boolean;
}

type Json = Record<string, unknown>;

/**
 * Upper bounds on config.json's sizes. Generous for every released Qwen2 / Qwen2.5 model (the 72B has 80
 * layers, hidden 8192, intermediate 29568, 64 heads; vocabularies are ~152k; contexts up to ~1M tokens),
 * and small enough that nothing built from a config (the expected-parameter list: ≤ 12 entries a layer,
 * the memory plan) can exhaust memory or time before the weights are read. Sizes start at 1.
 */
export const CONFIG_BOUNDS = {
  vocab_size: 2 ** 22,
  hidden_size: 65536,
  intermediate_size: 2 ** 18,
  num_hidden_layers: 1024,
  num_attention_heads: 1024,
  num_key_value_heads: 1024,
  head_dim: 1024,
  max_position_embeddings: 2 ** 24,
} as const;
type SizeField = keyof typeof CONFIG_BOUNDS;

/** Where each bounded size lives in a parsed config. */
const SIZE_FIELDS: [SizeField, keyof Qwen2Config][] = [
  ['vocab_size', 'vocabSize'],
  ['hidden_size', 'hiddenSize'],
  ['intermediate_size', 'intermediateSize'],
  ['num_hidden_layers', 'numHiddenLayers'],
  ['num_attention_heads', 'numAttentionHeads'],
  ['num_key_value_heads', 'numKeyValueHeads'],
  ['head_dim', 'headDim'],
  ['max_position_embeddings', 'maxPositionEmbeddings'],
];

function invalid(file: string, message: string): EngineError {
  return new EngineError('config-invalid', `${file}: ${message}`, { file });
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One line, whatever the value (long strings and objects cut short). */
function shown(v: unknown): string {
  const s = v === undefined ? 'nothing' : jsonForMessage(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** A size field: a JSON integer from 1 to its bound. */
function sizeField(raw: Json, key: SizeField, file: string): number {
  const v = raw[key];
  const max = CONFIG_BOUNDS[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw invalid(file, `field "${key}" must be an integer from 1 to ${max}, got ${shown(v)}`);
  }
  return v;
}

/** A positive finite real (rope_theta, rms_norm_eps), at most `max`. */
function positiveReal(v: unknown, key: string, file: string, max = Number.MAX_VALUE): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > max) {
    const range = max === Number.MAX_VALUE ? 'a finite number > 0' : `a number > 0 and ≤ ${max}`;
    throw invalid(file, `field "${key}" must be ${range}, got ${shown(v)}`);
  }
  return v;
}

/** A boolean field; absent or null means `fallback`. */
function flag(raw: Json, key: string, file: string, fallback: boolean): boolean {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw invalid(file, `field "${key}" must be true or false, got ${shown(v)}`);
  return v;
}

/** A token id: absent or null, or an integer inside the vocabulary. */
function tokenId(v: unknown, key: string, vocabSize: number, file: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= vocabSize) {
    throw invalid(
      file,
      `field "${key}" must be a token id from 0 to ${vocabSize - 1} (vocab_size ${vocabSize}), got ${shown(v)}`,
    );
  }
  return v;
}

function eosTokenIds(v: unknown, vocabSize: number, file: string): number[] {
  if (!Array.isArray(v)) {
    const one = tokenId(v, 'eos_token_id', vocabSize, file);
    return one === null ? [] : [one];
  }
  return v.map((x) => {
    const id = tokenId(x, 'eos_token_id', vocabSize, file);
    if (id === null) throw invalid(file, `field "eos_token_id" lists ${shown(x)}, not a token id`);
    return id;
  });
}

/** Settings the engine does not implement, refused rather than silently ignored. */
function refuseUnsupported(r: Json, file: string): void {
  const modelType = r.model_type;
  if (modelType !== undefined && modelType !== 'qwen2') {
    throw invalid(file, `model_type ${shown(modelType)} is not supported (only qwen2)`);
  }
  const hiddenAct = r.hidden_act ?? 'silu';
  if (hiddenAct !== 'silu')
    throw invalid(file, `hidden_act ${shown(hiddenAct)} is not supported (only silu)`);
  const scaling = r.rope_scaling;
  if (scaling !== undefined && scaling !== null) {
    const type = isObject(scaling) ? (scaling.rope_type ?? scaling.type) : undefined;
    if (type !== 'default') {
      throw invalid(
        file,
        `field "rope_scaling" ${shown(scaling)} is not supported (only plain RoPE: remove it or set it to null)`,
      );
    }
  }
  if (flag(r, 'use_sliding_window', file, false)) {
    throw invalid(
      file,
      'field "use_sliding_window" is true: sliding-window attention is not supported (only full attention)',
    );
  }
  const layerTypes = r.layer_types;
  if (layerTypes !== undefined && layerTypes !== null) {
    const other = Array.isArray(layerTypes) ? layerTypes.find((t) => t !== 'full_attention') : layerTypes;
    if (!Array.isArray(layerTypes) || other !== undefined) {
      throw invalid(
        file,
        `field "layer_types" has ${shown(other)}: only "full_attention" layers are supported`,
      );
    }
  }
}

/** rope_theta at the top level (transformers 4) or in rope_parameters (transformers 5); absent: 10000. */
function ropeTheta(r: Json, file: string): number {
  const params = r.rope_parameters;
  if (params !== undefined && params !== null) {
    if (!isObject(params))
      throw invalid(file, `field "rope_parameters" must be an object, got ${shown(params)}`);
    if (params.rope_type !== undefined && params.rope_type !== 'default') {
      throw invalid(file, `rope_type ${shown(params.rope_type)} is not supported (only default)`);
    }
  }
  if (r.rope_theta !== undefined) return positiveReal(r.rope_theta, 'rope_theta', file);
  if (isObject(params) && params.rope_theta !== undefined) {
    return positiveReal(params.rope_theta, 'rope_parameters.rope_theta', file);
  }
  return 10000; // transformers' Qwen2Config default
}

/** The attention shape: heads, key/value heads and the head size, checked against each other. */
function attentionShape(r: Json, hiddenSize: number, file: string) {
  const numAttentionHeads = sizeField(r, 'num_attention_heads', file);
  const numKeyValueHeads =
    r.num_key_value_heads === undefined ? numAttentionHeads : sizeField(r, 'num_key_value_heads', file);
  const headDim =
    r.head_dim === undefined || r.head_dim === null
      ? hiddenSize / numAttentionHeads
      : sizeField(r, 'head_dim', file);
  if (!Number.isInteger(headDim)) {
    throw invalid(
      file,
      `hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numAttentionHeads}`,
    );
  }
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw invalid(
      file,
      `num_attention_heads ${numAttentionHeads} is not a multiple of num_key_value_heads ${numKeyValueHeads}`,
    );
  }
  if (headDim % 2 !== 0) throw invalid(file, `head_dim ${headDim} must be even for rotary embeddings`);
  return { numAttentionHeads, numKeyValueHeads, headDim };
}

/**
 * Parse a config.json object (already JSON-decoded). Every field the engine uses is checked for type and
 * range (sizes within CONFIG_BOUNDS, token ids inside the vocabulary) before anything is built from it,
 * and settings it does not implement (rope_scaling, a sliding window, another activation) are refused:
 * EngineError('config-invalid') naming the file and the field.
 */
export function parseQwen2Config(raw: unknown, file = 'config.json'): Qwen2Config {
  if (!isObject(raw)) throw invalid(file, 'expected a JSON object');
  refuseUnsupported(raw, file);
  const hiddenSize = sizeField(raw, 'hidden_size', file);
  const vocabSize = sizeField(raw, 'vocab_size', file);
  return {
    vocabSize,
    hiddenSize,
    intermediateSize: sizeField(raw, 'intermediate_size', file),
    numHiddenLayers: sizeField(raw, 'num_hidden_layers', file),
    ...attentionShape(raw, hiddenSize, file),
    rmsNormEps:
      raw.rms_norm_eps === undefined ? 1e-6 : positiveReal(raw.rms_norm_eps, 'rms_norm_eps', file, 1),
    ropeTheta: ropeTheta(raw, file),
    tieWordEmbeddings: flag(raw, 'tie_word_embeddings', file, false),
    maxPositionEmbeddings:
      raw.max_position_embeddings === undefined ? 32768 : sizeField(raw, 'max_position_embeddings', file),
    bosTokenId: tokenId(raw.bos_token_id, 'bos_token_id', vocabSize, file),
    eosTokenIds: eosTokenIds(raw.eos_token_id, vocabSize, file),
    padTokenId: tokenId(raw.pad_token_id, 'pad_token_id', vocabSize, file),
    attentionBias: flag(raw, 'attention_bias', file, true),
  };
}

/** Why a parsed config is outside CONFIG_BOUNDS (one built in code rather than parsed), or null. */
export function configBoundsProblem(cfg: Qwen2Config): string | null {
  for (const [key, prop] of SIZE_FIELDS) {
    const v = cfg[prop];
    const max = CONFIG_BOUNDS[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
      return `${key} must be an integer from 1 to ${max}, got ${shown(v)}`;
    }
  }
  return null;
}

/**
 * The parameters as kinds: each layer's tensors once (layer 0's names) with how many layers hold them, the
 * rest once. Sizes summed from it cost the same for 2 layers or 1,024 (the page's memory check).
 */
export function parameterKinds(cfg: Qwen2Config): [name: string, shape: number[], count: number][] {
  const L = cfg.numHiddenLayers;
  return [...expectedParameters({ ...cfg, numHiddenLayers: Math.min(L, 1) })].map(([name, shape]) => [
    name,
    shape,
    name.startsWith('model.layers.') ? L : 1,
  ]);
}

/** HF parameter names and shapes the config requires (the `lm_head.weight` only when untied). */
export function expectedParameters(cfg: Qwen2Config): Map<string, number[]> {
  // A config built in code skips parseQwen2Config: refuse it here before a list is built from it.
  const problem = configBoundsProblem(cfg);
  if (problem) throw new EngineError('config-invalid', `config: ${problem}`);
  const {
    vocabSize: V,
    hiddenSize: C,
    intermediateSize: I,
    numAttentionHeads: H,
    numKeyValueHeads: KVH,
    headDim: D,
  } = cfg;
  const p = new Map<string, number[]>();
  p.set('model.embed_tokens.weight', [V, C]);
  for (let l = 0; l < cfg.numHiddenLayers; l++) {
    const pre = `model.layers.${l}`;
    p.set(`${pre}.input_layernorm.weight`, [C]);
    p.set(`${pre}.self_attn.q_proj.weight`, [H * D, C]);
    p.set(`${pre}.self_attn.k_proj.weight`, [KVH * D, C]);
    p.set(`${pre}.self_attn.v_proj.weight`, [KVH * D, C]);
    if (cfg.attentionBias) {
      p.set(`${pre}.self_attn.q_proj.bias`, [H * D]);
      p.set(`${pre}.self_attn.k_proj.bias`, [KVH * D]);
      p.set(`${pre}.self_attn.v_proj.bias`, [KVH * D]);
    }
    p.set(`${pre}.self_attn.o_proj.weight`, [C, H * D]);
    p.set(`${pre}.post_attention_layernorm.weight`, [C]);
    p.set(`${pre}.mlp.gate_proj.weight`, [I, C]);
    p.set(`${pre}.mlp.up_proj.weight`, [I, C]);
    p.set(`${pre}.mlp.down_proj.weight`, [C, I]);
  }
  p.set('model.norm.weight', [C]);
  if (!cfg.tieWordEmbeddings) p.set('lm_head.weight', [V, C]);
  return p;
}
