// The Engine's loaded model and how it gets there: a folder in the HF layout read whole (weights, the small
// text files an export carries, the tokenizer, an optional peft adapter) before the engine lets go of its
// current model, so a bad file leaves the old one working; plus the descriptions the page shows (ModelInfo,
// AdapterInfo).

import type { Backend } from '../engine/backend.ts';
import type { Qwen2Config } from '../engine/config.ts';
import type { EngineDevice } from '../engine/gpu/device.ts';
import { type LoraAdapter, loadLoraAdapter } from '../engine/model/lora.ts';
import { FileListModelSource, type ModelSource, subSource, UrlModelSource } from '../engine/model/source.ts';
import { Tokenizer } from '../engine/model/tokenizer.ts';
import { loadModel } from '../engine/model/weights.ts';
import type { WeightMap } from '../engine/tensor.ts';
import type { AdapterInfo, LoadOptions, ModelInfo, ModelLocation } from './api.ts';

/** The model the Engine holds: its files as read, the backend running them, and what the page is told. */
export interface LoadedState {
  label: string;
  config: Qwen2Config;
  weights: WeightMap;
  tokenizer: Tokenizer | null;
  adapter: LoraAdapter | null;
  backend: Backend;
  info: ModelInfo;
  /** The folder's small text files (config, generation config, tokenizer), kept for exports. */
  texts: Map<string, string>;
}

/** A model folder read into memory, not yet on a backend. */
export interface ModelFolder {
  label: string;
  config: Qwen2Config;
  weights: WeightMap;
  files: string[];
  tokenizer: Tokenizer | null;
  adapter: LoraAdapter | null;
  texts: Map<string, string>;
}

/** Files of a model folder an export of full fine-tuned weights carries beside model.safetensors. */
const FOLDER_TEXT_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
];

/** The source of a location: the caller's resolver (Node: local folders), else URL or picked files. */
export function modelSourceFor(
  location: ModelLocation,
  resolveSource?: (location: ModelLocation) => ModelSource,
): ModelSource {
  if (resolveSource) return resolveSource(location);
  if (location.kind === 'url') return new UrlModelSource(location.baseUrl);
  return new FileListModelSource(location.files);
}

/** Reads everything a load needs from `source`; the adapter from a sub-folder or a location of its own. */
export async function readModelFolder(
  source: ModelSource,
  opts: LoadOptions,
  resolve: (location: ModelLocation) => ModelSource,
): Promise<ModelFolder> {
  const loaded = await loadModel(source, { weightsFile: opts.weightsFile });
  const texts = new Map<string, string>();
  for (const name of FOLDER_TEXT_FILES) {
    const text = await source.readText(name);
    if (text !== null) texts.set(name, text);
  }
  let tokenizer: Tokenizer | null = null;
  if (texts.has('tokenizer.json')) tokenizer = await Tokenizer.fromSource(source);
  let adapter: LoraAdapter | null = null;
  if (opts.adapter !== undefined) {
    const adapterSource =
      typeof opts.adapter === 'string' ? subSource(source, opts.adapter) : resolve(opts.adapter);
    adapter = await loadLoraAdapter(adapterSource, loaded.config);
  }
  return {
    label: source.label,
    config: loaded.config,
    weights: loaded.weights,
    files: loaded.files,
    tokenizer,
    adapter,
    texts,
  };
}

/** What ModelInfo says of an adapter. */
export function adapterSummary(adapter: LoraAdapter): NonNullable<ModelInfo['adapter']> {
  return { r: adapter.r, alpha: adapter.alpha, targetModules: adapter.targetModules };
}

/** The page's description of a folder: sizes, files, and the EOS ids of the config and the tokenizer. */
export function modelInfoOf(folder: ModelFolder): ModelInfo {
  let numParameters = 0;
  for (const t of folder.weights.values()) numParameters += t.data.length;
  const eos = new Set<number>(folder.config.eosTokenIds);
  for (const id of folder.tokenizer?.eosTokenIds ?? []) eos.add(id);
  return {
    label: folder.label,
    config: folder.config,
    numParameters,
    weightBytes: numParameters * 4,
    files: folder.files,
    hasTokenizer: folder.tokenizer !== null,
    adapter: folder.adapter ? adapterSummary(folder.adapter) : null,
    chatTemplate: folder.tokenizer?.hasChatTemplate ?? false,
    eosTokenIds: [...eos],
  };
}

/** The adapter description of a WebGPU device. */
export function gpuAdapterInfo(dev: EngineDevice): AdapterInfo {
  return {
    backend: 'webgpu',
    vendor: dev.adapter.vendor,
    architecture: dev.adapter.architecture,
    description: dev.adapter.description || dev.adapter.device,
    isFallbackAdapter: dev.adapter.isFallbackAdapter,
    features: dev.adapter.features,
    maxStorageBufferBindingSize: dev.limits.maxStorageBufferBindingSize,
    maxBufferSize: dev.limits.maxBufferSize,
  };
}

/** The adapter description when the engine runs on the CPU reference. */
export function cpuAdapterInfo(): AdapterInfo {
  return {
    backend: 'cpu',
    vendor: 'cpu',
    architecture: 'javascript',
    description: 'CPU reference (no WebGPU): slower',
    isFallbackAdapter: true,
    features: [],
    maxStorageBufferBindingSize: 0,
    maxBufferSize: 0,
  };
}
