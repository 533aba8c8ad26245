// GRPO training settings under TRL's GRPOConfig names, with the paper's run as the defaults (MOTG.md §2) and
// typed validation. Sampling details of mixture steps live in src/mot/settings.ts.
import {
  checkFinite,
  checkInteger,
  checkOneOf,
  checkPositive,
  checkTemperature,
  SettingsError,
} from '../mot/settings.ts';
import type { LossType, ScaleRewards } from './grpo.ts';

export type Optim = 'sgd' | 'adamw';
export type LrSchedulerType = 'constant' | 'constant_with_warmup' | 'linear' | 'cosine';

export interface GrpoSettings {
  /** G: completions per prompt. */
  num_generations: number;
  /** Completions per micro-batch (one forward/backward). */
  per_device_train_batch_size: number;
  gradient_accumulation_steps: number;
  /** Completions generated per rollout; null: per_device_train_batch_size × gradient_accumulation_steps (TRL). */
  generation_batch_size: number | null;
  /** Optimizer updates per rollout batch (μ in the GRPO paper); ρ ≠ 1 only when > 1. */
  num_iterations: number;
  epsilon: number;
  /** Upper clip; null: epsilon. */
  epsilon_high: number | null;
  beta: number;
  loss_type: LossType;
  scale_rewards: ScaleRewards;
  temperature: number;
  max_prompt_length: number;
  max_completion_length: number;
  /** Completions cut at max_completion_length count no tokens in the loss. */
  mask_truncated_completions: boolean;
  learning_rate: number;
  optim: Optim;
  max_grad_norm: number;
  warmup_ratio: number;
  lr_scheduler_type: LrSchedulerType;
  max_steps: number;
  seed: number;
  /** Recompute each layer's activations in the backward instead of keeping them (HF's name): less memory,
   * the same numbers. The WebGPU trainer does it; the CPU reference keeps every activation regardless. */
  gradient_checkpointing: boolean;
  /** (ours) The run stops with TrainingError('non-finite-update') after this many skipped steps in a row
   * (a step is skipped when its loss, gradient or update is not finite; its parameters stay as they were). */
  max_consecutive_skipped_steps: number;
}

export const GRPO_DEFAULTS: Readonly<GrpoSettings> = Object.freeze({
  num_generations: 10, // the paper: G = 10 (G = 5 for the "half the trajectories" claim)
  per_device_train_batch_size: 10, // (ours) one prompt's group per micro-batch
  gradient_accumulation_steps: 4, // the paper: 4-step accumulation
  generation_batch_size: null, // TRL: one rollout feeds every accumulation step
  num_iterations: 1, // the paper: one update per rollout batch (ρ = 1)
  epsilon: 0.2, // TRL's default; inactive when num_iterations = 1
  epsilon_high: null, // symmetric clipping, as TRL's default
  beta: 0.1, // the paper: β = 0.1
  loss_type: 'grpo', // the paper: mean per sequence, then over sequences
  scale_rewards: 'group', // MOTG.md: A = (R − mean) / (std + 1e-4)
  temperature: 0.9, // the paper's runs used T = 0.9
  max_prompt_length: 1024, // the paper: prompts up to 1024 tokens
  max_completion_length: 1024, // the paper: completions up to 1024 tokens
  mask_truncated_completions: false, // TRL's default
  learning_rate: 5e-6, // the paper: SGD lr 5e-6
  optim: 'sgd', // the paper: SGD
  max_grad_norm: 0.1, // the paper: grad-norm clip 0.1
  warmup_ratio: 0.18, // the paper: linear warm-up over 18% of steps
  lr_scheduler_type: 'linear', // TRL's default (warm-up, then linear decay)
  max_steps: 1000, // the paper: 1000 iterations
  seed: 42, // TRL's default
  gradient_checkpointing: false, // HF's default: keep the activations (faster; turn on when memory is short)
  max_consecutive_skipped_steps: 5, // (ours) a run that cannot make a finite update stops soon and loudly
});

/** The rollout size: generation_batch_size, or per_device_train_batch_size × gradient_accumulation_steps. */
export function generationBatchSize(s: GrpoSettings): number {
  return s.generation_batch_size ?? s.per_device_train_batch_size * s.gradient_accumulation_steps;
}

/** Throws a SettingsError for the first invalid field; returns the settings. */
export function validateGrpoSettings(s: GrpoSettings): GrpoSettings {
  checkInteger('num_generations', s.num_generations, 2);
  checkInteger('per_device_train_batch_size', s.per_device_train_batch_size, 1);
  checkInteger('gradient_accumulation_steps', s.gradient_accumulation_steps, 1);
  if (s.generation_batch_size !== null) checkInteger('generation_batch_size', s.generation_batch_size, 1);
  const gen = generationBatchSize(s);
  if (gen % s.num_generations !== 0)
    throw new SettingsError(
      'batch-not-divisible',
      s.generation_batch_size === null ? 'per_device_train_batch_size' : 'generation_batch_size',
      `the generation batch (${gen} completions) is not divisible by num_generations = ${s.num_generations}`,
    );
  if (gen % s.per_device_train_batch_size !== 0)
    throw new SettingsError(
      'batch-not-divisible',
      'generation_batch_size',
      `${gen} completions do not split into micro-batches of ${s.per_device_train_batch_size}`,
    );
  checkInteger('num_iterations', s.num_iterations, 1);
  checkFinite('epsilon', s.epsilon);
  if (s.epsilon < 0 || s.epsilon >= 1)
    throw new SettingsError('probability-out-of-range', 'epsilon', `must be in [0, 1), got ${s.epsilon}`);
  if (s.epsilon_high !== null) {
    checkFinite('epsilon_high', s.epsilon_high);
    if (s.epsilon_high < 0)
      throw new SettingsError('non-positive', 'epsilon_high', `must be ≥ 0, got ${s.epsilon_high}`);
  }
  checkFinite('beta', s.beta);
  if (s.beta < 0) throw new SettingsError('non-positive', 'beta', `must be ≥ 0, got ${s.beta}`);
  checkOneOf('loss_type', s.loss_type, ['grpo', 'dr_grpo', 'dapo', 'bnpo']);
  checkOneOf('scale_rewards', s.scale_rewards, ['group', 'batch', 'none']);
  checkTemperature('temperature', s.temperature);
  checkInteger('max_prompt_length', s.max_prompt_length, 1);
  checkInteger('max_completion_length', s.max_completion_length, 1);
  checkPositive('learning_rate', s.learning_rate);
  checkOneOf('optim', s.optim, ['sgd', 'adamw']);
  checkPositive('max_grad_norm', s.max_grad_norm);
  checkFinite('warmup_ratio', s.warmup_ratio);
  if (s.warmup_ratio < 0 || s.warmup_ratio > 1)
    throw new SettingsError(
      'probability-out-of-range',
      'warmup_ratio',
      `must be in [0, 1], got ${s.warmup_ratio}`,
    );
  checkOneOf('lr_scheduler_type', s.lr_scheduler_type, [
    'constant',
    'constant_with_warmup',
    'linear',
    'cosine',
  ]);
  checkInteger('max_steps', s.max_steps, 1);
  checkInteger('seed', s.seed, 0);
  checkInteger('max_consecutive_skipped_steps', s.max_consecutive_skipped_steps, 1);
  for (const field of ['mask_truncated_completions', 'gradient_checkpointing'] as const)
    if (typeof s[field] !== 'boolean')
      throw new SettingsError('unknown-value', field, `must be true or false, got ${String(s[field])}`);
  return s;
}

/** GRPO_DEFAULTS with overrides, validated. */
export function makeGrpoSettings(overrides: Partial<GrpoSettings> = {}): GrpoSettings {
  return validateGrpoSettings({ ...GRPO_DEFAULTS, ...overrides });
}
