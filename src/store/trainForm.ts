// The Train panel's form (plain data) and its translation into the engine's TrainingSettings
// (src/rl/trainer.ts TrainerConfigInput with TRL's GRPO names). Defaults are tiny: the built-in model is
// small and SwiftShader is slow.

import type { MotSettings, PresetName } from '../mot/settings.ts';
import type { TrainingSettings } from '../worker/api.ts';

/** How the policy log-likelihood of a step is scored (MOTG.md §2). Only `paper-one` trains on WebGPU. */
export type LikelihoodChoice = 'paper-one' | 'paper-sampling' | 'exact';

export const LIKELIHOOD_CHOICES: { value: LikelihoodChoice; label: string }[] = [
  { value: 'paper-one', label: 'paper, log-probs at T = 1 (GPU + CPU)' },
  { value: 'paper-sampling', label: 'paper, at the sampling T (CPU)' },
  { value: 'exact', label: 'exact mixture likelihood (CPU)' },
];

export interface TrainTaskEntry {
  task: string;
  /** Curriculum level name of the task. */
  level: string;
  weight: number;
}

export interface TrainForm {
  tasks: TrainTaskEntry[];
  preset: PresetName;
  likelihood: LikelihoodChoice;
  /** G: completions per prompt. */
  G: number;
  /** Prompts (groups) per step. */
  prompts: number;
  maxCompletion: number;
  temperature: number;
  learningRate: number;
  /** AdamW (what the built-in protocol uses) or plain SGD (the paper's optimizer for Qwen2.5). */
  optim: 'adamw' | 'sgd';
  beta: number;
  epsilon: number;
  steps: number;
  seed: number;
  mode: 'full' | 'lora';
  /** Rank of the fresh LoRA adapter a 'lora' run trains. */
  loraRank: number;
  /** Keep a checkpoint every N steps in the browser's storage, so a reload can resume the run (0: never). */
  checkpointEvery: number;
  /** Start from the weights the previous run of this tab left instead of the model as loaded. */
  continueRun: boolean;
}

export const DEFAULT_TRAIN_FORM: TrainForm = {
  tasks: [{ task: 'chain_sum', level: 'trivial', weight: 1 }],
  preset: 'dirichlet',
  likelihood: 'paper-one',
  G: 4,
  prompts: 1,
  maxCompletion: 24,
  temperature: 0.9,
  learningRate: 3e-4, // the built-in protocol's rate (docs/reproduction.md): GRPO visibly learns at it
  optim: 'adamw',
  beta: 0.1,
  epsilon: 0.2,
  steps: 20,
  seed: 42,
  mode: 'full',
  loraRank: 8, // the memory estimate's default rank; small enough for a browser GPU
  checkpointEvery: 5, // a reload loses at most 5 steps; the built-in model's checkpoint is ~1.5 MB
  continueRun: false, // runs start from the model as loaded, so their curves compare
};

export function likelihoodOverrides(l: LikelihoodChoice): Partial<MotSettings> {
  if (l === 'exact') return { likelihood: 'exact' };
  return { likelihood: 'paper', paperTemperature: l === 'paper-one' ? 'one' : 'sampling' };
}

/** The engine's settings for a run of form `f` that never draws the first `heldOut` held-out items per task. */
export function trainingSettingsOf(f: TrainForm, heldOut = 0): TrainingSettings {
  return {
    heldOut: { count: heldOut },
    preset: f.preset,
    mot: likelihoodOverrides(f.likelihood),
    tasks: f.tasks.map((t) => ({ task: t.task, level: t.level, weight: t.weight })),
    mode: f.mode,
    ...(f.mode === 'lora' ? { lora: { r: f.loraRank } } : {}),
    checkpointEvery: f.checkpointEvery,
    startFrom: f.continueRun ? 'current' : 'base',
    grpo: {
      num_generations: f.G,
      per_device_train_batch_size: f.G,
      gradient_accumulation_steps: f.prompts,
      generation_batch_size: null,
      max_completion_length: f.maxCompletion,
      temperature: f.temperature,
      learning_rate: f.learningRate,
      optim: f.optim,
      beta: f.beta,
      epsilon: f.epsilon,
      max_steps: f.steps,
      seed: f.seed,
    },
  };
}

/** A short name for a run in legends: preset, G, the likelihood and LoRA rank when not the defaults. */
export function runLabel(f: TrainForm, n: number): string {
  const lik = f.likelihood === 'paper-one' ? '' : ` ${f.likelihood}`;
  return `#${n} ${f.preset} G=${f.G}${lik}${f.mode === 'lora' ? ` LoRA r=${f.loraRank}` : ''}`;
}
