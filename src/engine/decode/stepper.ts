// The contract between the rollout loop (rl/rollout.ts) and what runs the model for it: a RolloutStepper runs
// the forward and the mixture step for the whole batch, one call per loop step. Two implement it, both in
// engine/: ReferenceStepper (decode/referenceStepper.ts: any Backend, logits on the host, the CPU step
// src/mot/step.ts) and the GPU fast path (gpu/mixture.ts). It lives here, below rl/, so neither imports rl/.
import type { MotSettings } from '../../mot/settings.ts';
import type { StepRecord } from '../../mot/step.ts';
import type { KvRowCopy } from '../backend.ts';

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
  /** Compute the hidden-state entropies (softmax and scale-free) per layer. */
  hiddenEntropy: boolean;
  /** Absolute σ of the Gaussian noise on e_t (σ · RMS(E) for `embedding-rms`); 0 when off. */
  noiseStd: number;
}

export interface RowStep {
  record: StepRecord;
  hiddenEntropy: number[];
  /** Per layer: the scale-free hidden-state entropy (mot/diagnostics.ts energyEntropy); absent: not computed. */
  hiddenEntropyScaleFree?: number[];
}

export interface PrefillRequest {
  /** (B / G, T) left-padded prompt ids: one row per prompt, shared by the G batch rows that continue it. */
  ids: Int32Array;
  T: number;
  /** (B / G, T) position ids and mask (1 = a real token, 0 = left padding) of the prompt rows. */
  positions: Int32Array;
  mask: Uint8Array;
  /** Batch rows per prompt row: batch row b continues prompt row ⌊b / G⌋. The stepper runs each prompt
   * once, copies its cache rows to the G batch rows, and samples every batch row from the prompt's
   * last-position logits with the row's own counters (default 1: one prompt row per batch row). */
  G?: number;
  /** (B) what each batch row does. */
  modes: RowMode[];
  step: number;
}

/** Prompt rows of a prefill for a batch of B rows (B / G), checked. */
export function promptRowsOf(req: PrefillRequest, B: number): number {
  const G = req.G ?? 1;
  if (!(Number.isInteger(G) && G >= 1 && B % G === 0))
    throw new RangeError(`prefill: ${B} batch rows are not a whole number of groups of G = ${G}`);
  const P = B / G;
  if (req.modes.length !== B || req.ids.length !== P * req.T)
    throw new RangeError(
      `prefill: ${req.modes.length} modes and ${req.ids.length} ids for B = ${B}, G = ${G}, T = ${req.T}`,
    );
  return P;
}

/** The cache copies that give batch rows p·G … p·G + G − 1 prompt row p's cached positions. */
export function groupRowCopies(P: number, G: number): KvRowCopy[] {
  return Array.from({ length: P }, (_, p) => ({
    from: p,
    to: Array.from({ length: G }, (_, g) => p * G + g),
  }));
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
