// The engine's one interface: implemented by `Engine` (in-process, Node or a worker) and reached from the
// page through comlink (`wrap<EngineApi>(worker)`). Everything that crosses it is plain data.
import type { Qwen2Config } from './config.ts';
import type { EngineErrorCode } from './errors.ts';

export type BackendKind = 'webgpu' | 'cpu';

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
}

export interface ModelInfo {
  label: string;
  config: Qwen2Config;
  numParameters: number;
  weightBytes: number;
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
  cancel(): Promise<void>;
  dispose(): Promise<void>;
}
