// The Engine's loaded model and how it gets there: a folder in the HF layout (weights, the small text files
// an export carries, the tokenizer, an optional peft adapter) read before the engine lets go of its current
// model, so a bad file leaves the old one working — on the CPU read whole, on WebGPU streamed tensor by
// tensor onto the device (weights kept 16-bit there when asked, with no host copy then); plus the
// descriptions the page shows (ModelInfo, AdapterInfo).

import type { Backend } from '../engine/backend.ts';
import { expectedParameters, type Qwen2Config } from '../engine/config.ts';
import { CpuBackend } from '../engine/cpuBackend.ts';
import type { WeightDtype } from '../engine/gpu/buffers.ts';
import type { EngineDevice } from '../engine/gpu/device.ts';
import { resolveWeightDtype, streamModelToGpu } from '../engine/gpu/streamLoad.ts';
import { GpuBackend } from '../engine/gpuBackend.ts';
import { type LoraAdapter, loadLoraAdapter } from '../engine/model/lora.ts';
import { FileListModelSource, type ModelSource, subSource, UrlModelSource } from '../engine/model/source.ts';
import { openModelStream } from '../engine/model/stream.ts';
import { checkTokenizerFitsModel, Tokenizer } from '../engine/model/tokenizer.ts';
import { loadModel } from '../engine/model/weights.ts';
import type { WeightMap } from '../engine/tensor.ts';
import type { AdapterInfo, LoadOptions, ModelInfo, ModelLocation } from './api.ts';

/** The model the Engine holds: its files as read, the backend running them, and what the page is told. */
export interface LoadedState {
  label: string;
  config: Qwen2Config;
  /** The f32 parameters on the host; null for a model streamed to the GPU in 16 bits (no host copy). */
  weights: WeightMap | null;
  tokenizer: Tokenizer | null;
  adapter: LoraAdapter | null;
  backend: Backend;
  info: ModelInfo;
  /** The folder's small text files (config, generation config, tokenizer), kept for exports. */
  texts: Map<string, string>;
  /** A copy of `weights` as loaded, taken before the CPU policy first trains them in place (so a later run
   * can start from the base model again). */
  base?: WeightMap;
  /** `adapter` was made by a LoRA run (not loaded with the model): a run from the base drops it. */
  runAdapter?: boolean;
}

/** A model folder loaded onto its backend (not yet the Engine's model). */
export interface ModelFolder {
  label: string;
  config: Qwen2Config;
  /** As LoadedState.weights. */
  weights: WeightMap | null;
  files: string[];
  tokenizer: Tokenizer | null;
  adapter: LoraAdapter | null;
  texts: Map<string, string>;
  backend: Backend;
  /** How the weight matrices are stored where the model runs (the CPU: always f32). */
  weightDtype: WeightDtype;
  /** Bytes the parameters take there. */
  weightBytes: number;
  /** The dtypes of the checkpoint's parameters (F32, F16, BF16). */
  checkpointDtypes: string[];
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

/** The folder's small files and the adapter: what a load reads besides the weights. */
async function readFolderExtras(
  source: ModelSource,
  config: Qwen2Config,
  opts: LoadOptions,
  resolve: (location: ModelLocation) => ModelSource,
): Promise<Pick<ModelFolder, 'texts' | 'tokenizer' | 'adapter'>> {
  const texts = new Map<string, string>();
  for (const name of FOLDER_TEXT_FILES) {
    const text = await source.readText(name);
    if (text !== null) texts.set(name, text);
  }
  let tokenizer: Tokenizer | null = null;
  if (texts.has('tokenizer.json')) {
    tokenizer = await Tokenizer.fromSource(source);
    checkTokenizerFitsModel(tokenizer, config.vocabSize);
  }
  let adapter: LoraAdapter | null = null;
  if (opts.adapter !== undefined) {
    const adapterSource =
      typeof opts.adapter === 'string' ? subSource(source, opts.adapter) : resolve(opts.adapter);
    adapter = await loadLoraAdapter(adapterSource, config);
  }
  return { texts, tokenizer, adapter };
}

/**
 * Loads the folder onto a backend. With a GPU device the weights stream onto it tensor by tensor in the
 * storage dtype of `opts.weightDtype` (refused from the headers with EngineError('model-too-large') before
 * any upload when they cannot fit), keeping an f32 host copy only for f32 storage; without one the folder
 * is read whole onto the CPU reference.
 */
export async function readModelFolder(
  source: ModelSource,
  opts: LoadOptions,
  resolve: (location: ModelLocation) => ModelSource,
  gpu: EngineDevice | null = null,
): Promise<ModelFolder> {
  if (!gpu) {
    const loaded = await loadModel(source, { weightsFile: opts.weightsFile });
    const extras = await readFolderExtras(source, loaded.config, opts, resolve);
    const numel = [...loaded.weights.values()].reduce((a, t) => a + t.data.length, 0);
    return {
      label: source.label,
      config: loaded.config,
      weights: loaded.weights,
      files: loaded.files,
      ...extras,
      backend: new CpuBackend(loaded.config, loaded.weights, extras.adapter),
      weightDtype: 'f32',
      weightBytes: numel * 4,
      checkpointDtypes: loaded.dtypes,
    };
  }
  const stream = await openModelStream(source, { weightsFile: opts.weightsFile });
  const extras = await readFolderExtras(source, stream.config, opts, resolve);
  const storage = resolveWeightDtype(opts.weightDtype ?? 'auto', stream.parameters);
  const { model, host, plan } = await streamModelToGpu(gpu, stream, {
    weightDtype: storage,
    lora: extras.adapter,
    keepHost: storage === 'f32',
    memoryBytes: opts.memoryBytes,
  });
  return {
    label: source.label,
    config: stream.config,
    weights: host,
    files: stream.files,
    ...extras,
    backend: GpuBackend.fromModel(model),
    weightDtype: storage,
    weightBytes: plan.totalBytes,
    checkpointDtypes: stream.dtypes,
  };
}

/** What ModelInfo says of an adapter. */
export function adapterSummary(adapter: LoraAdapter): NonNullable<ModelInfo['adapter']> {
  return { r: adapter.r, alpha: adapter.alpha, targetModules: adapter.targetModules };
}

/** The page's description of a folder: sizes, files, and the EOS ids of the config and the tokenizer. */
export function modelInfoOf(folder: ModelFolder): ModelInfo {
  let numParameters = 0;
  for (const shape of expectedParameters(folder.config).values())
    numParameters += shape.reduce((a, b) => a * b, 1);
  const eos = new Set<number>(folder.config.eosTokenIds);
  for (const id of folder.tokenizer?.eosTokenIds ?? []) eos.add(id);
  return {
    label: folder.label,
    config: folder.config,
    numParameters,
    weightBytes: folder.weightBytes,
    weightDtype: folder.weightDtype,
    checkpointDtypes: folder.checkpointDtypes,
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
