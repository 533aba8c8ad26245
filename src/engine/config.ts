// Qwen2-family configuration: parsed from a Hugging Face config.json and validated.
import { EngineError } from './errors.ts';

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

function num(raw: Json, key: string, file: string): number {
  const v = raw[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new EngineError(
      'config-invalid',
      `${file}: field "${key}" must be a number, got ${JSON.stringify(v)}`,
      {
        file,
      },
    );
  }
  return v;
}

function positiveInt(raw: Json, key: string, file: string): number {
  const v = num(raw, key, file);
  if (!Number.isInteger(v) || v <= 0) {
    throw new EngineError('config-invalid', `${file}: field "${key}" must be a positive integer, got ${v}`, {
      file,
    });
  }
  return v;
}

function optionalId(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) ? v : null;
}

/** Parse a config.json object (already JSON-decoded). Accepts `rope_theta` at the top level (Hub files
 * written by transformers 4) or inside `rope_parameters` (transformers 5). */
export function parseQwen2Config(raw: unknown, file = 'config.json'): Qwen2Config {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new EngineError('config-invalid', `${file}: expected a JSON object`, { file });
  }
  const r = raw as Json;
  const modelType = r.model_type;
  if (modelType !== undefined && modelType !== 'qwen2') {
    throw new EngineError(
      'config-invalid',
      `${file}: model_type "${String(modelType)}" is not supported (only qwen2)`,
      {
        file,
      },
    );
  }
  const hiddenSize = positiveInt(r, 'hidden_size', file);
  const numAttentionHeads = positiveInt(r, 'num_attention_heads', file);
  const numKeyValueHeads =
    r.num_key_value_heads === undefined ? numAttentionHeads : positiveInt(r, 'num_key_value_heads', file);
  const headDim =
    r.head_dim === undefined || r.head_dim === null
      ? hiddenSize / numAttentionHeads
      : positiveInt(r, 'head_dim', file);
  if (!Number.isInteger(headDim)) {
    throw new EngineError(
      'config-invalid',
      `${file}: hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numAttentionHeads}`,
      { file },
    );
  }
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new EngineError(
      'config-invalid',
      `${file}: num_attention_heads ${numAttentionHeads} is not a multiple of num_key_value_heads ${numKeyValueHeads}`,
      { file },
    );
  }
  if (headDim % 2 !== 0) {
    throw new EngineError(
      'config-invalid',
      `${file}: head_dim ${headDim} must be even for rotary embeddings`,
      { file },
    );
  }
  const ropeParams = r.rope_parameters as Json | undefined;
  let ropeTheta: number;
  if (typeof r.rope_theta === 'number') ropeTheta = r.rope_theta;
  else if (ropeParams && typeof ropeParams.rope_theta === 'number') {
    if (ropeParams.rope_type !== undefined && ropeParams.rope_type !== 'default') {
      throw new EngineError(
        'config-invalid',
        `${file}: rope_type "${String(ropeParams.rope_type)}" is not supported (only default)`,
        { file },
      );
    }
    ropeTheta = ropeParams.rope_theta;
  } else ropeTheta = 10000; // transformers' Qwen2Config default
  const hiddenAct = r.hidden_act ?? 'silu';
  if (hiddenAct !== 'silu') {
    throw new EngineError(
      'config-invalid',
      `${file}: hidden_act "${String(hiddenAct)}" is not supported (only silu)`,
      { file },
    );
  }
  const eos = r.eos_token_id;
  const eosTokenIds = Array.isArray(eos)
    ? eos.filter((x): x is number => typeof x === 'number')
    : typeof eos === 'number'
      ? [eos]
      : [];
  return {
    vocabSize: positiveInt(r, 'vocab_size', file),
    hiddenSize,
    intermediateSize: positiveInt(r, 'intermediate_size', file),
    numHiddenLayers: positiveInt(r, 'num_hidden_layers', file),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: r.rms_norm_eps === undefined ? 1e-6 : num(r, 'rms_norm_eps', file),
    ropeTheta,
    tieWordEmbeddings: r.tie_word_embeddings === undefined ? false : r.tie_word_embeddings === true,
    maxPositionEmbeddings:
      r.max_position_embeddings === undefined ? 32768 : positiveInt(r, 'max_position_embeddings', file),
    bosTokenId: optionalId(r.bos_token_id),
    eosTokenIds,
    padTokenId: optionalId(r.pad_token_id),
    attentionBias: r.attention_bias === undefined ? true : r.attention_bias === true,
  };
}

/** HF parameter names and shapes the config requires (the `lm_head.weight` only when untied). */
export function expectedParameters(cfg: Qwen2Config): Map<string, number[]> {
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
