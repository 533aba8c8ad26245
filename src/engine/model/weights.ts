// Load a Qwen2 model saved in the Hugging Face layout: config.json (+ generation_config.json) and the
// weights as model.safetensors, or sharded (model.safetensors.index.json + model-0000i-of-0000n.safetensors),
// or a named file (e.g. model.bf16.safetensors). Checks every parameter against the config.
import { expectedParameters, parseQwen2Config, type Qwen2Config } from '../config.ts';
import { EngineError } from '../errors.ts';
import type { WeightMap } from '../tensor.ts';
import {
  isFloatDtype,
  parseSafetensors,
  readSafetensorsHeader,
  type SafetensorsDtype,
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

async function requireFile(source: ModelSource, name: string, what: string): Promise<Uint8Array> {
  const bytes = await source.readFile(name);
  if (bytes === null) {
    throw new EngineError('file-missing', `${name}: ${what} not found in ${source.label}`, { file: name });
  }
  return bytes;
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
    if (
      typeof shard !== 'string' ||
      shard === '' ||
      shard.startsWith('/') ||
      shard.split(/[\\/]/).includes('..')
    ) {
      throw new EngineError(
        'config-invalid',
        `${file}: weight_map entry for "${name}" is not a file name: ${JSON.stringify(shard)}`,
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

/** Check the config's sizes against what the weights say, with a message naming the field and the tensor. */
function checkConfigAgainstWeights(cfg: Qwen2Config, info: Map<string, TensorInfo>): void {
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
  if (layers > 0 && layers < cfg.numHiddenLayers) {
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

/**
 * Load config and weights from `source`. Throws EngineError: 'file-missing' (no config.json / weights /
 * a shard), 'config-invalid', 'config-mismatch' (config sizes contradict the tensors), 'tensor-missing',
 * 'tensor-shape', and the 'safetensors-*' codes for malformed files, each naming the file and tensor.
 */
export async function loadModel(source: ModelSource, opts: LoadModelOptions = {}): Promise<LoadedModel> {
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

  // Which files hold the weights, and (sharded) which tensor lives in which file.
  let plan: { file: string; bytes?: Uint8Array }[];
  let weightMap: Map<string, string> | null = null;
  let indexFile = '';
  if (opts.weightsFile && !opts.weightsFile.endsWith('.index.json')) {
    plan = [{ file: opts.weightsFile, bytes: await requireFile(source, opts.weightsFile, 'weights file') }];
  } else {
    let single: Uint8Array | null = null;
    if (!opts.weightsFile) single = await source.readFile(SINGLE);
    if (single !== null) plan = [{ file: SINGLE, bytes: single }];
    else {
      indexFile = opts.weightsFile ?? INDEX;
      const raw = await readJson(source, indexFile, 'config-invalid');
      if (raw === null) {
        const msg = opts.weightsFile
          ? `${indexFile}: weights index not found in ${source.label}`
          : await noWeightsMessage(source);
        throw new EngineError('file-missing', msg, { file: opts.weightsFile ?? SINGLE });
      }
      files.push(indexFile);
      weightMap = parseIndex(raw, indexFile);
      plan = [...new Set(weightMap.values())].map((file) => ({ file }));
    }
  }

  const expected = expectedParameters(config);
  const info = new Map<string, TensorInfo>();
  const decoded: WeightMap = new Map();
  const dtypes = new Set<SafetensorsDtype>();
  const unused: string[] = [];
  for (const step of plan) {
    const bytes =
      step.bytes ?? (await requireFile(source, step.file, `weights shard (listed in ${indexFile})`));
    files.push(step.file);
    const header = readSafetensorsHeader(bytes, step.file);
    const mine = (name: string) => weightMap === null || weightMap.get(name) === step.file;
    for (const e of header.tensors) {
      if (!mine(e.name)) {
        if (weightMap && !weightMap.has(e.name)) unused.push(e.name);
        continue;
      }
      info.set(e.name, { file: step.file, shape: e.shape });
      if (expected.has(e.name) && !isFloatDtype(e.dtype)) {
        throw new EngineError(
          'safetensors-dtype',
          `${step.file}: tensor "${e.name}" is stored as ${e.dtype}; model weights must be F32, F16 or BF16 (quantized models are not supported)`,
          { file: step.file, tensor: e.name },
        );
      }
      if (expected.has(e.name)) dtypes.add(e.dtype);
      else unused.push(e.name);
    }
    const tensors = parseSafetensors(bytes, step.file, {
      filter: (n) => expected.has(n) && mine(n),
      copy: opts.copy,
    });
    for (const [name, t] of tensors) decoded.set(name, { shape: t.shape, data: t.data });
  }

  checkConfigAgainstWeights(config, info);
  const weights: WeightMap = new Map();
  for (const [name, shape] of expected) {
    const t = decoded.get(name);
    if (!t) {
      const where = weightMap ? (weightMap.get(name) ?? indexFile) : plan[0].file;
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
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      const file = info.get(name)?.file ?? plan[0].file;
      throw new EngineError(
        'tensor-shape',
        `${file}: tensor "${name}" has shape ${shapeStr(t.shape)}, the config needs ${shapeStr(shape)}`,
        { file, tensor: name },
      );
    }
    weights.set(name, t);
  }
  return {
    config,
    rawConfig: rawConfig as Record<string, unknown>,
    weights,
    files,
    generationConfig,
    unusedTensors: unused,
    dtypes: [...dtypes],
  };
}
