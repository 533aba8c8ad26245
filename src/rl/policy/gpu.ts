// The WebGPU policy for GRPO: GpuTrainer on the backend's own parameter buffers. GpuTrainer scores k weighted
// targets per position, i.e. ℓ = log softmax(z)[target] at temperature 1, or Σ_j q_j log softmax(z)[x_j] with
// q the current softmax renormalised over the ids, so it serves only paper-mode actions at T = 1 (the
// representative or weighted-ids rule, and discrete steps, at `paperTemperature: 'one'` or T = 1; Gaussian
// noise on e_t included, regenerated in the training forward from the records' counters); anything else is
// refused up front with TrainingError('unsupported-on-gpu') (gpuUnsupportedReason below says why).
// Per micro-batch ONE training forward: the log-probs of each position's K ids come back (and the loss
// kernel's ℓ, B·T floats), ℓ and the GRPO coefficients are computed from them, and the backward runs from the
// kept activations; the reference's ℓ comes from the same K log-probs under the reference, with the same
// arithmetic. No call reads the logits back.

import type { Qwen2Config } from '../../engine/config.ts';
import type { RolloutStepper, StepperConfig } from '../../engine/decode/stepper.ts';
import { EngineError } from '../../engine/errors.ts';
import { GpuTrainer, type LikelihoodBatch } from '../../engine/gpu/train.ts';
import type { GpuBackend } from '../../engine/gpuBackend.ts';
import { type OptimizerState, PARAMETER_LIMIT } from '../../engine/train/optim.ts';
import type { StepRecord } from '../../mot/likelihood.ts';
import type { MotSettings } from '../../mot/settings.ts';
import { TrainingError } from '../errors.ts';
import type { TrainingBatch } from '../trainingBatch.ts';
import type { GrpoPolicy, PolicyState, PolicyUpdate } from './policy.ts';

export interface GpuPolicyOptions {
  mode: 'full' | 'lora';
  optim: 'sgd' | 'adamw';
  trainEmbeddings?: boolean;
  /** Global gradient-norm clip (the run's max_grad_norm). */
  clipNorm: number;
  /** Recompute each layer's activations in the backward (the run's gradient_checkpointing). */
  recompute?: boolean;
  /** Full fine-tuning: the frozen reference (a second GpuModel of the starting weights). */
  reference: GpuBackend | null;
  makeStepper: (cfg: StepperConfig) => RolloutStepper;
}

/**
 * The ids whose log-probs make up ℓ of each action in paper mode (gpuUnsupportedReason null): the recorded
 * ids of a mixture step under the weighted-ids rule, else the one target (y, or the representative r);
 * K = the most ids of any action of the batch (1 when every action has one).
 */
function lossTargets(
  batch: TrainingBatch,
  s: MotSettings,
): { K: number; ids: (r: StepRecord) => readonly number[] } {
  const weighted = s.mixture && s.paperRule === 'weighted-ids';
  const ids = (r: StepRecord): readonly number[] =>
    r.mode === 'discrete' ? [r.ids[0]] : weighted ? r.ids : [r.representative];
  let K = 1;
  for (const a of batch.actions) K = Math.max(K, ids(a.record).length);
  return { K, ids };
}

/**
 * The micro-batch as GpuTrainer scores it: K targets per position (0 where no action is), and under the
 * weighted-ids rule weight 1 on each recorded id, renormalised by the current policy on the GPU
 * (q_j = π(x_j)/Σ_l π(x_l), not detached), weight 0 padding. One target per position needs no weights.
 */
function likelihoodBatch(batch: TrainingBatch, s: MotSettings): LikelihoodBatch & { k: number } {
  const N = batch.B * batch.T;
  const { K, ids } = lossTargets(batch, s);
  const targets = new Int32Array(N * K);
  const weights = K > 1 ? new Float32Array(N * K) : null;
  for (const a of batch.actions) {
    const at = a.row * batch.T + a.position;
    const own = ids(a.record);
    for (let j = 0; j < own.length; j++) {
      targets[at * K + j] = own[j];
      if (weights) weights[at * K + j] = 1;
    }
  }
  return {
    input: batch.input,
    B: batch.B,
    T: batch.T,
    targets,
    k: K,
    ...(weights ? { weights, renormalise: true } : {}),
    attentionMask: batch.attentionMask,
    positionIds: batch.positionIds,
  };
}

/** actionLogLikelihood's ℓ is 0 for this record (paper mode: a greedy step scored at its own temperature). */
function scoredAsGreedy(r: StepRecord, s: MotSettings): boolean {
  return (s.paperTemperature === 'one' ? 1 : r.temperature) === 0;
}

/**
 * Paper-mode ℓ of every action from the log-probs of each position's K targets (likelihoodBatch's), in f64
 * as actionLogLikelihood — the same arithmetic for the current and the reference policy, so their ℓ agree
 * bit for bit where their logits do (the KL term is then exactly 0 at the start).
 */
function actionValues(batch: TrainingBatch, s: MotSettings, logp: Float32Array, K: number): Float64Array {
  const { ids } = lossTargets(batch, s);
  const weighted = K > 1;
  return Float64Array.from(batch.actions, (a) => {
    if (scoredAsGreedy(a.record, s)) return 0;
    const at = (a.row * batch.T + a.position) * K;
    return paperValue(logp.subarray(at, at + K), ids(a.record).length, weighted);
  });
}

/** Paper-mode ℓ of an action from the log-probs of its ids (lossTargets order), in f64 as
 * actionLogLikelihood: log π(target), or Σ_j q_j log π(x_j) with q = π(x)/Σ π(x) (the weighted-ids rule). */
function paperValue(logp: ArrayLike<number>, n: number, weighted: boolean): number {
  if (!weighted || n === 1) return logp[0];
  let m = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < n; j++) m = Math.max(m, logp[j]);
  let z = 0;
  for (let j = 0; j < n; j++) z += Math.exp(logp[j] - m);
  let value = 0;
  for (let j = 0; j < n; j++) value += (Math.exp(logp[j] - m) / z) * logp[j];
  return value;
}

/** Why the GPU trainer cannot train these settings, or null when it can. */
export function gpuUnsupportedReason(s: MotSettings): string | null {
  if (s.likelihood !== 'paper')
    return `likelihood "${s.likelihood}" needs dℓ/dlogits beyond target log-probs`;
  const temps = [s.temperature, s.mixtureTemperature ?? s.temperature];
  if (s.paperTemperature !== 'one' && temps.some((t) => t !== 1 && t !== 0))
    return "the GPU backward scores log-probs at temperature 1: set paperTemperature 'one' or temperature 1";
  // Noise on e_t (soft-tokens) trains: the training forward regenerates each step's noise from its counters
  // (rollout.ts buildTrainingBatch), and the paper likelihood has no noise term (the exact one, refused
  // above, has).
  return null;
}

/** The GPU policy: GpuTrainer on the backend's own parameter buffers (paper-mode actions at T = 1 only). */
export class GpuPolicy implements GrpoPolicy {
  readonly kind = 'webgpu' as const;
  private pendingFinite = true;

  private constructor(
    readonly config: Qwen2Config,
    readonly embedding: Float32Array | null,
    private readonly backend: GpuBackend,
    private readonly trainer: GpuTrainer,
    private readonly o: GpuPolicyOptions,
  ) {}

  static async create(
    config: Qwen2Config,
    embedding: Float32Array | null,
    backend: GpuBackend,
    o: GpuPolicyOptions,
  ): Promise<GpuPolicy> {
    const trainer = await GpuTrainer.create(backend.model, {
      mode: o.mode,
      trainEmbeddings: o.trainEmbeddings,
      clipNorm: o.clipNorm,
      recompute: o.recompute === true,
      optimizer: o.optim === 'sgd' ? { kind: 'sgd' } : { kind: 'adamw', weightDecay: 0 },
    });
    return new GpuPolicy(config, embedding, backend, trainer, o);
  }

  /** Whether the trainer recomputes layers in the backward (gradient_checkpointing). */
  get recomputes(): boolean {
    return this.trainer.options.recompute === true;
  }

  makeStepper(cfg: StepperConfig): RolloutStepper {
    return this.o.makeStepper({ ...cfg, lora: this.o.mode === 'lora' });
  }

  /** ℓ of every action under the reference (the base model without the adapter in LoRA mode, else the
   * frozen copy): only the log-probs of each position's K ids come back, never the logits. */
  async referenceLogLikelihoods(batch: TrainingBatch, s: MotSettings): Promise<Float64Array> {
    const why = gpuUnsupportedReason(s);
    if (why) throw new TrainingError('unsupported-on-gpu', why);
    const lb = likelihoodBatch(batch, s);
    const K = lb.k;
    const model = this.o.mode === 'lora' ? this.backend.model : (this.o.reference as GpuBackend).model;
    const r = await model.forward(batch.input, batch.B, batch.T, {
      attentionMask: batch.attentionMask,
      positionIds: batch.positionIds,
      lora: false,
      logits: false,
      targets: lb.targets,
      targetsPerPosition: K,
    });
    return actionValues(batch, s, r.logprobs as Float32Array, K);
  }

  /** ONE training forward per micro-batch: ℓ of the actions from the log-probs of their ids (B·T·K floats
   * come back, as for the reference: actionValues), the coefficients from ℓ, then the backward from the
   * kept activations (the head recomputes each vocabulary chunk's logits and forms coef · dℓ/dlogits). */
  async accumulate(
    batch: TrainingBatch,
    s: MotSettings,
    coefOf: (logp: Float64Array) => Float64Array,
  ): Promise<Float64Array> {
    const why = gpuUnsupportedReason(s);
    if (why) throw new TrainingError('unsupported-on-gpu', why);
    const lb = likelihoodBatch(batch, s);
    const { targetLogprobs } = await this.trainer.forwardLogLikelihoods(lb, { targetLogprobs: true });
    const values = actionValues(batch, s, targetLogprobs as Float32Array, lb.k);
    const at = (a: TrainingBatch['actions'][number]) => a.row * batch.T + a.position;
    const coef = coefOf(values);
    const c = new Float32Array(batch.B * batch.T);
    batch.actions.forEach((a, i) => {
      if (a.record.temperature === 0) return; // a greedy step: no gradient
      c[at(a)] = -coef[i]; // GpuTrainer: loss = −Σ coef · ℓ
      if (!Number.isFinite(coef[i])) this.pendingFinite = false;
    });
    if (this.pendingFinite) await this.trainer.backwardFrom(lb, c);
    return values;
  }

  /** The accumulated gradients by name (tests). */
  readGrads(): Promise<Map<string, Float32Array>> {
    return this.trainer.readGrads();
  }

  async update(lr: number, maxGradNorm: number): Promise<PolicyUpdate> {
    if (!this.pendingFinite) {
      this.discardGrads();
      return { gradNorm: Number.NaN, applied: false, reason: 'the loss coefficients are not finite' };
    }
    void maxGradNorm; // GpuTrainer clips with the clipNorm it was created with (GpuPolicyOptions.clipNorm)
    // All or nothing on the device (gpu/optimizer.ts step): a refused update wrote nothing.
    const r = await this.trainer.stepOptimizer({ lr });
    this.discardGrads();
    if (r.applied) return { gradNorm: r.gradNorm, applied: true };
    const reason = Number.isFinite(r.gradNorm)
      ? `the update would leave a parameter past ±${PARAMETER_LIMIT.toExponential(0)} or non-finite`
      : 'the gradient is not finite';
    return { gradNorm: r.gradNorm, applied: false, reason };
  }

  discardGrads(): void {
    this.trainer.zeroGrad();
    this.pendingFinite = true;
  }

  // The optimizer state in train/optim.ts's OptimizerState format: `t` = updates applied (GpuTrainer.step),
  // one slot per trained tensor under the same name as CpuPolicy's (HF names; peft names in LoRA mode),
  // bufs = AdamW [m, v] (plain SGD: []), and steps = t, since GpuTrainer updates every tensor on every step
  // (no slots before the first update, as optim.ts's AdamW / Sgd). Both optimizers run the same update (train/optim.ts, the
  // same defaults, weight decay 0, gradients clipped before the moments), so a checkpoint is interchangeable
  // between CpuPolicy and GpuPolicy of the same mode and optimizer: GPU → GPU (and CPU → CPU) resumes
  // bit-exactly; across backends the optimizer continues where it was, within the backends' float rounding.
  // A checkpoint whose tensors have different step counts (optim.ts's can, GpuTrainer keeps one) is refused.
  async exportState(opts: { optimizer?: boolean } = {}): Promise<PolicyState> {
    const params: Record<string, Float32Array> = {};
    for (const [k, v] of await this.trainer.readParams()) params[k] = v;
    if (opts.optimizer === false) return { params, optimizer: null };
    const o = await this.trainer.readOptimizerState();
    const slots: OptimizerState['slots'] = {};
    if (o.step > 0) for (const [k, bufs] of o.buffers) slots[k] = { steps: o.step, bufs };
    return { params, optimizer: { kind: o.kind, t: o.step, slots } };
  }

  async importState(s: PolicyState): Promise<void> {
    const o = s.optimizer;
    if (o) {
      // Checked and written before the parameters: a checkpoint refused for its optimizer changes nothing.
      if (o.kind !== this.o.optim)
        throw new TrainingError('bad-checkpoint', `checkpoint optimizer ${o.kind}, run uses ${this.o.optim}`);
      const buffers = new Map<string, Float32Array[]>();
      for (const [k, v] of Object.entries(o.slots)) {
        if (v.steps !== o.t)
          throw new TrainingError(
            'bad-checkpoint',
            `checkpoint optimizer: ${k} took ${v.steps} steps of ${o.t} (the GPU optimizer keeps one count)`,
          );
        buffers.set(k, v.bufs);
      }
      try {
        if (o.t === 0 && buffers.size === 0) await this.trainer.resetOptimizer();
        else await this.trainer.writeOptimizerState({ kind: o.kind, step: o.t, buffers });
      } catch (e) {
        if (e instanceof EngineError && (e.code === 'invalid-argument' || e.code === 'tensor-shape'))
          throw new TrainingError('bad-checkpoint', `checkpoint optimizer: ${e.message}`);
        throw e;
      }
    } else await this.trainer.resetOptimizer(); // no optimizer state saved: it starts over
    await this.trainer.writeParams(new Map(Object.entries(s.params)));
  }

  dispose(): void {
    this.trainer.dispose();
    this.o.reference?.dispose();
  }
}
