// peft LoRA adapters: adapter_config.json + adapter_model.safetensors, as `PeftModel.save_pretrained`
// writes them. Tensor keys in the file: `base_model.model.<module>.lora_A.weight` ([r, in]) and
// `.lora_B.weight` ([out, r]); in memory peft adds the adapter name (`.lora_A.default.weight`).
// The adapted weight is W + scale · B · A with scale = alpha / r (alpha / sqrt(r) with use_rslora).

import { counterUniform } from '../../mot/rng.ts';
import { expectedParameters, type Qwen2Config } from '../config.ts';
import { EngineError, jsonForMessage } from '../errors.ts';
import type { HostTensor, WeightMap } from '../tensor.ts';
import { parseSafetensors } from './safetensors.ts';
import { type ByteSource, safetensorsSource, sourceBytes } from './safetensorsStream.ts';
import { type ModelSource, readJson } from './source.ts';
import { TargetPattern, TargetPatternError } from './targetPattern.ts';

export interface LoraPair {
  /** [r, in] */
  A: HostTensor;
  /** [out, r] */
  B: HostTensor;
}

export interface LoraAdapter {
  r: number;
  alpha: number;
  /** alpha / r, or alpha / sqrt(r) when useRslora. */
  scale: number;
  useRslora: boolean;
  /** peft's target_modules (short names such as `q_proj`), or those found in the file when the config
   * gives a regular expression. */
  targetModules: string[];
  /** By base weight HF name, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  layers: Map<string, LoraPair>;
  /** base_model_name_or_path from adapter_config.json, when given. */
  baseModelName?: string | null;
}

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

export function loraScale(r: number, alpha: number, useRslora = false): number {
  return useRslora ? alpha / Math.sqrt(r) : alpha / r;
}

/** The key peft's saved file uses for a base weight's A or B, e.g.
 * `model.layers.0.mlp.up_proj.weight` → `base_model.model.model.layers.0.mlp.up_proj.lora_A.weight`. */
export function loraFileKey(baseName: string, which: 'A' | 'B'): string {
  return `base_model.model.${baseName.replace(/\.weight$/, '')}.lora_${which}.weight`;
}

function invalid(msg: string, where: { file?: string; tensor?: string } = {}): EngineError {
  return new EngineError('adapter-invalid', msg, where);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (isObject(v)) return Object.keys(v).length === 0;
  return false;
}

const KEY_RE = /^(?:base_model\.model\.)?(.+)\.lora_(A|B)(?:\.default)?\.weight$/;

/** Base weights an adapter may target: the model's 2-D linear weights (not the embedding). */
function linearWeights(config: Qwen2Config): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [name, shape] of expectedParameters(config)) {
    if (shape.length === 2 && name !== 'model.embed_tokens.weight') out.set(name, shape);
  }
  return out;
}

interface ParsedConfig {
  r: number;
  alpha: number;
  useRslora: boolean;
  targets: string[] | TargetPattern;
  baseModelName: string | null;
}

/** Largest rank accepted: far above any real adapter, low enough that r never sizes an absurd buffer. */
export const MAX_LORA_RANK = 65_536;
/** Largest |lora_alpha| accepted: real ones are at most a few thousand; 1e308 would overflow every weight. */
export const MAX_LORA_ALPHA = 1e6;

function parseAdapterConfig(raw: unknown): ParsedConfig {
  const f = ADAPTER_CONFIG;
  if (!isObject(raw)) throw invalid(`${f}: expected a JSON object`, { file: f });
  const peftType = raw.peft_type;
  if (peftType !== undefined && peftType !== 'LORA') {
    throw invalid(`${f}: peft_type "${String(peftType)}" is not supported (only LORA)`, { file: f });
  }
  const r = raw.r ?? 8;
  if (typeof r !== 'number' || !Number.isInteger(r) || r <= 0 || r > MAX_LORA_RANK) {
    throw invalid(`${f}: "r" must be an integer in 1..${MAX_LORA_RANK}, got ${jsonForMessage(raw.r)}`, {
      file: f,
    });
  }
  const alpha = raw.lora_alpha ?? 8;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0 || alpha > MAX_LORA_ALPHA) {
    throw invalid(
      `${f}: "lora_alpha" must be a number in (0, ${MAX_LORA_ALPHA}], got ${jsonForMessage(raw.lora_alpha)}`,
      { file: f },
    );
  }
  const refuse = (what: string) => {
    throw invalid(`${f}: ${what} is not supported`, { file: f });
  };
  if (raw.use_dora === true) refuse('DoRA (use_dora: true)');
  if (raw.bias !== undefined && raw.bias !== 'none') refuse(`bias "${String(raw.bias)}" (only "none")`);
  if (!isEmpty(raw.modules_to_save)) refuse(`modules_to_save ${jsonForMessage(raw.modules_to_save)}`);
  if (!isEmpty(raw.rank_pattern)) refuse('a per-module rank_pattern');
  if (!isEmpty(raw.alpha_pattern)) refuse('a per-module alpha_pattern');
  if (raw.fan_in_fan_out === true) refuse('fan_in_fan_out: true');
  if (raw.lora_bias === true) refuse('lora_bias: true');
  if (!isEmpty(raw.layer_replication)) refuse('layer_replication');
  if (!isEmpty(raw.target_parameters)) refuse('target_parameters');
  if (!isEmpty(raw.trainable_token_indices)) refuse('trainable_token_indices');
  if (raw.use_qalora === true) refuse('QALoRA (use_qalora: true)');
  if (!isEmpty(raw.alora_invocation_tokens)) refuse('activated LoRA (alora_invocation_tokens)');
  if (!isEmpty(raw.use_bdlora)) refuse('use_bdlora');
  const tm = raw.target_modules;
  let targets: string[] | TargetPattern;
  if (typeof tm === 'string') {
    try {
      targets = new TargetPattern(tm);
    } catch (e) {
      if (!(e instanceof TargetPatternError)) throw e;
      const shown = JSON.stringify(tm.length > 80 ? `${tm.slice(0, 80)}…` : tm);
      throw invalid(`${f}: target_modules ${shown} is not a supported regular expression (${e.message})`, {
        file: f,
      });
    }
  } else if (Array.isArray(tm) && tm.length > 0 && tm.every((t) => typeof t === 'string')) {
    targets = tm as string[];
  } else {
    throw invalid(`${f}: "target_modules" must be a list of module names or a regular expression`, {
      file: f,
    });
  }
  const base = raw.base_model_name_or_path;
  return {
    r,
    alpha,
    useRslora: raw.use_rslora === true,
    targets,
    baseModelName: typeof base === 'string' ? base : null,
  };
}

function targeted(module: string, targets: string[] | TargetPattern): boolean {
  if (targets instanceof TargetPattern) return targets.fullMatch(module);
  return targets.some((t) => module === t || module.endsWith(`.${t}`));
}

function shortName(module: string): string {
  return module.slice(module.lastIndexOf('.') + 1);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

/** NaN or ±Inf in an adapter tensor would turn every output of its layer into NaN (then token 0 forever). */
function refuseNonFinite(key: string, data: ArrayLike<number>): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw invalid(`${ADAPTER_WEIGHTS}: tensor "${key}" holds ${data[i]} at element ${i}`, {
        file: ADAPTER_WEIGHTS,
        tensor: key,
      });
    }
  }
}

const F32_MAX = 3.4028234663852886e38;

function maxAbs(data: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < data.length; i++) m = Math.max(m, Math.abs(data[i]));
  return m;
}

/** Refuses an adapter whose update scale · B · A could leave f32 range: each element is bounded by
 * scale · r · max|A| · max|B|, so a finite bound below f32's largest value guarantees a finite merge. */
function refuseOverflowingDelta(base: string, { A, B }: LoraPair, scale: number): void {
  const bound = scale * A.shape[0] * maxAbs(A.data) * maxAbs(B.data);
  if (!(bound <= F32_MAX)) {
    const key = loraFileKey(base, 'B');
    throw invalid(
      `${ADAPTER_WEIGHTS}: tensor "${key}" with its A and scale ${scale} could give updates up to ${bound.toExponential(2)}, beyond f32 range`,
      { file: ADAPTER_WEIGHTS, tensor: key },
    );
  }
}

/** Build an adapter from a decoded adapter_config.json and the bytes of adapter_model.safetensors,
 * checked against the base model's config. Throws EngineError('adapter-invalid') naming the file/tensor. */
export function parseLoraAdapter(
  rawConfig: unknown,
  safetensors: Uint8Array,
  config: Qwen2Config,
): LoraAdapter {
  const cfg = parseAdapterConfig(rawConfig);
  const f = ADAPTER_WEIGHTS;
  const tensors = parseSafetensors(safetensors, f);
  const linear = linearWeights(config);
  const halves = new Map<string, { A?: HostTensor; B?: HostTensor; keyA?: string; keyB?: string }>();
  for (const [key, t] of tensors) {
    if (key.includes('lora_magnitude_vector')) {
      throw invalid(`${f}: tensor "${key}" is a DoRA magnitude vector; DoRA is not supported`, {
        file: f,
        tensor: key,
      });
    }
    if (key.includes('lora_embedding_')) {
      throw invalid(`${f}: tensor "${key}" adapts an embedding; only linear layers are supported`, {
        file: f,
        tensor: key,
      });
    }
    const m = KEY_RE.exec(key);
    if (!m) {
      throw invalid(`${f}: tensor "${key}" is not a LoRA A/B weight (unsupported adapter contents)`, {
        file: f,
        tensor: key,
      });
    }
    const module = m[1];
    const base = `${module}.weight`;
    const baseShape = linear.get(base);
    if (!baseShape) {
      throw invalid(`${f}: tensor "${key}" adapts "${base}", which is not a linear weight of this model`, {
        file: f,
        tensor: key,
      });
    }
    if (!targeted(module, cfg.targets)) {
      throw invalid(
        `${f}: tensor "${key}" adapts "${module}", which target_modules in ${ADAPTER_CONFIG} does not name`,
        {
          file: f,
          tensor: key,
        },
      );
    }
    const [out, inp] = baseShape;
    const want = m[2] === 'A' ? [cfg.r, inp] : [out, cfg.r];
    if (!sameShape(t.shape, want)) {
      throw invalid(
        `${f}: tensor "${key}" has shape [${t.shape.join(', ')}], expected [${want.join(', ')}] (r = ${cfg.r}, ${base} is [${out}, ${inp}])`,
        { file: f, tensor: key },
      );
    }
    refuseNonFinite(key, t.data);
    const h = halves.get(base) ?? {};
    const host: HostTensor = { shape: t.shape, data: t.data };
    if (m[2] === 'A') {
      if (h.A) throw invalid(`${f}: tensor "${key}" duplicates "${h.keyA}"`, { file: f, tensor: key });
      h.A = host;
      h.keyA = key;
    } else {
      if (h.B) throw invalid(`${f}: tensor "${key}" duplicates "${h.keyB}"`, { file: f, tensor: key });
      h.B = host;
      h.keyB = key;
    }
    halves.set(base, h);
  }
  if (halves.size === 0) throw invalid(`${f}: no LoRA tensors found`, { file: f });
  const layers = new Map<string, LoraPair>();
  // Keep the model's parameter order.
  for (const base of linear.keys()) {
    const h = halves.get(base);
    if (!h) continue;
    if (!h.A || !h.B) {
      const missing = loraFileKey(base, h.A ? 'B' : 'A');
      throw invalid(`${f}: tensor "${missing}" is missing (its pair "${h.keyA ?? h.keyB}" is present)`, {
        file: f,
        tensor: missing,
      });
    }
    layers.set(base, { A: h.A, B: h.B });
  }
  const scale = loraScale(cfg.r, cfg.alpha, cfg.useRslora);
  for (const [base, pair] of layers) refuseOverflowingDelta(base, pair, scale);
  const targetModules = Array.isArray(cfg.targets)
    ? cfg.targets.slice()
    : [...new Set([...layers.keys()].map((b) => shortName(b.replace(/\.weight$/, ''))))];
  return {
    r: cfg.r,
    alpha: cfg.alpha,
    scale,
    useRslora: cfg.useRslora,
    targetModules,
    layers,
    baseModelName: cfg.baseModelName,
  };
}

/** Read `adapter_config.json` + `adapter_model.safetensors` from `source` (the adapter's folder). */
export async function loadLoraAdapter(source: ModelSource, config: Qwen2Config): Promise<LoraAdapter> {
  const raw = await readJson(source, ADAPTER_CONFIG, 'adapter-invalid');
  if (raw === null) {
    throw new EngineError('file-missing', `${ADAPTER_CONFIG} not found in ${source.label}`, {
      file: ADAPTER_CONFIG,
    });
  }
  const bytes = await source.readFile(ADAPTER_WEIGHTS);
  if (bytes === null) {
    throw new EngineError(
      'file-missing',
      `${ADAPTER_WEIGHTS} not found in ${source.label} (peft's older adapter_model.bin format is not supported)`,
      { file: ADAPTER_WEIGHTS },
    );
  }
  return parseLoraAdapter(raw, bytes, config);
}

/** W + scale · B · A for every adapted weight (f64 accumulation, one rounding). Returns a new map;
 * adapted tensors are new arrays, the others are the same HostTensor objects as in `weights`. */
export function mergeLora(weights: WeightMap, adapter: LoraAdapter): WeightMap {
  const out: WeightMap = new Map(weights);
  for (const [base, { A, B }] of adapter.layers) {
    const W = weights.get(base);
    if (!W) throw invalid(`mergeLora: the model has no weight "${base}"`, { tensor: base });
    const [o, n] = W.shape;
    const r = A.shape[0];
    if (W.shape.length !== 2 || !sameShape(A.shape, [r, n]) || !sameShape(B.shape, [o, r])) {
      throw invalid(
        `mergeLora: "${base}" is [${W.shape.join(', ')}] but A is [${A.shape.join(', ')}] and B is [${B.shape.join(', ')}]`,
        { tensor: base },
      );
    }
    const data = new Float32Array(o * n);
    const acc = new Float64Array(n);
    for (let i = 0; i < o; i++) {
      acc.fill(0);
      for (let k = 0; k < r; k++) {
        const b = B.data[i * r + k];
        if (b === 0) continue;
        const row = k * n;
        for (let j = 0; j < n; j++) acc[j] += b * A.data[row + j];
      }
      const w = i * n;
      for (let j = 0; j < n; j++) data[w + j] = W.data[w + j] + adapter.scale * acc[j];
    }
    out.set(base, { shape: [o, n], data });
  }
  return out;
}

/** Serialise an adapter in peft's format: adapter_config.json text and adapter_model.safetensors bytes
 * (F32, keys `base_model.model.<module>.lora_A.weight` / `.lora_B.weight`, as peft saves them). */
export function writeLoraAdapter(
  adapter: LoraAdapter,
  baseModelName: string | null,
): { configJson: string; safetensors: Uint8Array } {
  const { configJson, safetensors } = loraAdapterStream(adapter, baseModelName);
  return { configJson, safetensors: sourceBytes(safetensors) };
}

/** writeLoraAdapter with adapter_model.safetensors as pieces (one tensor at a time), for a streamed export. */
export function loraAdapterStream(
  adapter: LoraAdapter,
  baseModelName: string | null,
): { configJson: string; safetensors: ByteSource } {
  const tensors = new Map<string, HostTensor>();
  for (const [base, { A, B }] of adapter.layers) {
    tensors.set(loraFileKey(base, 'A'), A);
    tensors.set(loraFileKey(base, 'B'), B);
  }
  const safetensors = safetensorsSource(tensors, { format: 'pt' });
  // Keys sorted, as peft writes them (json.dumps(sort_keys=True, indent=2)).
  const config: Record<string, unknown> = {
    alpha_pattern: {},
    base_model_name_or_path: baseModelName,
    bias: 'none',
    exclude_modules: null,
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: adapter.alpha,
    lora_bias: false,
    lora_dropout: 0.0,
    modules_to_save: null,
    peft_type: 'LORA',
    r: adapter.r,
    rank_pattern: {},
    revision: null,
    target_modules: adapter.targetModules.slice(),
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: adapter.useRslora,
  };
  return { configJson: `${JSON.stringify(config, null, 2)}\n`, safetensors };
}

export interface NewLoraOptions {
  r: number;
  /** Default 2r (scale 2). */
  alpha?: number;
  /** Short module names; default the attention and MLP projections. */
  targetModules?: string[];
  seed?: number;
}

export const DEFAULT_LORA_TARGETS = [
  'q_proj',
  'k_proj',
  'v_proj',
  'o_proj',
  'gate_proj',
  'up_proj',
  'down_proj',
];

/**
 * A fresh adapter as peft's `init_lora_weights=True` makes one: A uniform in ±1/√in (kaiming-uniform with
 * a = √5), B zero — so the adapted model starts equal to the base model. Seeded (same seed → same A).
 */
export function createLoraAdapter(weights: WeightMap, options: NewLoraOptions): LoraAdapter {
  const r = options.r;
  if (!Number.isInteger(r) || r < 1)
    throw new EngineError('invalid-argument', `LoRA rank must be a positive integer, got ${r}`);
  const alpha = options.alpha ?? 2 * r;
  const targets = options.targetModules ?? DEFAULT_LORA_TARGETS;
  const seed = options.seed ?? 0;
  const layers = new Map<string, LoraPair>();
  let stream = 0;
  for (const [name, t] of weights) {
    const m = /\.([a-z_]+)\.weight$/.exec(name);
    if (!m || !targets.includes(m[1]) || t.shape.length !== 2) continue;
    const [out, inDim] = t.shape;
    const bound = 1 / Math.sqrt(inDim);
    const A = new Float32Array(r * inDim);
    const id = stream++;
    for (let i = 0; i < A.length; i++) A[i] = bound * (2 * counterUniform(seed, id, i) - 1);
    layers.set(name, {
      A: { shape: [r, inDim], data: A },
      B: { shape: [out, r], data: new Float32Array(out * r) },
    });
  }
  if (layers.size === 0)
    throw new EngineError(
      'invalid-argument',
      `LoRA: no weights match the target modules ${targets.join(', ')}`,
    );
  return { r, alpha, scale: loraScale(r, alpha), useRslora: false, targetModules: targets.slice(), layers };
}
