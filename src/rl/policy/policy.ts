// The model side of GRPO, one contract for both backends (cpu.ts: the CPU reference, any likelihood mode;
// gpu.ts: GpuTrainer, paper-mode actions at T = 1): rollout steppers, ℓ of every action under the current and
// the reference policy, gradients of the loss accumulated through dℓ/dlogits, the optimizer update, and the
// state a checkpoint holds. GrpoTrainer (../trainer.ts) drives it and knows nothing of the backend.

import type { Qwen2Config } from '../../engine/config.ts';
import type { RolloutStepper, StepperConfig } from '../../engine/decode/stepper.ts';
import type { OptimizerState } from '../../engine/train/optim.ts';
import { actionLogLikelihood, type EmbeddingContext, type GradTerm } from '../../mot/likelihood.ts';
import type { MotSettings } from '../../mot/settings.ts';
import type { TrainingBatch } from '../trainingBatch.ts';

export interface PolicyState {
  /** Trainable parameters by HF name (full) or peft name (LoRA). */
  params: Record<string, Float32Array>;
  /** Optimizer state, the same format on both policies (train/optim.ts; null: not captured, an import
   * restarts it). */
  optimizer: OptimizerState | null;
}

export interface PolicyUpdate {
  gradNorm: number;
  applied: boolean;
  /** Why it was not applied (one clause, e.g. "the gradient is not finite"). */
  reason?: string;
}

export interface GrpoPolicy {
  readonly kind: 'cpu' | 'webgpu';
  readonly config: Qwen2Config;
  readonly embedding: Float32Array | null;
  makeStepper(cfg: StepperConfig): RolloutStepper;
  /** ℓ of every action (batch.actions order) under the reference policy. */
  referenceLogLikelihoods(batch: TrainingBatch, s: MotSettings): Promise<Float64Array>;
  /** Current-policy ℓ of every action; `coefOf(ℓ)` gives dL/dℓ per action, whose gradient is accumulated. */
  accumulate(
    batch: TrainingBatch,
    s: MotSettings,
    coefOf: (logp: Float64Array) => Float64Array,
  ): Promise<Float64Array>;
  /** Clip and update with the accumulated gradients. A non-finite norm, or an update that would leave a
   * parameter non-finite (or past train/optim.ts PARAMETER_LIMIT), changes nothing: applied false, with
   * the reason. The gradients are used up either way. */
  update(lr: number, maxGradNorm: number): Promise<PolicyUpdate>;
  discardGrads(): void;
  /** Parameters and optimizer state (`optimizer: false`: the parameters alone, optimizer null). */
  exportState(opts?: { optimizer?: boolean }): Promise<PolicyState>;
  importState(s: PolicyState): Promise<void>;
  dispose(): void;
}

/** ℓ of every action of `batch` from the logits of its forward ([B·T, V]), and (`withTerms`) the GradTerms
 * its dℓ/dlogits is made of. Both policies score actions with it, so they agree on ℓ. */
export function actionTerms(
  logits: Float32Array,
  V: number,
  batch: TrainingBatch,
  s: MotSettings,
  ctx: { embedding?: EmbeddingContext },
  withTerms: boolean,
): { values: Float64Array; terms: GradTerm[][] } {
  const values = new Float64Array(batch.actions.length);
  const terms: GradTerm[][] = [];
  batch.actions.forEach((a, i) => {
    const at = a.row * batch.T + a.position;
    const ll = actionLogLikelihood(logits.subarray(at * V, (at + 1) * V), V, a.record, s, ctx);
    values[i] = ll.value;
    if (withTerms) terms.push(ll.terms);
  });
  return { values, terms };
}
