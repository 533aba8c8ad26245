// The façade (docs/ARCHITECTURE.md): the engine behind EngineApi, which the Web Worker exposes. It loads a model in the HF layout, runs it on WebGPU (or the CPU reference
// when WebGPU is missing), and generates text token by token. DOM-free: the same class runs in a module
// Web Worker (exposed with comlink) and in Node, with the GPU (`navigator.gpu` or npm `webgpu`) injected.
// The class keeps the state and the order of operations; its parts live beside it: modelFolder.ts (reading
// a folder, ModelInfo), rolloutRequest.ts (checking a rollout request), trainerSetup.ts (a GRPO trainer's
// policy and host) and trainedExport.ts (the files of a trained model).

import type { Backend } from '../engine/backend.ts';
import { expectedParameters, type Qwen2Config } from '../engine/config.ts';
import { CpuBackend } from '../engine/cpuBackend.ts';
import { EngineError } from '../engine/errors.ts';
import { measureBandwidth } from '../engine/gpu/bandwidth.ts';
import { type EngineDevice, requestEngineDevice } from '../engine/gpu/device.ts';
import { readWeightF32 } from '../engine/gpu/streamLoad.ts';
import { GpuBackend } from '../engine/gpuBackend.ts';
import { GpuSftBackend } from '../engine/gpuSft.ts';
import { createLoraAdapter, type LoraAdapter, writeLoraAdapter } from '../engine/model/lora.ts';
import type { ModelSource } from '../engine/model/source.ts';
import type { Tokenizer } from '../engine/model/tokenizer.ts';
import { entropyForward, gatherLogprobsForward } from '../engine/ref/logits.ts';
import type { WeightMap } from '../engine/tensor.ts';
import {
  CpuSftBackend,
  type SftOptions,
  type SftProgress,
  type SftResult,
  type SftSequence,
  trainSft,
} from '../engine/train/sft.ts';
import type { MotSettings } from '../mot/settings.ts';
import { decodeCheckpoint, encodeCheckpoint, loadCheckpoint, saveCheckpoint } from '../rl/checkpoint.ts';
import { TrainingError } from '../rl/errors.ts';
import type { StepMetrics } from '../rl/metrics.ts';
import { gpuUnsupportedReason } from '../rl/policy/gpu.ts';
import { noiseStdOf, type RolloutStepEvent, runRollout } from '../rl/rollout.ts';
import { TrainingSession, type TrainingState } from '../rl/session.ts';
import type { ScoredTrajectory } from '../rl/trainer.ts';
import {
  GrpoTrainer,
  makeTrainerConfig,
  motSettingsOf,
  type TrainerConfig,
  type TrainerConfigInput,
} from '../rl/trainer.ts';
import type {
  AdapterInfo,
  BackendKind,
  EngineApi,
  GenerateOptions,
  GenerateResult,
  LoadOptions,
  ModelInfo,
  ModelLocation,
  RolloutRequest,
  RolloutResult,
  ScoreResult,
  TokenEvent,
  TrainedExport,
  TrainingResume,
  TrainingSettings,
} from './api.ts';
import {
  adapterSummary,
  cpuAdapterInfo,
  gpuAdapterInfo,
  type LoadedState,
  modelInfoOf,
  modelSourceFor,
  readModelFolder,
} from './modelFolder.ts';
import { resolveRollout, rolloutStepperFactory } from './rolloutRequest.ts';
import {
  adapterExportStream,
  adapterWithParams,
  exportZipBlob,
  gatheredExport,
  type StreamedExport,
  weightsExportStream,
} from './trainedExport.ts';
import {
  baseWeightsOf,
  createPolicy,
  currentParameters,
  modelShapeOf,
  trainerHostOf,
} from './trainerSetup.ts';

export interface EngineOptions {
  /** The WebGPU entry point (`navigator.gpu` in a browser, `create([])` from npm `webgpu` in Node). */
  gpu?: GPU | null;
  /** Resolve a ModelLocation to a source (Node passes DirModelSource for local folders). */
  resolveSource?: (location: ModelLocation) => ModelSource;
}

export class Engine implements EngineApi {
  private gpuDevice: EngineDevice | null = null;
  private adapterInfo: AdapterInfo | null = null;
  private model: LoadedState | null = null;
  private cancelRequested = false;
  private deviceLost: EngineError | null = null;
  private training: TrainingSession | null = null;
  /** The latest trainer (createTrainer or startTraining): its policy owns the trained parameters. */
  private trainer: GrpoTrainer | null = null;
  /** True while startTraining builds its trainer (a second start is refused meanwhile). */
  private trainingStarting = false;

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
        this.adapterInfo = gpuAdapterInfo(dev);
        return this.adapterInfo;
      } catch (e) {
        if (want === 'webgpu') throw e;
      }
    } else if (want === 'webgpu') {
      throw new EngineError('webgpu-unavailable', 'WebGPU is not available here (no navigator.gpu).');
    }
    this.adapterInfo = cpuAdapterInfo();
    return this.adapterInfo;
  }

  async loadModel(location: ModelLocation, opts: LoadOptions = {}): Promise<ModelInfo> {
    const source = this.sourceFor(location);
    // Load everything before touching the current model, so a bad file leaves the old one working.
    if (this.gpuDevice) this.throwIfLost();
    const folder = await readModelFolder(
      source,
      opts,
      (location) => this.sourceFor(location),
      this.gpuDevice,
    );
    await this.unloadModel();
    const info = modelInfoOf(folder);
    const { label, config, weights, tokenizer, adapter, backend, texts } = folder;
    this.model = { label, config, weights, tokenizer, adapter, backend, info, texts };
    return info;
  }

  /**
   * Supervised fine-tuning of the loaded model (full fine-tuning, teacher forcing, loss on each sequence's
   * [lossStart, lossEnd) span) with train/sft.ts: forward/backward on WebGPU when the model runs there,
   * else the CPU reference. The trained weights replace the model's (the next generate uses them).
   */
  async trainSupervised(
    data: SftSequence[],
    options: Omit<SftOptions, 'onStep' | 'now' | 'padId'> & { padId?: number },
    onStep?: (p: SftProgress) => void | Promise<void>,
  ): Promise<SftResult> {
    const m = this.requireModel();
    this.throwIfLost();
    if (this.training?.running || this.trainingStarting)
      throw new EngineError(
        'invalid-argument',
        'a GRPO run is in progress: stop it before supervised training',
      );
    const weights = requireHostWeights(m, 'supervised fine-tuning (full fine-tuning)');
    const padId = options.padId ?? m.config.padTokenId ?? 0;
    const backend =
      m.backend.kind === 'webgpu' && this.gpuDevice
        ? await GpuSftBackend.create(this.gpuDevice, m.config, weights)
        : new CpuSftBackend(m.config, weights);
    try {
      const result = await trainSft(backend, data, { ...options, padId, onStep });
      // Both SFT backends update `m.weights` in place (AdamW on the host); rebuild the inference backend.
      // The fine-tuned weights are the base later GRPO runs start from.
      m.base = undefined;
      const fresh = await this.createBackend(m.config, weights, m.adapter);
      m.backend.dispose();
      m.backend = fresh;
      return result;
    } finally {
      if (backend instanceof GpuSftBackend) backend.dispose();
    }
  }

  async unloadModel(): Promise<void> {
    await this.releaseTrainer();
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

  async rollout(
    request: RolloutRequest,
    onStep?: (ev: RolloutStepEvent) => void | Promise<void>,
  ): Promise<RolloutResult> {
    const m = this.requireModel();
    this.throwIfLost();
    const cfg = m.config;
    const tok = m.tokenizer;
    const { settings, stop, promptIds } = resolveRollout(m, request);
    const E = await embeddingFor(m, request.path === 'reference' || needsEmbedding(settings));
    const noiseStd = noiseStdOf(settings, E);
    const backend = m.backend;
    const make = rolloutStepperFactory(backend, modelShapeOf(cfg), E, request.path);
    const seed = request.seed ?? 0;
    this.cancelRequested = false;
    const run = await runRollout(make, promptIds, {
      settings,
      stop,
      maxNewTokens: request.maxNewTokens,
      seed,
      G: request.G,
      padId: cfg.padTokenId ?? stop.eos[0] ?? 0,
      lora: m.adapter !== null && request.useAdapter !== false,
      hiddenEntropy: request.hiddenEntropy ?? true,
      noiseStd,
      text: tok
        ? { decode: (ids) => tok.decode(ids), stream: () => tok.streamDecoder({ skipSpecialTokens: false }) }
        : undefined,
      onStep,
      shouldCancel: () => this.cancelRequested || this.deviceLost !== null,
    });
    this.throwIfLost();
    return {
      settings,
      stop,
      G: request.G,
      seed,
      maxNewTokens: request.maxNewTokens,
      promptIds,
      trajectories: run.trajectories,
      backend: backend.kind,
      path: run.path,
      noiseStd,
      steps: run.steps,
      prefillMs: run.prefillMs,
      decodeMs: run.decodeMs,
      tokensPerSecond: run.tokensPerSecond,
    };
  }

  /**
   * A GRPO trainer on the loaded model (Node side: the object itself, not over comlink). The WebGPU policy
   * trains the backend's own buffers when the model runs on WebGPU (settings it cannot train: TrainingError
   * 'unsupported-on-gpu'); the CPU reference policy trains the host weights (or adapter) in place otherwise.
   */
  async createTrainer(
    input: TrainerConfigInput,
    startFrom: 'base' | 'current' = 'base',
  ): Promise<GrpoTrainer> {
    if (this.training?.running || this.trainingStarting)
      throw new TrainingError('already-running', 'a training run is in progress; stop it first');
    return this.buildTrainer(input, startFrom);
  }

  private async buildTrainer(input: TrainerConfigInput, startFrom: 'base' | 'current'): Promise<GrpoTrainer> {
    const m = this.requireModel();
    this.throwIfLost();
    const cfg = m.config;
    const V = cfg.vocabSize;
    const cfgT = makeTrainerConfig(input, V);
    const tok = m.tokenizer;
    if (!tok) throw new TrainingError('no-tokenizer', 'training needs a tokenizer (tokenizer.json)');
    const backend = m.backend;
    if (backend instanceof GpuBackend) {
      const why = gpuUnsupportedReason(motSettingsOf(cfgT, V));
      if (why) throw new TrainingError('unsupported-on-gpu', `${why} (train on the CPU path instead)`);
    }
    const eos = m.info.eosTokenIds;
    // AdamW on the model's own buffers and the frozen reference copy need f32 weights on the host.
    if (cfgT.mode === 'full') requireHostWeights(m, 'full fine-tuning');
    const E = await embeddingFor(m, needsEmbedding(motSettingsOf(cfgT, V)));
    const startWeights = await this.prepareStart(m, cfgT, startFrom);
    const policy = await createPolicy({
      config: cfg,
      cfgT,
      backend: m.backend,
      device: this.gpuDevice,
      embedding: E,
      startWeights,
      weights: m.weights,
      adapter: m.adapter,
    });
    const host = trainerHostOf(policy, tok, cfg, eos);
    let trainer: GrpoTrainer;
    try {
      trainer = new GrpoTrainer(cfgT, host);
    } catch (e) {
      policy.dispose();
      throw e;
    }
    this.trainer = trainer;
    return trainer;
  }

  /**
   * Puts the model at the weights a new run starts from and returns them (null: no host copy). 'base': the
   * model as loaded — a previous GPU full fine-tune's buffers and a previous run's own adapter are dropped,
   * the CPU's in-place trained weights restored; 'current': whatever the previous run left. A LoRA run then
   * gets a fresh adapter (B = 0). A loaded adapter a run trained in place is not restored.
   */
  private async prepareStart(
    m: LoadedState,
    cfgT: TrainerConfig,
    startFrom: 'base' | 'current',
  ): Promise<WeightMap | null> {
    const cfg = m.config;
    const previousGpuFull =
      this.trainer?.host.policy.kind === 'webgpu' && this.trainer.config.mode === 'full';
    const startWeights =
      m.weights &&
      (startFrom === 'current'
        ? await currentParameters(this.trainer, m.weights)
        : baseWeightsOf(m, m.backend instanceof GpuBackend ? null : cfgT.mode));
    await this.releaseTrainer();
    const freshAdapter = cfgT.mode === 'lora' && (cfgT.lora !== undefined || !m.adapter);
    const dropRunAdapter = startFrom === 'base' && m.runAdapter === true && !freshAdapter;
    if (dropRunAdapter) {
      m.adapter = null;
      m.runAdapter = false;
      m.info = { ...m.info, adapter: null };
    }
    if (freshAdapter) {
      const shapes = m.weights ?? parameterShapes(cfg);
      m.adapter = createLoraAdapter(shapes, { ...(cfgT.lora ?? { r: 8 }), seed: cfgT.grpo.seed });
      m.runAdapter = true;
      m.info = { ...m.info, adapter: adapterSummary(m.adapter) };
    }
    if (startWeights && (freshAdapter || dropRunAdapter || (startFrom === 'base' && previousGpuFull))) {
      const fresh = await this.createBackend(cfg, startWeights, m.adapter);
      m.backend.dispose();
      m.backend = fresh;
    } else if (m.backend instanceof GpuBackend && (freshAdapter || dropRunAdapter))
      await m.backend.model.setLora(m.adapter);
    return startWeights;
  }

  async startTraining(
    settings: TrainingSettings,
    onStep?: (metrics: StepMetrics, rollouts: ScoredTrajectory[]) => void | Promise<void>,
    onCheckpoint?: (checkpoint: Uint8Array, step: number) => void | Promise<void>,
    resume?: TrainingResume,
  ): Promise<TrainingState> {
    if (this.training?.running || this.trainingStarting)
      throw new TrainingError('already-running', 'a training run is in progress; stop it first');
    const { checkpointEvery, startFrom, ...input } = settings;
    if (checkpointEvery !== undefined && !(Number.isInteger(checkpointEvery) && checkpointEvery >= 0))
      throw new EngineError(
        'invalid-argument',
        `checkpointEvery must be an integer ≥ 0, got ${checkpointEvery}`,
      );
    this.trainingStarting = true;
    let session: TrainingSession;
    try {
      // A resumed run starts where its own start was (the base weights), then takes its checkpoint.
      const resumed = resume && decodeCheckpoint(resume.checkpoint, 'the saved checkpoint');
      const trainer = await this.buildTrainer(input, resumed ? 'base' : (startFrom ?? 'base'));
      if (resumed) await loadCheckpoint(trainer, resumed, 'the saved checkpoint');
      session = new TrainingSession(trainer, {
        onStep,
        checkpointEvery: checkpointEvery ?? 0,
        history: resume?.history,
        onCheckpoint: onCheckpoint && ((ck) => onCheckpoint(encodeCheckpoint(ck), ck.trainer.step)),
      });
      this.training = session;
    } finally {
      this.trainingStarting = false;
    }
    // Not awaited: the loop runs on; its end (or error) shows in trainingState().
    session.start().catch(() => {});
    return session.state();
  }

  async pauseTraining(): Promise<TrainingState> {
    const s = this.requireSession();
    await s.pause();
    return s.state();
  }

  async resumeTraining(): Promise<TrainingState> {
    const s = this.requireSession();
    s.start().catch(() => {});
    return s.state();
  }

  async stepTraining(): Promise<TrainingState> {
    const s = this.requireSession();
    await s.step();
    return s.state();
  }

  async stopTraining(): Promise<TrainingState> {
    const s = this.requireSession();
    await s.stop();
    return s.state();
  }

  async trainingState(): Promise<TrainingState | null> {
    return this.training?.state() ?? null;
  }

  /** The loaded adapter with the latest trainer's LoRA parameters (peft files), or null without one. */
  async exportAdapter(): Promise<{ configJson: string; safetensors: Uint8Array } | null> {
    const m = this.model;
    if (!m?.adapter) return null;
    const a = m.adapter;
    let params: Record<string, Float32Array> = {};
    const t = this.trainer;
    if (t && t.config.mode === 'lora')
      params = (await t.host.policy.exportState({ optimizer: false })).params;
    return writeLoraAdapter(adapterWithParams(a, params), a.baseModelName ?? null);
  }

  /**
   * The trained policy to take away: LoRA → adapter_config.json + adapter_model.safetensors (peft); full
   * fine-tuning → the model folder (config, tokenizer, generation config, model.safetensors), loadable as a
   * local folder. Refused while a step runs (pause first) and before any training.
   */
  async exportTrainedModel(): Promise<TrainedExport> {
    return gatheredExport(await this.trainedExportStream());
  }

  /** exportTrainedModel as one ZIP Blob, built a tensor at a time (what the page downloads). */
  async exportTrainedModelZip(): Promise<{ kind: TrainedExport['kind']; zip: Blob }> {
    const e = await this.trainedExportStream();
    return { kind: e.kind, zip: exportZipBlob(e) };
  }

  private async trainedExportStream(): Promise<StreamedExport> {
    const m = this.requireModel();
    const t = this.trainer;
    if (!t) throw new TrainingError('not-running', 'nothing trained yet: run at least one GRPO step first');
    if (this.training?.running)
      throw new TrainingError('already-running', 'a step is running: pause or stop the run, then export');
    if (t.config.mode === 'lora') {
      const a = await this.exportAdapter();
      if (!a) throw new TrainingError('no-adapter', 'the LoRA run has no adapter to export');
      return adapterExportStream(a);
    }
    const weights = requireHostWeights(m, 'exporting fully fine-tuned weights');
    const trained = (await t.host.policy.exportState({ optimizer: false })).params;
    return weightsExportStream(weights, m.texts, trained);
  }

  /** The run's checkpoint as one safetensors file: taken now when no step runs, else the latest periodic one. */
  async trainingCheckpoint(): Promise<Uint8Array> {
    const s = this.requireSession();
    if (!s.running) return encodeCheckpoint(await saveCheckpoint(s.trainer));
    const ck = s.checkpoint;
    if (!ck)
      throw new TrainingError(
        'already-running',
        'a step is running and no checkpoint has been taken yet: pause the run first',
      );
    return encodeCheckpoint(ck);
  }

  async measureBandwidth(): Promise<number> {
    this.throwIfLost();
    return measureBandwidth(this.gpuDevice);
  }

  private requireSession(): TrainingSession {
    if (!this.training) throw new TrainingError('not-running', 'no training run has been started');
    return this.training;
  }

  /** Stops a running session and frees the latest trainer's policy (GPU gradients, optimizer, reference). */
  private async releaseTrainer(): Promise<void> {
    const s = this.training;
    if (s?.running) await s.stop();
    this.training = null;
    this.trainer?.host.policy.dispose();
    this.trainer = null;
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
    return modelSourceFor(location, this.options.resolveSource);
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

  /**
   * FOR TESTS ONLY (the page reaches it only with `?test-hooks` in its URL): loses the GPU device the way
   * a driver reset does — GPUDevice.destroy(), reported like any other loss (dispose() is not) — and
   * returns once the engine knows. Every later GPU call then throws EngineError('gpu-device-lost').
   */
  async simulateDeviceLoss(): Promise<void> {
    const dev = this.gpuDevice;
    if (!dev)
      throw new EngineError('webgpu-unavailable', 'no GPU device to lose: the engine runs on the CPU');
    dev.device.destroy();
    await dev.lost;
  }
}

/** The host weights, or EngineError('weights-not-f32') for a model kept in 16 bits on the GPU only. */
function requireHostWeights(m: LoadedState, what: string): WeightMap {
  if (m.weights) return m.weights;
  throw new EngineError(
    'weights-not-f32',
    `${what} needs the model's weights in f32, but it was loaded with ${m.info.weightDtype} weights on the GPU (no host copy): load it again with the weights setting f32, or train a LoRA adapter`,
  );
}

/** Whether a rollout's settings read the embedding matrix on the host (the noise scaled by its RMS). */
function needsEmbedding(s: MotSettings): boolean {
  return s.mixture && s.noiseSigma !== 0 && s.noiseScale !== 'absolute';
}

/** The embedding matrix as f32 when `needed`: the host copy, or read back from the GPU (16-bit storage). */
async function embeddingFor(m: LoadedState, needed: boolean): Promise<Float32Array | null> {
  const name = 'model.embed_tokens.weight';
  if (m.weights) return m.weights.get(name)?.data ?? null;
  if (!needed || !(m.backend instanceof GpuBackend)) return null;
  const numel = m.config.vocabSize * m.config.hiddenSize;
  return readWeightF32(m.backend.model, m.backend.model.embedTokens, numel);
}

/** The parameters' names and shapes without values (what a new LoRA adapter is shaped by). */
function parameterShapes(cfg: Qwen2Config): WeightMap {
  const empty = new Float32Array(0);
  return new Map([...expectedParameters(cfg)].map(([name, shape]) => [name, { shape, data: empty }]));
}
