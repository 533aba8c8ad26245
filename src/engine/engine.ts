// The engine behind EngineApi: loads a model in the HF layout, runs it on WebGPU (or the CPU reference
// when WebGPU is missing), and generates text token by token. DOM-free: the same class runs in a module
// Web Worker (exposed with comlink) and in Node, with the GPU (`navigator.gpu` or npm `webgpu`) injected.
import type {
  AdapterInfo,
  BackendKind,
  EngineApi,
  GenerateOptions,
  GenerateResult,
  LoadOptions,
  ModelInfo,
  ModelLocation,
  ScoreResult,
  TokenEvent,
} from './api.ts';
import type { Backend } from './backend.ts';
import type { Qwen2Config } from './config.ts';
import { CpuBackend } from './cpuBackend.ts';
import { EngineError } from './errors.ts';
import { type EngineDevice, requestEngineDevice } from './gpu/device.ts';
import { GpuBackend } from './gpuBackend.ts';
import { type LoraAdapter, loadLoraAdapter } from './model/lora.ts';
import { FileListModelSource, type ModelSource, subSource, UrlModelSource } from './model/source.ts';
import { Tokenizer } from './model/tokenizer.ts';
import { loadModel } from './model/weights.ts';
import { entropyForward, gatherLogprobsForward } from './ref/logits.ts';
import type { WeightMap } from './tensor.ts';

export interface EngineOptions {
  /** The WebGPU entry point (`navigator.gpu` in a browser, `create([])` from npm `webgpu` in Node). */
  gpu?: GPU | null;
  /** Resolve a ModelLocation to a source (Node passes DirModelSource for local folders). */
  resolveSource?: (location: ModelLocation) => ModelSource;
}

interface LoadedState {
  label: string;
  config: Qwen2Config;
  weights: WeightMap;
  tokenizer: Tokenizer | null;
  adapter: LoraAdapter | null;
  backend: Backend;
  info: ModelInfo;
}

export class Engine implements EngineApi {
  private gpuDevice: EngineDevice | null = null;
  private adapterInfo: AdapterInfo | null = null;
  private model: LoadedState | null = null;
  private cancelRequested = false;
  private deviceLost: EngineError | null = null;

  constructor(private readonly options: EngineOptions = {}) {}

  async init(opts: { backend?: 'auto' | BackendKind } = {}): Promise<AdapterInfo> {
    const want = opts.backend ?? 'auto';
    if (want !== 'cpu' && this.options.gpu) {
      try {
        const dev = await requestEngineDevice(this.options.gpu, {
          onLost: (err) => {
            this.deviceLost = err;
          },
        });
        this.gpuDevice = dev;
        this.adapterInfo = {
          backend: 'webgpu',
          vendor: dev.adapter.vendor,
          architecture: dev.adapter.architecture,
          description: dev.adapter.description || dev.adapter.device,
          isFallbackAdapter: dev.adapter.isFallbackAdapter,
          features: dev.adapter.features,
          maxStorageBufferBindingSize: dev.limits.maxStorageBufferBindingSize,
          maxBufferSize: dev.limits.maxBufferSize,
        };
        return this.adapterInfo;
      } catch (e) {
        if (want === 'webgpu') throw e;
      }
    } else if (want === 'webgpu') {
      throw new EngineError('webgpu-unavailable', 'WebGPU is not available here (no navigator.gpu).');
    }
    this.adapterInfo = {
      backend: 'cpu',
      vendor: 'cpu',
      architecture: 'javascript',
      description: 'CPU reference (no WebGPU): slower',
      isFallbackAdapter: true,
      features: [],
      maxStorageBufferBindingSize: 0,
      maxBufferSize: 0,
    };
    return this.adapterInfo;
  }

  async loadModel(location: ModelLocation, opts: LoadOptions = {}): Promise<ModelInfo> {
    const source = this.sourceFor(location);
    // Load everything before touching the current model, so a bad file leaves the old one working.
    const loaded = await loadModel(source, { weightsFile: opts.weightsFile });
    let tokenizer: Tokenizer | null = null;
    if ((await source.readText('tokenizer.json')) !== null) tokenizer = await Tokenizer.fromSource(source);
    let adapter: LoraAdapter | null = null;
    if (opts.adapter !== undefined) {
      const adapterSource =
        typeof opts.adapter === 'string' ? subSource(source, opts.adapter) : this.sourceFor(opts.adapter);
      adapter = await loadLoraAdapter(adapterSource, loaded.config);
    }
    const backend = await this.createBackend(loaded.config, loaded.weights, adapter);
    await this.unloadModel();
    let numParameters = 0;
    for (const t of loaded.weights.values()) numParameters += t.data.length;
    const eos = new Set<number>(loaded.config.eosTokenIds);
    for (const id of tokenizer?.eosTokenIds ?? []) eos.add(id);
    const info: ModelInfo = {
      label: source.label,
      config: loaded.config,
      numParameters,
      weightBytes: numParameters * 4,
      files: loaded.files,
      hasTokenizer: tokenizer !== null,
      adapter: adapter ? { r: adapter.r, alpha: adapter.alpha, targetModules: adapter.targetModules } : null,
      chatTemplate: tokenizer?.hasChatTemplate ?? false,
      eosTokenIds: [...eos],
    };
    this.model = {
      label: source.label,
      config: loaded.config,
      weights: loaded.weights,
      tokenizer,
      adapter,
      backend,
      info,
    };
    return info;
  }

  async unloadModel(): Promise<void> {
    this.model?.backend.dispose();
    this.model = null;
  }

  async tokenize(text: string, opts: { chat?: boolean } = {}): Promise<number[]> {
    const tok = this.requireTokenizer();
    if (opts.chat && tok.hasChatTemplate) {
      return tok.encode(
        tok.applyChatTemplate([{ role: 'user', content: text }], { addGenerationPrompt: true }),
        {
          addSpecialTokens: false,
        },
      );
    }
    return tok.encode(text);
  }

  async detokenize(ids: number[]): Promise<string> {
    return this.requireTokenizer().decode(ids);
  }

  async score(ids: number[]): Promise<ScoreResult> {
    const m = this.requireModel();
    const T = ids.length;
    const V = m.config.vocabSize;
    const { logits } = await m.backend.forward({ kind: 'ids', ids }, 1, T, { lora: m.adapter !== null });
    const logprobs = new Float32Array(Math.max(0, T - 1));
    gatherLogprobsForward(logprobs, logits, ids.slice(1), T - 1, V);
    const entropy = new Float32Array(T);
    entropyForward(entropy, logits, T, V);
    return { logprobs: Array.from(logprobs), entropy: Array.from(entropy) };
  }

  async generate(
    prompt: string | number[],
    opts: GenerateOptions,
    onToken?: (ev: TokenEvent) => void | Promise<void>,
  ): Promise<GenerateResult> {
    const m = this.requireModel();
    this.throwIfLost();
    if (!(opts.maxNewTokens >= 1))
      throw new EngineError('invalid-argument', `maxNewTokens must be ≥ 1, got ${opts.maxNewTokens}`);
    const temperature = opts.temperature ?? 1;
    if (!(temperature >= 0))
      throw new EngineError('invalid-argument', `temperature must be ≥ 0, got ${temperature}`);
    const greedy = opts.greedy === true || temperature === 0;
    const tok = m.tokenizer;
    let promptIds: number[];
    if (typeof prompt === 'string') {
      const useChat = opts.chat ?? tok?.hasChatTemplate ?? false;
      promptIds = await this.tokenize(prompt, { chat: useChat });
    } else promptIds = prompt.slice();
    if (promptIds.length === 0) throw new EngineError('invalid-argument', 'the prompt is empty');
    const capacity = Math.min(promptIds.length + opts.maxNewTokens, m.config.maxPositionEmbeddings);
    if (promptIds.length >= capacity) {
      throw new EngineError(
        'invalid-argument',
        `the prompt (${promptIds.length} tokens) leaves no room under max_position_embeddings ${m.config.maxPositionEmbeddings}`,
      );
    }
    const eos = new Set(m.info.eosTokenIds);
    const lora = m.adapter !== null && opts.useAdapter !== false;
    const seed = opts.seed ?? 0;
    const decoder = tok?.streamDecoder({ skipSpecialTokens: false });
    this.cancelRequested = false;

    const cache = m.backend.createCache(1, capacity);
    const ids: number[] = [];
    let stopReason: GenerateResult['stopReason'] = 'length';
    const t0 = performance.now();
    let prefillMs = 0;
    try {
      let next = await m.backend.decode(cache, { kind: 'ids', ids: promptIds }, promptIds.length, {
        greedy,
        temperature,
        seed,
        step: 0,
        lora,
      });
      prefillMs = performance.now() - t0;
      for (let step = 0; ; step++) {
        const id = next[0];
        ids.push(id);
        // Awaited: over comlink this is a round trip, which keeps the page in step with the decode loop.
        await onToken?.({ step, id, text: decoder ? decoder.push(id) : '' });
        if (eos.has(id)) {
          stopReason = 'eos';
          break;
        }
        if (ids.length >= opts.maxNewTokens || cache.length + 1 > capacity) break;
        if (this.cancelRequested) {
          stopReason = 'cancelled';
          break;
        }
        this.throwIfLost();
        next = await m.backend.decode(cache, { kind: 'ids', ids: [id] }, 1, {
          greedy,
          temperature,
          seed,
          step: step + 1,
          lora,
        });
      }
    } finally {
      cache.dispose();
    }
    const decodeMs = performance.now() - t0 - prefillMs;
    return {
      promptIds,
      ids,
      text: tok ? tok.decode(ids) : ids.join(' '),
      stopReason,
      prefillMs,
      decodeMs,
      tokensPerSecond: ids.length > 1 ? ((ids.length - 1) * 1000) / decodeMs : 0,
    };
  }

  async cancel(): Promise<void> {
    this.cancelRequested = true;
  }

  async dispose(): Promise<void> {
    await this.unloadModel();
    this.gpuDevice?.destroy();
    this.gpuDevice = null;
  }

  /** For Node callers (tests, parity, bench): the active compute backend. */
  get backend(): Backend {
    return this.requireModel().backend;
  }

  private async createBackend(
    config: Qwen2Config,
    weights: WeightMap,
    adapter: LoraAdapter | null,
  ): Promise<Backend> {
    if (this.gpuDevice) {
      this.throwIfLost();
      return GpuBackend.create(this.gpuDevice, config, weights, adapter);
    }
    return new CpuBackend(config, weights, adapter);
  }

  private sourceFor(location: ModelLocation): ModelSource {
    if (this.options.resolveSource) return this.options.resolveSource(location);
    if (location.kind === 'url') return new UrlModelSource(location.baseUrl);
    return new FileListModelSource(location.files);
  }

  private requireModel(): LoadedState {
    if (!this.model) throw new EngineError('not-loaded', 'no model is loaded');
    return this.model;
  }

  private requireTokenizer(): Tokenizer {
    const t = this.requireModel().tokenizer;
    if (!t) throw new EngineError('not-loaded', 'this model folder has no tokenizer.json');
    return t;
  }

  private throwIfLost(): void {
    if (this.deviceLost) throw this.deviceLost;
  }
}
