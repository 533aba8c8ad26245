// Load a Qwen2 model saved in the Hugging Face layout: config.json (+ generation_config.json) and the
// weights as model.safetensors, or sharded (model.safetensors.index.json + model-0000i-of-0000n.safetensors),
// or a named file (e.g. model.bf16.safetensors). Checks every parameter against the config.
import { expectedParameters, parseQwen2Config, type Qwen2Config } from '../config.ts';
import { EngineError, jsonForMessage } from '../errors.ts';
import type { WeightMap } from '../tensor.ts';
import { type HalfDtype, unpackHalves } from './halfFloat.ts';
import {
  isFloatDtype,
  parseSafetensors,
  readSafetensorsHeader,
  type SafetensorsDtype,
  type SafetensorsFloatDtype,
  type SafetensorsHeader,
} from './safetensors.ts';
import { type ModelSource, readJson } from './source.ts';

export interface LoadModelOptions {
  /** Read this weights file instead of `model.safetensors` / `model.safetensors.index.json`: a single
   * safetensors file (e.g. `model.bf16.safetensors`) or a sharded index (a name ending in `.index.json`). */
  weightsFile?: string;
  /** Copy f32 data instead of viewing the downloaded file's buffer (see ParseSafetensorsOptions.copy). */
  copy?: boolean;
}

export interface LoadedModel {
  config: Qwen2Config;
  /** config.json as decoded JSON. */
  rawConfig: Record<string, unknown>;
  /** Exactly the parameters of expectedParameters(config), by HF name, in that order, as f32. */
  weights: WeightMap;
  /** Files read, in order (config.json, generation_config.json when present, index, weight files). */
  files: string[];
  generationConfig?: Record<string, unknown>;
  /** Tensors in the files that the model does not use (e.g. `model.layers.0.self_attn.rotary_emb.inv_freq`,
   * or `lm_head.weight` when the embeddings are tied); they are not decoded. */
  unusedTensors: string[];
  /** Dtypes the weights were stored in (converted to f32 on load). */
  dtypes: SafetensorsDtype[];
}

const CONFIG = 'config.json';
const GENERATION_CONFIG = 'generation_config.json';
const SINGLE = 'model.safetensors';
const INDEX = 'model.safetensors.index.json';

interface TensorInfo {
  file: string;
  shape: number[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function shapeStr(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

export async function requireFile(source: ModelSource, name: string, what: string): Promise<Uint8Array> {
  const bytes = await source.readFile(name);
  if (bytes === null) {
    throw new EngineError('file-missing', `${name}: ${what} not found in ${source.label}`, { file: name });
  }
  return bytes;
}

/** What a shard name may be: one plain file name (as the Hub writes them, `model-00001-of-00002.safetensors`):
 * no folder, no `..`, no leading dot, no escapes. */
const SHARD_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}\.safetensors$/;

/**
 * Whether `name` (from an index's weight_map) is a safe shard file name: checked after percent-decoding,
 * since a URL resolves `%2e%2e/` as `../`, and refused if decoding changes it at all (no `%`).
 */
export function isSafeShardName(name: unknown): name is string {
  if (typeof name !== 'string') return false;
  let decoded: string;
  try {
    decoded = decodeURIComponent(name);
  } catch {
    return false;
  }
  return decoded === name && SHARD_NAME.test(name) && !name.includes('..');
}

/** Parse a sharded index: tensor name → shard file. */
function parseIndex(raw: unknown, file: string): Map<string, string> {
  const wm = isObject(raw) ? raw.weight_map : undefined;
  if (!isObject(wm)) {
    throw new EngineError('config-invalid', `${file}: expected an object with a "weight_map" object`, {
      file,
    });
  }
  const out = new Map<string, string>();
  for (const [name, shard] of Object.entries(wm)) {
    if (!isSafeShardName(shard)) {
      throw new EngineError(
        'config-invalid',
        `${file}: weight_map entry for "${name}" is not a plain .safetensors file name: ${jsonForMessage(shard)}`,
        {
          file,
          tensor: name,
        },
      );
    }
    out.set(name, shard);
  }
  return out;
}

async function noWeightsMessage(source: ModelSource): Promise<string> {
  let msg = `no ${SINGLE} or ${INDEX} in ${source.label}`;
  if (source.list) {
    try {
      const names = await source.list();
      const st = names.filter((n) => n.endsWith('.safetensors') && !n.includes('/'));
      if (st.length > 0) msg += ` (found ${st.join(', ')}: name one as the weights file)`;
      else if (names.some((n) => n.endsWith('.bin') || n.endsWith('.pt') || n.endsWith('.gguf'))) {
        msg += ' (only safetensors weights are supported)';
      }
    } catch {
      // listing is a nicety for the message only
    }
  }
  return msg;
}

/**
 * Check the config's sizes against what the weights say, with a message naming the field and the tensor.
 * With `complete` false (headers of some files only), what more files could still supply is not checked.
 */
function checkConfigAgainstWeights(cfg: Qwen2Config, info: Map<string, TensorInfo>, complete: boolean): void {
  const mismatch = (name: string, msg: string): never => {
    const t = info.get(name);
    throw new EngineError('config-mismatch', `${CONFIG} contradicts the weights: ${msg}`, {
      file: t?.file,
      tensor: name,
    });
  };
  const embed = info.get('model.embed_tokens.weight');
  if (embed && embed.shape.length === 2) {
    const [v, c] = embed.shape;
    if (v !== cfg.vocabSize) {
      mismatch(
        'model.embed_tokens.weight',
        `vocab_size is ${cfg.vocabSize} but model.embed_tokens.weight in ${embed.file} has shape ${shapeStr(embed.shape)} (vocab ${v})`,
      );
    }
    if (c !== cfg.hiddenSize) {
      mismatch(
        'model.embed_tokens.weight',
        `hidden_size is ${cfg.hiddenSize} but model.embed_tokens.weight in ${embed.file} has shape ${shapeStr(embed.shape)} (hidden ${c})`,
      );
    }
  }
  let layers = 0;
  let layerTensor = '';
  for (const name of info.keys()) {
    const m = /^model\.layers\.(\d+)\./.exec(name);
    if (m && Number(m[1]) + 1 > layers) {
      layers = Number(m[1]) + 1;
      layerTensor = name;
    }
  }
  if (layers > cfg.numHiddenLayers) {
    mismatch(
      layerTensor,
      `num_hidden_layers is ${cfg.numHiddenLayers} but the weights have layers up to ${layers - 1} (${layerTensor} in ${info.get(layerTensor)?.file})`,
    );
  }
  // (With no layer tensors at all the file is more likely incomplete: the per-tensor check reports it.)
  if (complete && layers > 0 && layers < cfg.numHiddenLayers) {
    const t = `model.layers.${layers}.input_layernorm.weight`;
    throw new EngineError(
      'config-mismatch',
      `${CONFIG} contradicts the weights: num_hidden_layers is ${cfg.numHiddenLayers} but the weights have ${layers} layers (no model.layers.${layers}.*)`,
      { tensor: t },
    );
  }
  const rows = (name: string, field: string, want: number) => {
    const t = info.get(name);
    if (t && t.shape.length === 2 && t.shape[0] !== want) {
      mismatch(
        name,
        `${field} = ${want} but ${name} in ${t.file} has shape ${shapeStr(t.shape)} (${t.shape[0]} rows)`,
      );
    }
  };
  const D = cfg.headDim;
  rows(
    'model.layers.0.mlp.gate_proj.weight',
    `intermediate_size is ${cfg.intermediateSize}, so gate_proj rows`,
    cfg.intermediateSize,
  );
  rows(
    'model.layers.0.self_attn.q_proj.weight',
    `num_attention_heads ${cfg.numAttentionHeads} × head_dim ${D}`,
    cfg.numAttentionHeads * D,
  );
  rows(
    'model.layers.0.self_attn.k_proj.weight',
    `num_key_value_heads ${cfg.numKeyValueHeads} × head_dim ${D}`,
    cfg.numKeyValueHeads * D,
  );
}

/** config.json (parsed and checked) and generation_config.json, as every loader reads them first. */
export interface FolderConfig {
  config: Qwen2Config;
  rawConfig: Record<string, unknown>;
  generationConfig?: Record<string, unknown>;
  /** Files read so far (config.json, generation_config.json when present). */
  files: string[];
}

export async function readFolderConfig(source: ModelSource): Promise<FolderConfig> {
  const files: string[] = [];
  const rawConfig = await readJson(source, CONFIG, 'config-invalid');
  if (rawConfig === null) {
    throw new EngineError('file-missing', `${CONFIG} not found in ${source.label}`, { file: CONFIG });
  }
  files.push(CONFIG);
  const config = parseQwen2Config(rawConfig, CONFIG);
  const gen = await readJson(source, GENERATION_CONFIG, 'config-invalid');
  let generationConfig: Record<string, unknown> | undefined;
  if (gen !== null) {
    if (!isObject(gen)) {
      throw new EngineError('config-invalid', `${GENERATION_CONFIG}: expected a JSON object`, {
        file: GENERATION_CONFIG,
      });
    }
    generationConfig = gen;
    files.push(GENERATION_CONFIG);
  }
  return { config, rawConfig: rawConfig as Record<string, unknown>, generationConfig, files };
}

/** Which files hold the weights and (sharded) which tensor lives in which file. `got` is what the probe
 * of a single file returned (its bytes, or its first bytes), so the caller need not read it again. */
export interface WeightFilesPlan<T> {
  steps: { file: string; got?: T }[];
  weightMap: Map<string, string> | null;
  indexFile: string;
}

/**
 * Find the weights: `opts.weightsFile` (a file or an index), else model.safetensors, else the sharded
 * index. `probe(name)` reads (part of) a weights file, null when absent; the index is pushed on `files`.
 */
export async function planWeightFiles<T>(
  source: ModelSource,
  opts: LoadModelOptions,
  files: string[],
  probe: (name: string) => Promise<T | null>,
): Promise<WeightFilesPlan<T>> {
  if (opts.weightsFile && !opts.weightsFile.endsWith('.index.json')) {
    const got = await probe(opts.weightsFile);
    if (got === null) {
      throw new EngineError(
        'file-missing',
        `${opts.weightsFile}: weights file not found in ${source.label}`,
        {
          file: opts.weightsFile,
        },
      );
    }
    return { steps: [{ file: opts.weightsFile, got }], weightMap: null, indexFile: '' };
  }
  if (!opts.weightsFile) {
    const single = await probe(SINGLE);
    if (single !== null) return { steps: [{ file: SINGLE, got: single }], weightMap: null, indexFile: '' };
  }
  const indexFile = opts.weightsFile ?? INDEX;
  const raw = await readJson(source, indexFile, 'config-invalid');
  if (raw === null) {
    const msg = opts.weightsFile
      ? `${indexFile}: weights index not found in ${source.label}`
      : await noWeightsMessage(source);
    throw new EngineError('file-missing', msg, { file: opts.weightsFile ?? SINGLE });
  }
  files.push(indexFile);
  const weightMap = parseIndex(raw, indexFile);
  return { steps: [...new Set(weightMap.values())].map((file) => ({ file })), weightMap, indexFile };
}

/** An expected parameter as its file's header describes it (`begin`/`end`: bytes of the data section). */
export interface ParameterEntry {
  name: string;
  file: string;
  dtype: SafetensorsFloatDtype;
  shape: number[];
  /** Byte range of the tensor in its file (data section offset included). */
  start: number;
  end: number;
}

function checkShape(t: ParameterEntry, shape: number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
    throw new EngineError(
      'tensor-shape',
      `${t.file}: tensor "${t.name}" has shape ${shapeStr(t.shape)}, the config needs ${shapeStr(shape)}`,
      { file: t.file, tensor: t.name },
    );
  }
}

/** Index of the first NaN or ±Infinity in `data`, or -1. */
export function firstNonFinite(data: Float32Array): number {
  // On the bits (exponent all ones), as for 16-bit weights: integer tests run faster than float ones.
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < bits.length; i++) if ((bits[i] & 0x7f800000) === 0x7f800000) return i;
  return -1;
}

/** Index of the first NaN or ±Infinity among 16-bit patterns (exponent bits all ones), or -1. */
export function firstNonFiniteHalf(bits: Uint16Array, dtype: HalfDtype, numel = bits.length): number {
  const exponent = dtype === 'f16' ? 0x7c00 : 0x7f80;
  for (let i = 0; i < numel; i++) if ((bits[i] & exponent) === exponent) return i;
  return -1;
}

/** EngineError('tensor-non-finite') for element `index` (flat) of a weight, naming the file and tensor. */
export function nonFiniteWeight(file: string, tensor: string, index: number, value: number): EngineError {
  return new EngineError(
    'tensor-non-finite',
    `${file}: tensor "${tensor}" holds ${value} at element ${index}; the weights are corrupt (NaN or infinite values)`,
    { file, tensor },
  );
}

/** Throw nonFiniteWeight when an f32 weight holds NaN or ±Infinity. */
export function checkFiniteF32(file: string, tensor: string, data: Float32Array): void {
  const i = firstNonFinite(data);
  if (i >= 0) throw nonFiniteWeight(file, tensor, i, data[i]);
}

/** Throw nonFiniteWeight when a 16-bit weight holds NaN or ±Infinity. */
export function checkFiniteHalf(
  file: string,
  tensor: string,
  bits: Uint16Array,
  dtype: HalfDtype,
  numel = bits.length,
): void {
  const i = firstNonFiniteHalf(bits, dtype, numel);
  if (i >= 0) throw nonFiniteWeight(file, tensor, i, unpackHalves(bits.subarray(i, i + 1), dtype)[0]);
}

/**
 * The checks every loader makes on the safetensors headers, file by file (add), then once over all
 * of them (finish): parameter dtypes, unused tensors, config against weights, missing tensors, shapes.
 */
export class HeaderCheck {
  readonly expected: Map<string, number[]>;
  private readonly info = new Map<string, TensorInfo>();
  private readonly entries = new Map<string, ParameterEntry>();
  readonly dtypes = new Set<SafetensorsDtype>();
  readonly unused: string[] = [];

  constructor(
    readonly config: Qwen2Config,
    private readonly plan: WeightFilesPlan<unknown>,
  ) {
    this.expected = expectedParameters(config);
  }

  /** Whether `name` is read from `file` (sharded: the index says so). */
  mine(name: string, file: string): boolean {
    return this.plan.weightMap === null || this.plan.weightMap.get(name) === file;
  }

  add(header: SafetensorsHeader, file: string): void {
    const weightMap = this.plan.weightMap;
    for (const e of header.tensors) {
      if (!this.mine(e.name, file)) {
        if (weightMap && !weightMap.has(e.name)) this.unused.push(e.name);
        continue;
      }
      this.info.set(e.name, { file, shape: e.shape });
      if (!this.expected.has(e.name)) {
        this.unused.push(e.name);
        continue;
      }
      if (!isFloatDtype(e.dtype)) {
        throw new EngineError(
          'safetensors-dtype',
          `${file}: tensor "${e.name}" is stored as ${e.dtype}; model weights must be F32, F16 or BF16 (quantized models are not supported)`,
          { file, tensor: e.name },
        );
      }
      this.dtypes.add(e.dtype);
      const start = header.dataOffset + e.begin;
      this.entries.set(e.name, {
        name: e.name,
        file,
        dtype: e.dtype,
        shape: e.shape,
        start,
        end: start + e.end - e.begin,
      });
    }
    // Before any tensor of this file is decoded: the config against what the headers read so far say.
    checkConfigAgainstWeights(this.config, this.info, false);
    for (const t of this.entries.values()) if (t.file === file) checkShape(t, this.expected.get(t.name)!);
  }

  /** Every expected parameter's entry, in expectedParameters order; throws as loadModel documents. */
  finish(): ParameterEntry[] {
    checkConfigAgainstWeights(this.config, this.info, true);
    const { weightMap, indexFile, steps } = this.plan;
    const out: ParameterEntry[] = [];
    for (const [name, shape] of this.expected) {
      const t = this.entries.get(name);
      if (!t) {
        const where = weightMap ? (weightMap.get(name) ?? indexFile) : steps[0].file;
        const listed = weightMap && !weightMap.has(name) ? ` (not listed in ${indexFile})` : '';
        const hint =
          name === 'lm_head.weight'
            ? ' (config.json has tie_word_embeddings false, so the model needs it)'
            : '';
        throw new EngineError('tensor-missing', `${where}: tensor "${name}" is missing${listed}${hint}`, {
          file: where,
          tensor: name,
        });
      }
      checkShape(t, shape);
      out.push(t);
    }
    return out;
  }
}

/**
 * Load config and weights from `source`. Throws EngineError: 'file-missing' (no config.json / weights /
 * a shard), 'config-invalid', 'config-mismatch' (config sizes contradict the tensors), 'tensor-missing',
 * 'tensor-shape', 'tensor-non-finite' (a NaN or infinite weight), and the 'safetensors-*' codes for malformed files, each naming the file and tensor.
 */
export async function loadModel(source: ModelSource, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const { config, rawConfig, generationConfig, files } = await readFolderConfig(source);
  const plan = await planWeightFiles(source, opts, files, (name) => source.readFile(name));
  const check = new HeaderCheck(config, plan);
  const decoded: WeightMap = new Map();
  for (const step of plan.steps) {
    const bytes =
      step.got ?? (await requireFile(source, step.file, `weights shard (listed in ${plan.indexFile})`));
    files.push(step.file);
    check.add(readSafetensorsHeader(bytes, step.file), step.file);
    const tensors = parseSafetensors(bytes, step.file, {
      filter: (n) => check.expected.has(n) && check.mine(n, step.file),
      copy: opts.copy,
    });
    for (const [name, t] of tensors) {
      checkFiniteF32(step.file, name, t.data);
      decoded.set(name, { shape: t.shape, data: t.data });
    }
  }
  const weights: WeightMap = new Map();
  for (const e of check.finish()) weights.set(e.name, decoded.get(e.name)!);
  return {
    config,
    rawConfig,
    weights,
    files,
    generationConfig,
    unusedTensors: check.unused,
    dtypes: [...check.dtypes],
  };
}
