// The contract between the rollout loop (rl/rollout.ts) and what runs the model for it: a RolloutStepper runs
// the forward and the mixture step for the whole batch, one call per loop step. Two implement it, both in
// engine/: ReferenceStepper (decode/referenceStepper.ts: any Backend, logits on the host, the CPU step
// src/mot/step.ts) and the GPU fast path (gpu/mixture.ts). It lives here, below rl/, so neither imports rl/.
import type { MotSettings } from '../../mot/settings.ts';
import type { StepRecord } from '../../mot/step.ts';

/** What a row does at a step: nothing (finished, or forced tokens still to feed), or sample by phase. */
export type RowMode = 'skip' | 'thinking' | 'answer';

/** A row's input at a step after the prompt: its previous action (mixture or token), or a given token id. */
export type RowInput = { kind: 'action' } | { kind: 'id'; id: number };

export interface StepperConfig {
  B: number;
  /** KV cache positions per row (padded prompt + new tokens). */
  capacity: number;
  settings: MotSettings;
  seed: number;
  /** Use the loaded LoRA adapter. */
  lora: boolean;
  /** Compute the hidden-state entropy per layer. */
  hiddenEntropy: boolean;
  /** Absolute σ of the Gaussian noise on e_t (σ · RMS(E) for `embedding-rms`); 0 when off. */
  noiseStd: number;
}

export interface RowStep {
  record: StepRecord;
  hiddenEntropy: number[];
}

export interface PrefillRequest {
  /** (B, T) left-padded prompt ids. */
  ids: Int32Array;
  T: number;
  positions: Int32Array;
  mask: Uint8Array;
  modes: RowMode[];
  step: number;
}

export interface StepRequest {
  inputs: RowInput[];
  /** (B) position id of the new position. */
  positions: Int32Array;
  /** (B) 1 = a real token, 0 = padding (finished rows). */
  mask: Uint8Array;
  modes: RowMode[];
  step: number;
}

/** Runs the model and the mixture step for the whole batch; one call per loop step. */
export interface RolloutStepper {
  readonly path: 'reference' | 'gpu';
  prefill(req: PrefillRequest): Promise<(RowStep | null)[]>;
  step(req: StepRequest): Promise<(RowStep | null)[]>;
  dispose(): void;
}

export interface ModelShape {
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
}
