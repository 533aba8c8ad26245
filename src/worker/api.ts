// The engine's one interface: implemented by `Engine` (in-process, Node or a worker) and reached from the
// page through comlink (`wrap<EngineApi>(worker)`). Everything that crosses it is plain data.

import type { BackendKind } from '../engine/backend.ts';
import type { Qwen2Config } from '../engine/config.ts';
import type { EngineErrorCode } from '../engine/errors.ts';
import type { WeightDtype } from '../engine/gpu/buffers.ts';
import type { WeightDtypeSetting } from '../engine/gpu/streamLoad.ts';
import type { SftOptions, SftProgress, SftResult, SftSequence } from '../engine/train/sft.ts';
import type { MotSettings, PresetName } from '../mot/settings.ts';
import type { StopSettings } from '../mot/stop.ts';
import type { StepMetrics } from '../rl/metrics.ts';
import type { RolloutStepEvent, Trajectory } from '../rl/rollout.ts';
import type { TrainingState } from '../rl/session.ts';
import type { ScoredTrajectory, TrainerConfigInput } from '../rl/trainer.ts';

export type { BackendKind };

export interface AdapterInfo {
  backend: BackendKind;
  vendor: string;
  architecture: string;
  description: string;
  /** True for software adapters (SwiftShader, lavapipe): correct but slow. */
  isFallbackAdapter: boolean;
  features: string[];
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

/** Where a model's files come from. `files`: a folder picked or dropped in the browser. */
export type ModelLocation = { kind: 'url'; baseUrl: string } | { kind: 'files'; files: File[] };

export interface LoadOptions {
  /** Weights file name when not the default (e.g. `model.bf16.safetensors`). */
  weightsFile?: string;
  /** Load the peft adapter from this sub-folder (or location). */
  adapter?: ModelLocation | string;
  /** On WebGPU, how the weight matrices are stored: `auto` (default) keeps the checkpoint's dtype (a bf16
   * file stays bf16); 16-bit storage keeps no host copy (full fine-tuning then needs f32). The CPU: f32. */
  weightDtype?: WeightDtypeSetting;
  /** What the device can be expected to hold, when the page knows a figure (checked before the upload). */
  memoryBytes?: number;
}

export interface ModelInfo {
  label: string;
  config: Qwen2Config;
  numParameters: number;
  /** Bytes the parameters take where the model runs (in `weightDtype`). */
  weightBytes: number;
  /** How the weight matrices are stored there (norms and biases are f32). */
  weightDtype: WeightDtype;
  /** The checkpoint's parameter dtypes (F32, F16, BF16). */
  checkpointDtypes: string[];
  files: string[];
  hasTokenizer: boolean;
  adapter: { r: number; alpha: number; targetModules: string[] } | null;
  chatTemplate: boolean;
  eosTokenIds: number[];
}

export interface GenerateOptions {
  maxNewTokens: number;
  /** Greedy when true or when temperature is 0. */
  greedy?: boolean;
  temperature?: number;
  seed?: number;
  /** Use the loaded LoRA adapter (default true when one is loaded). */
  useAdapter?: boolean;
  /** Wrap the prompt in the chat template (default: true when the tokenizer has one). */
  chat?: boolean;
}

export interface TokenEvent {
  step: number;
  id: number;
  /** Text newly completed by this token (may be '' while a multi-byte character is incomplete). */
  text: string;
}

export interface GenerateResult {
  promptIds: number[];
  ids: number[];
  text: string;
  stopReason: 'eos' | 'length' | 'cancelled';
  prefillMs: number;
  decodeMs: number;
  tokensPerSecond: number;
}

export interface ScoreResult {
  /** log p(ids[t+1] | ids[..t]) for t = 0..T-2. */
  logprobs: number[];
  /** Next-token entropy (nats) at each position. */
  entropy: number[];
}

/** A rollout prompt: a question (chat-formatted), a task item (its `question`), or ready token ids. */
export type RolloutPromptInput = string | { question: string } | { ids: number[] };

/** A batch of mixture-of-token rollouts (MOTG.md §1): every prompt × G trajectories, decoded together. */
export interface RolloutRequest {
  prompts: RolloutPromptInput[];
  /** Trajectories per prompt. */
  G: number;
  preset: PresetName;
  /** Overrides of the preset (src/mot/settings.ts MotSettings). */
  settings?: Partial<MotSettings>;
  /** Overrides of the stop settings; thinkEnd defaults to the ids of `</think>`, eos to the model's. */
  stop?: Partial<StopSettings>;
  /** Completion tokens per trajectory at most (EOS counts). */
  maxNewTokens: number;
  seed?: number;
  /** Chat-format string prompts (default: when the tokenizer has a chat template). */
  chat?: boolean;
  /** System prompt of chat prompts (default: the model's own format prompt, else rl/prompt.ts
   * ROLLOUT_SYSTEM_PROMPT; null: none). */
  systemPrompt?: string | null;
  /** Text that opens the assistant turn (default `<think>`). */
  prefill?: string;
  /** `eval` with settings.evalMixture false decodes the thinking phase discretely. Default `train`. */
  purpose?: 'train' | 'eval';
  /** Use the loaded LoRA adapter (default true when one is loaded). */
  useAdapter?: boolean;
  /** Record the hidden-state entropy per layer at every step (default true). */
  hiddenEntropy?: boolean;
  /** `auto`: the GPU fast path on WebGPU; `reference`: logits read back and the CPU step (any backend). */
  path?: 'auto' | 'reference';
}

export interface RolloutResult {
  settings: MotSettings;
  stop: StopSettings;
  G: number;
  seed: number;
  maxNewTokens: number;
  /** Token ids of each prompt (chat-formatted, prefill included). */
  promptIds: number[][];
  /** prompts × G, row = prompt · G + g. */
  trajectories: Trajectory[];
  backend: BackendKind;
  path: 'reference' | 'gpu';
  /** Absolute σ of the noise added to e_t (0: none). */
  noiseStd: number;
  steps: number;
  prefillMs: number;
  decodeMs: number;
  tokensPerSecond: number;
}

/** A trained model to take away: a peft adapter folder, or a whole Hugging Face model folder. */
export interface TrainedExport {
  kind: 'adapter' | 'weights';
  files: { name: string; data: Uint8Array }[];
}

/**
 * A GRPO run's settings (src/rl/trainer.ts TrainerConfigInput) plus a checkpoint interval (0: none) and the
 * weights it starts from: the model as loaded ('base', the default, so runs are comparable) or the weights
 * the previous run of this engine left ('current').
 */
export type TrainingSettings = TrainerConfigInput & {
  checkpointEvery?: number;
  startFrom?: 'base' | 'current';
};

/** A run to continue: its checkpoint (safetensors bytes) and the metrics of its steps up to it. */
export interface TrainingResume {
  checkpoint: Uint8Array;
  history: StepMetrics[];
}

/** Errors cross the worker boundary as data. */
export interface EngineErrorData {
  name: 'EngineError';
  code: EngineErrorCode;
  message: string;
  file?: string;
  tensor?: string;
}

export interface EngineApi {
  init(opts?: { backend?: 'auto' | BackendKind }): Promise<AdapterInfo>;
  loadModel(location: ModelLocation, opts?: LoadOptions): Promise<ModelInfo>;
  unloadModel(): Promise<void>;
  tokenize(text: string, opts?: { chat?: boolean }): Promise<number[]>;
  detokenize(ids: number[]): Promise<string>;
  score(ids: number[]): Promise<ScoreResult>;
  generate(
    prompt: string | number[],
    opts: GenerateOptions,
    onToken?: (ev: TokenEvent) => void | Promise<void>,
  ): Promise<GenerateResult>;
  /** Supervised fine-tuning of the loaded model (teacher forcing, loss on each sequence's span). */
  trainSupervised(
    data: SftSequence[],
    options: Omit<SftOptions, 'onStep' | 'now' | 'padId'> & { padId?: number },
    onStep?: (p: SftProgress) => void | Promise<void>,
  ): Promise<SftResult>;
  /** Mixture-of-token rollouts; onStep (awaited) sees each step's new records and tokens. */
  rollout(
    request: RolloutRequest,
    onStep?: (ev: RolloutStepEvent) => void | Promise<void>,
  ): Promise<RolloutResult>;
  /** Starts a GRPO run (returns at once; a second run while one runs: TrainingError 'already-running'). */
  startTraining(
    settings: TrainingSettings,
    onStep?: (metrics: StepMetrics, rollouts: ScoredTrajectory[]) => void | Promise<void>,
    /** Receives each periodic checkpoint (every `checkpointEvery` steps) as safetensors bytes. */
    onCheckpoint?: (checkpoint: Uint8Array, step: number) => void | Promise<void>,
    /** Continue a run from its checkpoint instead of starting at step 0 (from the base weights). */
    resume?: TrainingResume,
  ): Promise<TrainingState>;
  pauseTraining(): Promise<TrainingState>;
  resumeTraining(): Promise<TrainingState>;
  stepTraining(): Promise<TrainingState>;
  stopTraining(): Promise<TrainingState>;
  trainingState(): Promise<TrainingState | null>;
  exportAdapter(): Promise<{ configJson: string; safetensors: Uint8Array } | null>;
  exportTrainedModel(): Promise<TrainedExport>;
  /** The same files as one ZIP Blob, built a tensor at a time and handed over by reference. */
  exportTrainedModelZip(): Promise<{ kind: TrainedExport['kind']; zip: Blob }>;
  trainingCheckpoint(): Promise<Uint8Array>;
  /** Bytes per second this engine's device copies (engine/gpu/bandwidth.ts): the page's speed estimate. */
  measureBandwidth(): Promise<number>;
  cancel(): Promise<void>;
  dispose(): Promise<void>;
  /** Tests only: lose the GPU device as a driver reset would (Engine.simulateDeviceLoss). */
  simulateDeviceLoss(): Promise<void>;
}
