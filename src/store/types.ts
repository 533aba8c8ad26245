// Plain data the playground keeps, shows, saves and shares: the experiment settings (also in the URL
// hash), decode results of one side (discrete or a MoT-G preset), evaluation runs, and the run file that
// export/import and the bundled example use. Nothing here holds a class or a function.
import type { WeightDtypeSetting } from '../engine/gpu/streamLoad.ts';
import type { PresetName } from '../mot/settings.ts';
import type { TaskAccuracy } from '../rl/evaluate.ts';
import type { StepMetrics } from '../rl/metrics.ts';
import type { SessionStatus } from '../rl/session.ts';
import type { TrainForm } from './trainForm.ts';

/** Where the model comes from. A folder cannot be restored from a link (the browser must ask again). */
export type ModelChoice =
  | { kind: 'builtin' }
  | { kind: 'hub'; id: string; revision: string }
  | { kind: 'folder'; name: string };

/** What the memory estimate is for (cheap: changing it never reloads the model). */
export interface MemorySettings {
  /** GRPO group G: sequences decoded and trained together. */
  group: number;
  /** Tokens per sequence N (prompt + completion). */
  tokens: number;
  /** LoRA rank; 0 = full fine-tuning. */
  loraRank: number;
  /** Recompute layer internals in the backward (one layer of workspace instead of L). */
  recompute: boolean;
  /** How WebGPU stores the weight matrices (`auto`: as the checkpoint does); applies at the next load. */
  weightDtype: WeightDtypeSetting;
}

/** The mixture presets (the discrete baselines are DecodeMode's other values). */
export type MixPreset = Exclude<PresetName, 'discrete' | 'discrete-top-k'>;

export interface DecodeSettings {
  source: 'task' | 'text';
  text: string;
  task: string;
  level: string;
  /** Seed of the task generator. */
  itemSeed: number;
  /** Item index for (task, level, itemSeed). */
  index: number;
  /** Wrap the prompt as in training: system prompt, chat turn, `<think>` prefill. */
  wrap: boolean;
  /** The MoT-G preset run beside the baseline. */
  preset: MixPreset;
  /** The discrete side: one token from the preset's top k (the matched baseline) or from the whole vocabulary. */
  baseline: 'discrete' | 'discrete-top-k';
  temperature: number;
  k: number;
  /** Dirichlet concentration c. */
  concentration: number;
  topP: number;
  minP: number;
  gumbelTau: number;
  moiBeta: number;
  noiseSigma: number;
  /** Cold Stop (soft-thinking only; its paper's default is on). */
  coldStop: boolean;
  maxNewTokens: number;
  /** Sampling seed, shared by both sides. */
  seed: number;
}

export type DecodeMode = 'discrete' | 'discrete-top-k' | MixPreset;

export interface EvalSettings {
  tasks: string[];
  /** Level name; a task without it uses its easiest level. */
  level: string;
  /** Held-out questions per task. */
  n: number;
  /** Samples per question. */
  samples: number;
  mode: DecodeMode;
  temperature: number;
  /** Seed of the held-out items (keep it away from training seeds). */
  seed: number;
  maxNewTokens: number;
}

export interface ExperimentSettings {
  model: ModelChoice;
  memory: MemorySettings;
  decode: DecodeSettings;
  eval: EvalSettings;
  /** The Train panel's GRPO form. */
  train: TrainForm;
}

/** One decoding step as the page shows it. */
export interface StepView {
  mode: 'mixture' | 'discrete';
  ids: number[];
  weights: number[];
  /** Text of each id (same order as ids). */
  texts: string[];
  representative: number;
  /** Text of the representative token (what the transcript shows). */
  repText: string;
  /** The most probable next token (absent in files from before it was kept). */
  argmax?: number;
  /** Next-token entropy in nats. */
  entropy: number;
  /** Hidden-state entropy per layer (nats), when the engine reported it. */
  hidden: number[] | null;
  /** Reasoning (thinking) or answer phase, when the engine reported it. */
  phase?: 'thinking' | 'answer';
  /** A token a stop rule forced into the transcript (`</think>`), not sampled. */
  forced?: boolean;
  /** Ids left out of `ids` (dense mixtures keep only their heaviest ids): how many, and their weight. */
  rest?: { count: number; weight: number };
}

/** The task item a prompt was drawn from. */
export interface DrawnItem {
  task: string;
  level: string;
  seed: number;
  index: number;
  question: string;
  /** Oracle answer (null for tasks with no single oracle). */
  answer: string | null;
}

export interface SideResult {
  mode: DecodeMode;
  /** How it was produced: the engine's rollout (mixture records) or generate + score (discrete only). */
  via: 'rollout' | 'generate';
  /** Settings in effect, readable (temperature, k, …). */
  params: Record<string, number | string | boolean>;
  steps: StepView[];
  text: string;
  stopReason: string;
  /** Index of the first discrete step after the thinking phase (mixing switched off), or null. */
  mixingOffAt: number | null;
  answer: string | null;
  /** Task score 0..1 (null for free text). */
  score: number | null;
  /** Reward total (the tiny-model reward, null for free text). */
  reward: number | null;
  /** The completion matches the answer format `</think> <answer>…</answer>` (null for free text). */
  format: boolean | null;
  ms: number;
  tokensPerSecond: number;
  /** True when the run was stopped before it finished. */
  interrupted: boolean;
}

export interface DecodeResult {
  prompt: string;
  item: DrawnItem | null;
  promptTokens: number;
  sides: SideResult[];
}

/** One task's row of an evaluation: the one evaluator's (rl/evaluate.ts) TaskAccuracy. */
export type EvalTaskResult = TaskAccuracy;

export interface EvalRun {
  id: string;
  createdAt: string;
  model: string;
  settings: EvalSettings;
  results: EvalTaskResult[];
  /** Finished, or stopped part way (results cover what was done). */
  status: 'done' | 'interrupted' | 'running';
  ms: number;
}

export interface ModelSummary {
  label: string;
  numParameters: number;
  layers: number;
  hiddenSize: number;
  vocabSize: number;
}

/** One completion of a GRPO step as the Train panel's table shows it (and a run file keeps it). */
export interface RolloutRecord {
  task: string;
  question: string;
  completion: string;
  /** Reward total. */
  reward: number;
  /** The extracted answer, or null. */
  answer: string | null;
  /** Task score 0..1. */
  score: number;
  advantage: number;
  /** Completion length in tokens. */
  length: number;
  stopReason: string;
}

/** A GRPO run's state; 'interrupted': it was not over when its page went away. */
export type TrainRunStatus = SessionStatus | 'interrupted';

/** One GRPO run: its form, every step's metrics and (when small) its latest step's rollouts. */
export interface TrainRunRecord {
  id: string;
  label: string;
  form: TrainForm;
  /** Engine backend it ran on ('webgpu' or 'cpu'). */
  backend: string;
  status: TrainRunStatus;
  maxSteps: number;
  history: StepMetrics[];
  /** The latest step's completions (prompt · G + g), absent when there were too many to keep. */
  latest?: { G: number; rollouts: RolloutRecord[] };
  /** The model it trained (its label), and the step of its latest checkpoint kept in the browser. */
  model?: string;
  checkpointStep?: number;
  /** Held-out items per task its training never drew (the Evaluate panel's n when it started). */
  heldOut?: number;
}

/** What export writes, import reads, reload restores and the example ships. */
export interface RunFile {
  format: 'motg-run';
  version: 1;
  name: string;
  createdAt: string;
  /** How the run was produced (engine backend and adapter). */
  producedWith: string;
  model: ModelSummary | null;
  settings: ExperimentSettings;
  decode: DecodeResult | null;
  evals: EvalRun[];
  /** GRPO runs of the Train panel, oldest first (absent in files written before training was kept). */
  train: TrainRunRecord[];
}
