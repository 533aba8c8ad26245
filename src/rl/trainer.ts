// The GRPO trainer over mixture-of-token actions (MOTG.md §2), end to end: prompts sampled from a task mix
// at a curriculum level, G rollouts per prompt (rollout.ts), rewards (tasks/reward.ts), group advantages,
// `num_iterations` updates of the clipped objective with the k3 KL to a reference policy (grpo.ts), the
// per-action coefficient dL/dℓ_t pushed through dℓ_t/dlogits (mot/likelihood.ts) into the model backward,
// and an optimizer step with global-norm clipping and the LR schedule.
//
// Two policies implement the model side:
// - CpuPolicy (any likelihood mode): qwen2ForwardTrain → ℓ and dℓ/dlogits of every action from its GradTerms
//   → qwen2Backward with that dense dlogits; a serialisable SGD / AdamW on the host.
// - GpuPolicy (policy.ts is not split out: see GpuPolicy below): GpuTrainer's backward takes a coefficient
//   and k weighted targets per position, i.e. dℓ/dlogits of log softmax(z)[target] at temperature 1, or of
//   Σ_j q_j log softmax(z)[x_j] with q the current softmax renormalised over the ids, so it serves only
//   paper-mode actions at T = 1 (the representative or weighted-ids rule, and discrete steps, at
//   `paperTemperature: 'one'` or T = 1; Gaussian noise on e_t included, regenerated in the training
//   forward from the records' counters); anything else is refused up front with
//   TrainingError('unsupported-on-gpu').
//
// Determinism: every random choice is counter-based on (seed, step): prompts, task items, rollout draws. So
// the trainer's RNG state is its step count, and a checkpoint (weights, optimizer state, step) resumes
// exactly.

import type { Qwen2Config } from '../engine/config.ts';
import { CpuBackend } from '../engine/cpuBackend.ts';
import { ReferenceStepper } from '../engine/decode/referenceStepper.ts';
import type { RolloutStepper, StepperConfig } from '../engine/decode/stepper.ts';
import { EngineError } from '../engine/errors.ts';
import { GpuTrainer } from '../engine/gpu/train.ts';
import type { GpuBackend } from '../engine/gpuBackend.ts';
import { loraGradName, qwen2Backward, qwen2ForwardTrain } from '../engine/ref/backward.ts';
import type { LoraWeights, RefModel } from '../engine/ref/model.ts';
import type { WeightMap } from '../engine/tensor.ts';
import {
  ADAMW_DEFAULTS,
  adamwUpdate,
  globalGradNorm,
  SGD_DEFAULTS,
  sgdUpdate,
} from '../engine/train/optim.ts';
import {
  actionLogLikelihood,
  denseFromTerms,
  type EmbeddingContext,
  type GradTerm,
  type StepRecord,
} from '../mot/likelihood.ts';
import { counterUniform, pcgHash } from '../mot/rng.ts';
import type { MotSettings, PresetName } from '../mot/settings.ts';
import { SettingsError } from '../mot/settings.ts';
import type { StopSettings } from '../mot/stop.ts';
import { resolveConfig } from '../tasks/dataset.ts';
import { getTask, hasTask } from '../tasks/registry.ts';
import {
  computeReward,
  type RewardBreakdown,
  type RewardPresetName,
  type RewardSettings,
} from '../tasks/reward.ts';
import type { TaskEntry } from '../tasks/types.ts';
import { groupAdvantages, grpoLoss } from './grpo.ts';
import { estimateFlops, meanStd, rolloutStats, type StepMetrics } from './metrics.ts';
import {
  buildTrainingBatch,
  noiseStdOf,
  rolloutSettings,
  rolloutStopSettings,
  runRollout,
  type TextCodec,
  type TrainingBatch,
  type Trajectory,
} from './rollout.ts';
import { type GrpoSettings, generationBatchSize, makeGrpoSettings } from './settings.ts';

// ---- Errors -------------------------------------------------------------------------------------------

export type TrainingErrorCode =
  | 'already-running'
  | 'not-running'
  | 'unsupported-on-gpu'
  | 'no-adapter'
  | 'no-tokenizer'
  | 'unknown-task'
  | 'bad-checkpoint'
  | 'non-finite-update'
  | 'stopped';

/** A training failure a user can cause, by code (crosses the worker boundary as name + code + message). */
export class TrainingError extends Error {
  readonly code: TrainingErrorCode;
  constructor(code: TrainingErrorCode, message: string) {
    super(message);
    this.name = 'TrainingError';
    this.code = code;
  }
}

// ---- Configuration ------------------------------------------------------------------------------------

export interface TaskMixEntry {
  task: string;
  /** Curriculum level name (the task's `levels`); absent: the task's defaults. */
  level?: string;
  /** Relative sampling weight (default 1). */
  weight?: number;
}

export interface TrainerConfig {
  grpo: GrpoSettings;
  preset: PresetName;
  /** Overrides of the preset. Its temperature is grpo.temperature unless set here. */
  mot: Partial<MotSettings>;
  /** Overrides of the stop settings (thinkEnd / eos come from the host). */
  stop: Partial<StopSettings>;
  tasks: TaskMixEntry[];
  reward: RewardPresetName | Partial<RewardSettings>;
  /** 'lora' trains the loaded adapter (reference: adapter off); 'full' every parameter (reference: a copy). */
  mode: 'full' | 'lora';
  /** mode 'lora': train a fresh adapter of this rank (B = 0, so it starts at the base model); absent: the
   * loaded adapter, or a fresh rank-8 one when none is loaded. */
  lora?: { r: number; alpha?: number; targetModules?: string[] };
  /** Seed of the task items (default grpo.seed). */
  dataSeed?: number;
  /** Record the hidden-state entropy per layer in the rollouts (default true). */
  hiddenEntropy?: boolean;
  /** Test hook: the loss coefficients of this 1-based step are made NaN (the step must be skipped). */
  injectNonFiniteAtStep?: number;
}

export type TrainerConfigInput = Partial<Omit<TrainerConfig, 'grpo'>> & { grpo?: Partial<GrpoSettings> };

/** Defaults filled in and everything validated; throws SettingsError / TrainingError naming the field. */
export function makeTrainerConfig(input: TrainerConfigInput, V?: number): TrainerConfig {
  const grpo = makeGrpoSettings(input.grpo ?? {});
  const cfg: TrainerConfig = {
    grpo,
    preset: input.preset ?? 'dirichlet',
    mot: input.mot ?? {},
    stop: input.stop ?? {},
    tasks: input.tasks ?? [{ task: 'chain_sum' }],
    reward: input.reward ?? 'tiny',
    mode: input.mode ?? 'full',
    lora: input.lora,
    dataSeed: input.dataSeed,
    hiddenEntropy: input.hiddenEntropy ?? true,
    injectNonFiniteAtStep: input.injectNonFiniteAtStep,
  };
  if (cfg.mode !== 'full' && cfg.mode !== 'lora')
    throw new SettingsError('unknown-value', 'mode', `"${cfg.mode}" is not full or lora`);
  if (cfg.lora !== undefined) {
    if (!Number.isInteger(cfg.lora.r) || cfg.lora.r < 1)
      throw new SettingsError(
        'not-an-integer',
        'lora.r',
        `LoRA rank must be an integer ≥ 1, got ${cfg.lora.r}`,
      );
    if (cfg.lora.alpha !== undefined && !(cfg.lora.alpha > 0))
      throw new SettingsError('non-positive', 'lora.alpha', `must be > 0, got ${cfg.lora.alpha}`);
  }
  if (cfg.tasks.length === 0) throw new SettingsError('shape-mismatch', 'tasks', 'no tasks');
  for (const t of cfg.tasks) {
    if (!hasTask(t.task)) throw new TrainingError('unknown-task', `unknown task "${t.task}"`);
    resolveConfig(getTask(t.task), t.level); // throws UnknownLevelError
    if (t.weight !== undefined && !(t.weight > 0))
      throw new SettingsError('non-positive', 'tasks.weight', `${t.task}: weight must be > 0`);
  }
  motSettingsOf(cfg, V); // validates the mixture settings
  return cfg;
}

/** The rollout's step settings: the preset, grpo.temperature, then the overrides. */
export function motSettingsOf(
  cfg: TrainerConfig,
  V?: number,
  purpose: 'train' | 'eval' = 'train',
): MotSettings {
  return rolloutSettings(cfg.preset, { temperature: cfg.grpo.temperature, ...cfg.mot }, V, purpose);
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

// ---- The model side -----------------------------------------------------------------------------------

export interface PolicyState {
  /** Trainable parameters by HF name (full) or peft name (LoRA). */
  params: Record<string, Float32Array>;
  /** Optimizer state, the same format on both policies (null: not captured; an import restarts it). */
  optimizer: OptimizerState | null;
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
  /** Clip and update with the accumulated gradients; a non-finite norm discards them (applied: false). */
  update(lr: number, maxGradNorm: number): Promise<{ gradNorm: number; applied: boolean }>;
  discardGrads(): void;
  /** Parameters and optimizer state (`optimizer: false`: the parameters alone, optimizer null). */
  exportState(opts?: { optimizer?: boolean }): Promise<PolicyState>;
  importState(s: PolicyState): Promise<void>;
  dispose(): void;
}

export interface OptimizerState {
  kind: 'sgd' | 'adamw';
  t: number;
  slots: Record<string, { steps: number; bufs: Float32Array[] }>;
}

/** SGD / AdamW (train/optim.ts kernels) whose state can be saved and restored exactly. */
export class HostOptimizer {
  private t = 0;
  private slots = new Map<string, { steps: number; bufs: Float32Array[] }>();
  constructor(readonly kind: 'sgd' | 'adamw') {}

  update(
    params: ReadonlyMap<string, Float32Array>,
    grads: ReadonlyMap<string, Float32Array>,
    lr: number,
  ): void {
    this.t++;
    for (const [name, g] of grads) {
      const p = params.get(name);
      if (!p) continue; // a frozen parameter's gradient (e.g. the embedding with trainEmbeddings off)
      let s = this.slots.get(name);
      if (!s) {
        const nb = this.kind === 'adamw' ? 2 : 0;
        s = { steps: 0, bufs: Array.from({ length: nb }, () => new Float32Array(p.length)) };
        this.slots.set(name, s);
      }
      s.steps++;
      if (this.kind === 'adamw')
        adamwUpdate(p, g, s.bufs[0], s.bufs[1], s.steps, { ...ADAMW_DEFAULTS, weightDecay: 0, lr });
      else sgdUpdate(p, g, null, s.steps, { ...SGD_DEFAULTS, lr });
    }
  }

  state(): OptimizerState {
    const slots: OptimizerState['slots'] = {};
    for (const [k, s] of this.slots) slots[k] = { steps: s.steps, bufs: s.bufs.map((b) => b.slice()) };
    return { kind: this.kind, t: this.t, slots };
  }

  load(s: OptimizerState): void {
    if (s.kind !== this.kind)
      throw new TrainingError('bad-checkpoint', `checkpoint optimizer ${s.kind}, run uses ${this.kind}`);
    this.t = s.t;
    this.slots = new Map(
      Object.entries(s.slots).map(([k, v]) => [k, { steps: v.steps, bufs: v.bufs.map((b) => b.slice()) }]),
    );
  }
}

function cloneWeights(w: WeightMap): WeightMap {
  const out: WeightMap = new Map();
  for (const [k, t] of w) out.set(k, { ...t, data: t.data.slice() });
  return out;
}

function actionTerms(
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

export interface CpuPolicyOptions {
  mode: 'full' | 'lora';
  optim: 'sgd' | 'adamw';
  /** Full fine-tuning: train the embedding (and a tied head). Default true. */
  trainEmbeddings?: boolean;
}

/** The CPU reference policy: any likelihood mode. Trains `weights` (or `adapter`) in place. */
export class CpuPolicy implements GrpoPolicy {
  readonly kind = 'cpu' as const;
  readonly embedding: Float32Array | null;
  private readonly model: RefModel;
  private readonly refModel: RefModel;
  private readonly backend: CpuBackend;
  private readonly params = new Map<string, Float32Array>();
  private readonly grads = new Map<string, Float32Array>();
  private readonly optimizer: HostOptimizer;

  constructor(
    readonly config: Qwen2Config,
    weights: WeightMap,
    private readonly adapter: LoraWeights | null,
    private readonly o: CpuPolicyOptions,
  ) {
    if (o.mode === 'lora' && !adapter)
      throw new TrainingError('no-adapter', "mode 'lora' needs a loaded LoRA adapter");
    this.model = { config, weights };
    this.backend = new CpuBackend(config, weights, o.mode === 'lora' ? adapter : null);
    this.embedding = weights.get('model.embed_tokens.weight')?.data ?? null;
    // Reference: the starting model (LoRA: the base, adapter off; full: a frozen copy).
    this.refModel = o.mode === 'lora' ? this.model : { config, weights: cloneWeights(weights) };
    if (o.mode === 'lora' && adapter) {
      for (const [base, pair] of adapter.layers) {
        this.params.set(loraGradName(base, 'A'), pair.A.data);
        this.params.set(loraGradName(base, 'B'), pair.B.data);
      }
    } else {
      for (const [name, t] of weights) {
        if (name === 'model.embed_tokens.weight' && o.trainEmbeddings === false) continue;
        this.params.set(name, t.data);
      }
    }
    this.optimizer = new HostOptimizer(o.optim);
  }

  makeStepper(cfg: StepperConfig): RolloutStepper {
    const C = this.config.hiddenSize;
    return new ReferenceStepper(
      this.backend,
      { vocabSize: this.config.vocabSize, hiddenSize: C, numHiddenLayers: this.config.numHiddenLayers },
      { ...cfg, lora: this.o.mode === 'lora' },
      this.embedding,
    );
  }

  private ctx(): { embedding?: EmbeddingContext } {
    return this.embedding ? { embedding: { E: this.embedding, C: this.config.hiddenSize } } : {};
  }

  async referenceLogLikelihoods(batch: TrainingBatch, s: MotSettings): Promise<Float64Array> {
    const acts = qwen2ForwardTrain(this.refModel, batch.input, batch.B, batch.T, {
      positionIds: batch.positionIds,
      attentionMask: batch.attentionMask,
      lora: null,
    });
    return actionTerms(acts.logits, this.config.vocabSize, batch, s, this.ctx(), false).values;
  }

  async accumulate(
    batch: TrainingBatch,
    s: MotSettings,
    coefOf: (logp: Float64Array) => Float64Array,
  ): Promise<Float64Array> {
    const V = this.config.vocabSize;
    const saved = qwen2ForwardTrain(this.model, batch.input, batch.B, batch.T, {
      positionIds: batch.positionIds,
      attentionMask: batch.attentionMask,
      lora: this.o.mode === 'lora' ? this.adapter : null,
    });
    const { values, terms } = actionTerms(saved.logits, V, batch, s, this.ctx(), true);
    const coef = coefOf(values);
    const dlogits = new Float32Array(saved.logits.length);
    batch.actions.forEach((a, i) => {
      const c = coef[i];
      if (c === 0) return;
      const at = a.row * batch.T + a.position;
      const row = saved.logits.subarray(at * V, (at + 1) * V);
      const d = denseFromTerms(terms[i], row, V);
      for (let v = 0; v < V; v++) dlogits[at * V + v] += c * d[v];
    });
    qwen2Backward(saved, dlogits, {
      lora: this.o.mode === 'lora',
      grads: this.grads,
      trainEmbeddings: this.o.trainEmbeddings,
    });
    return values;
  }

  async update(lr: number, maxGradNorm: number): Promise<{ gradNorm: number; applied: boolean }> {
    const grads = new Map([...this.grads].filter(([k]) => this.params.has(k)));
    const norm = globalGradNorm(grads.values());
    if (!Number.isFinite(norm)) {
      this.discardGrads();
      return { gradNorm: norm, applied: false };
    }
    if (maxGradNorm > 0 && norm > maxGradNorm) {
      const f = maxGradNorm / (norm + 1e-6); // torch clip_grad_norm_
      for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] *= f;
    }
    this.optimizer.update(this.params, grads, lr);
    this.discardGrads();
    return { gradNorm: norm, applied: true };
  }

  discardGrads(): void {
    for (const g of this.grads.values()) g.fill(0);
  }

  /** The accumulated gradients (tests). */
  peekGrads(): ReadonlyMap<string, Float32Array> {
    return this.grads;
  }

  async exportState(opts: { optimizer?: boolean } = {}): Promise<PolicyState> {
    const params: Record<string, Float32Array> = {};
    for (const [k, p] of this.params) params[k] = p.slice();
    return { params, optimizer: opts.optimizer === false ? null : this.optimizer.state() };
  }

  async importState(s: PolicyState): Promise<void> {
    for (const [k, p] of this.params) {
      const v = s.params[k];
      if (!v || v.length !== p.length)
        throw new TrainingError('bad-checkpoint', `checkpoint lacks ${k} or its shape differs`);
      p.set(v);
    }
    // No optimizer state saved: it starts over (as GpuPolicy's).
    this.optimizer.load(s.optimizer ?? { kind: this.optimizer.kind, t: 0, slots: {} });
  }

  dispose(): void {}
}

export interface GpuPolicyOptions {
  mode: 'full' | 'lora';
  optim: 'sgd' | 'adamw';
  trainEmbeddings?: boolean;
  /** Global gradient-norm clip (the run's max_grad_norm). */
  clipNorm: number;
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
      optimizer: o.optim === 'sgd' ? { kind: 'sgd' } : { kind: 'adamw', weightDecay: 0 },
    });
    return new GpuPolicy(config, embedding, backend, trainer, o);
  }

  makeStepper(cfg: StepperConfig): RolloutStepper {
    return this.o.makeStepper({ ...cfg, lora: this.o.mode === 'lora' });
  }

  private async logits(b: GpuBackend, batch: TrainingBatch, lora: boolean): Promise<Float32Array> {
    const r = await b.forward(batch.input, batch.B, batch.T, {
      attentionMask: batch.attentionMask,
      positionIds: batch.positionIds,
      lora,
    });
    return r.logits;
  }

  async referenceLogLikelihoods(batch: TrainingBatch, s: MotSettings): Promise<Float64Array> {
    const logits =
      this.o.mode === 'lora'
        ? await this.logits(this.backend, batch, false)
        : await this.logits(this.o.reference as GpuBackend, batch, false);
    return actionTerms(logits, this.config.vocabSize, batch, s, {}, false).values;
  }

  async accumulate(
    batch: TrainingBatch,
    s: MotSettings,
    coefOf: (logp: Float64Array) => Float64Array,
  ): Promise<Float64Array> {
    const why = gpuUnsupportedReason(s);
    if (why) throw new TrainingError('unsupported-on-gpu', why);
    const logits = await this.logits(this.backend, batch, this.o.mode === 'lora');
    const { values } = actionTerms(logits, this.config.vocabSize, batch, s, {}, false);
    const coef = coefOf(values);
    const N = batch.B * batch.T;
    const { K, ids } = lossTargets(batch, s);
    const targets = new Int32Array(N * K);
    // The weighted-ids rule: weight 1 on each recorded id, renormalised by the current policy on the GPU
    // (q_j = π(x_j)/Σ_l π(x_l), not detached); weight 0 pads. One target per position needs no weights.
    const weights = K > 1 ? new Float32Array(N * K) : null;
    const c = new Float32Array(N);
    batch.actions.forEach((a, i) => {
      const at = a.row * batch.T + a.position;
      const own = ids(a.record);
      for (let j = 0; j < own.length; j++) {
        targets[at * K + j] = own[j];
        if (weights) weights[at * K + j] = 1;
      }
      if (a.record.temperature === 0) return; // a greedy step: ℓ = 0, no gradient
      c[at] = -coef[i]; // GpuTrainer: loss = −Σ coef · ℓ
      if (!Number.isFinite(coef[i])) this.pendingFinite = false;
    });
    if (this.pendingFinite)
      await this.trainer.backward({
        input: batch.input,
        B: batch.B,
        T: batch.T,
        targets,
        coef: c,
        k: K,
        ...(weights ? { weights, renormalise: true } : {}),
        attentionMask: batch.attentionMask,
        positionIds: batch.positionIds,
      });
    return values;
  }

  /** The accumulated gradients by name (tests). */
  readGrads(): Promise<Map<string, Float32Array>> {
    return this.trainer.readGrads();
  }

  async update(lr: number, maxGradNorm: number): Promise<{ gradNorm: number; applied: boolean }> {
    if (!this.pendingFinite) {
      this.discardGrads();
      return { gradNorm: Number.NaN, applied: false };
    }
    void maxGradNorm; // GpuTrainer clips with the clipNorm it was created with (GpuPolicyOptions.clipNorm)
    const r = await this.trainer.stepOptimizer({ lr });
    if (!Number.isFinite(r.gradNorm))
      throw new TrainingError('non-finite-update', 'a non-finite gradient reached the GPU parameters');
    return { gradNorm: r.gradNorm, applied: true };
  }

  discardGrads(): void {
    this.trainer.zeroGrad();
    this.pendingFinite = true;
  }

  // The optimizer state in HostOptimizer's format: `t` = updates applied (GpuTrainer.step), one slot per
  // trained tensor under the same name as CpuPolicy's (HF names; peft names in LoRA mode), bufs = AdamW
  // [m, v] (plain SGD: []), and steps = t, since GpuTrainer updates every tensor on every step (no slots
  // before the first update, as HostOptimizer). Both optimizers run the same update (train/optim.ts, the
  // same defaults, weight decay 0, gradients clipped before the moments), so a checkpoint is interchangeable
  // between CpuPolicy and GpuPolicy of the same mode and optimizer: GPU → GPU (and CPU → CPU) resumes
  // bit-exactly; across backends the optimizer continues where it was, within the backends' float rounding.
  // A checkpoint whose tensors have different step counts (HostOptimizer can, GpuTrainer keeps one) is refused.
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

// ---- The trainer --------------------------------------------------------------------------------------

export interface TrainerHost {
  policy: GrpoPolicy;
  /** Question → prompt ids (chat-formatted, `<think>` prefilled). */
  encodePrompt(question: string): number[];
  text: TextCodec;
  thinkEnd: number[];
  eos: number[];
  padId: number;
  /** Replaces computeReward (tests, custom rewards); host-side only. */
  reward?: (completion: string, item: PromptItem) => RewardBreakdown;
}

export interface ScoredTrajectory {
  task: string;
  question: string;
  completion: string;
  reward: RewardBreakdown;
  advantage: number;
  length: number;
  stopReason: Trajectory['stopReason'];
}

export interface StepResult {
  metrics: StepMetrics;
  /** The step's groups (prompt · G + g), for the UI. */
  rollouts: ScoredTrajectory[];
  trajectories: Trajectory[];
}

export interface PromptItem {
  task: string;
  entry: TaskEntry;
}

/** Seed of the counter RNG for (seed, step, stream). */
function mix(seed: number, step: number, stream: number): number {
  return pcgHash((seed ^ pcgHash(step * 2 + 1) ^ pcgHash(stream + 0x9e37)) >>> 0);
}

export interface TrainerSnapshot {
  step: number;
  updates: number;
  skipped: number;
  elapsedMs: number;
}

export class GrpoTrainer {
  readonly settings: MotSettings;
  readonly stop: StopSettings;
  /** Absolute σ of the noise on e_t (0: none): σ, or σ · RMS of the policy's embedding when the trainer is
   * made — fixed for the run (ours), so the rollouts and their replays agree whatever the updates do to E. */
  readonly noiseStd: number;
  private stepsDone = 0;
  private updates = 0;
  private skipped = 0;
  private elapsedMs = 0;
  private cancel = false;

  constructor(
    readonly config: TrainerConfig,
    readonly host: TrainerHost,
  ) {
    const V = host.policy.config.vocabSize;
    this.settings = motSettingsOf(config, V);
    this.stop = rolloutStopSettings(host.thinkEnd, host.eos, config.stop, V);
    this.noiseStd = noiseStdOf(this.settings, host.policy.embedding);
    if (host.policy.kind === 'webgpu') {
      const why = gpuUnsupportedReason(this.settings);
      if (why) throw new TrainingError('unsupported-on-gpu', `${why} (train on the CPU path instead)`);
    }
  }

  get step(): number {
    return this.stepsDone;
  }

  snapshot(): TrainerSnapshot {
    return { step: this.stepsDone, updates: this.updates, skipped: this.skipped, elapsedMs: this.elapsedMs };
  }

  restore(s: TrainerSnapshot): void {
    this.stepsDone = s.step;
    this.updates = s.updates;
    this.skipped = s.skipped;
    this.elapsedMs = s.elapsedMs;
  }

  private reward(completion: string, item: PromptItem): RewardBreakdown {
    if (this.host.reward) return this.host.reward(completion, item);
    return computeReward(completion, getTask(item.task), item.entry, this.config.reward);
  }

  /** Asks a running step to stop before its first update (its work is discarded). */
  requestCancel(): void {
    this.cancel = true;
  }

  /** The prompts of step `step` (0-based): tasks by weight, item index from the counters. */
  promptsFor(step: number): PromptItem[] {
    const { grpo } = this.config;
    const n = generationBatchSize(grpo) / grpo.num_generations;
    const seed = this.config.dataSeed ?? grpo.seed;
    const weights = this.config.tasks.map((t) => t.weight ?? 1);
    const total = weights.reduce((a, b) => a + b, 0);
    const out: PromptItem[] = [];
    for (let i = 0; i < n; i++) {
      let u = counterUniform(mix(seed, step, 1), i, 0) * total;
      let j = 0;
      while (j < weights.length - 1 && u >= weights[j]) u -= weights[j++];
      const t = this.config.tasks[j];
      const def = getTask(t.task);
      const index = Math.floor(counterUniform(mix(seed, step, 2), i, 0) * 1e9);
      out.push({ task: t.task, entry: def.generate(resolveConfig(def, t.level), seed, index) });
    }
    return out;
  }

  private lr(): number {
    const g = this.config.grpo;
    const total = g.max_steps * g.num_iterations;
    const warm = Math.ceil(g.warmup_ratio * total);
    const s = this.updates;
    if (g.lr_scheduler_type === 'constant') return g.learning_rate;
    if (s < warm) return (g.learning_rate * (s + 1)) / warm;
    if (g.lr_scheduler_type === 'constant_with_warmup') return g.learning_rate;
    const frac = Math.min(1, (s - warm) / Math.max(1, total - warm));
    if (g.lr_scheduler_type === 'cosine') return g.learning_rate * 0.5 * (1 + Math.cos(Math.PI * frac));
    return g.learning_rate * (1 - frac); // linear
  }

  /** One GRPO step. Throws TrainingError('stopped') if cancelled before any update (weights untouched). */
  async trainStep(onRollout?: () => void): Promise<StepResult> {
    this.cancel = false;
    const { grpo } = this.config;
    const G = grpo.num_generations;
    const policy = this.host.policy;
    const t0 = performance.now();
    const step = this.stepsDone;
    const items = this.promptsFor(step);
    const prompts = items.map((it) => this.host.encodePrompt(it.entry.question));
    const run = await runRollout((c) => policy.makeStepper(c), prompts, {
      settings: this.settings,
      stop: this.stop,
      maxNewTokens: grpo.max_completion_length,
      seed: mix(grpo.seed, step, 3),
      G,
      padId: this.host.padId,
      hiddenEntropy: this.config.hiddenEntropy ?? true,
      noiseStd: this.noiseStd,
      text: this.host.text,
      shouldCancel: () => this.cancel,
    });
    onRollout?.();
    if (this.cancel) throw new TrainingError('stopped', 'the step was stopped before its update');
    const tr = run.trajectories;
    const rolloutMs = performance.now() - t0;
    const rewards = tr.map((t) => this.reward(t.completion, items[t.promptIndex]));
    const R = rewards.map((r) => r.total);
    const adv = groupAdvantages(R, G, grpo.scale_rewards);

    // Micro-batches of whole completions.
    const mb = grpo.per_device_train_batch_size;
    const batches: {
      rows: number[];
      batch: TrainingBatch;
      old: Float64Array | null;
      ref: Float64Array | null;
    }[] = [];
    for (let r0 = 0; r0 < tr.length; r0 += mb) {
      const rows = tr.slice(r0, r0 + mb).map((t) => t.row);
      const batch = buildTrainingBatch(
        rows.map((r) => tr[r]),
        { padId: this.host.padId, noiseStd: this.noiseStd },
      );
      const old =
        grpo.num_iterations > 1 ? Float64Array.from(batch.actions, (a) => a.record.logLikelihood) : null;
      const ref = grpo.beta !== 0 ? await policy.referenceLogLikelihoods(batch, this.settings) : null;
      batches.push({ rows, batch, old, ref });
    }
    let totalTokens = 0;
    const masked = (r: number) => grpo.mask_truncated_completions && tr[r].stopReason === 'length';
    for (const b of batches) for (const a of b.batch.actions) if (!masked(b.rows[a.row])) totalTokens++;

    let lossSum = 0;
    let lossCount = 0;
    let kl = 0;
    let clip = 0;
    let gradNorm = Number.NaN;
    let applied = true;
    let lr = 0;
    const poison = this.config.injectNonFiniteAtStep === step + 1;
    const t1 = performance.now();
    for (let it = 0; it < grpo.num_iterations; it++) {
      let finite = true;
      kl = 0; // reported: the last iteration's
      clip = 0;
      for (const b of batches) {
        const { batch } = b;
        // [rows, A] layout of the actions for grpoLoss.
        const A = Math.max(1, ...b.rows.map((r) => tr[r].records.length));
        const slot = new Int32Array(batch.actions.length);
        const counts = new Array(batch.B).fill(0);
        batch.actions.forEach((a, i) => {
          slot[i] = a.row * A + counts[a.row]++;
        });
        const mask = new Float64Array(batch.B * A);
        batch.actions.forEach((a, i) => {
          mask[slot[i]] = masked(b.rows[a.row]) ? 0 : 1;
        });
        const spread = (x: Float64Array | null) => {
          if (!x) return null;
          const o = new Float64Array(batch.B * A);
          batch.actions.forEach((_, i) => {
            o[slot[i]] = x[i];
          });
          return o;
        };
        const coefOf = (logp: Float64Array): Float64Array => {
          const res = grpoLoss(
            {
              B: batch.B,
              T: A,
              logp: spread(logp) as Float64Array,
              oldLogp: spread(b.old),
              refLogp: spread(b.ref),
              mask,
              advantages: b.rows.map((r) => adv.advantages[r]),
            },
            {
              epsilon: grpo.epsilon,
              epsilonHigh: grpo.epsilon_high,
              beta: grpo.beta,
              lossType: grpo.loss_type,
              maxCompletionLength: grpo.max_completion_length,
              tokenNormalizer: totalTokens,
            },
          );
          // grpo / dr_grpo / bnpo are means per micro-batch: average them over the micro-batches.
          const scale = grpo.loss_type === 'dapo' ? 1 : 1 / batches.length;
          lossSum += res.loss * scale;
          kl += res.metrics.klMean / batches.length;
          clip += res.metrics.clipFraction / batches.length;
          const out = Float64Array.from(slot, (s) => res.coef[s] * scale * (poison ? Number.NaN : 1));
          if (!Number.isFinite(res.loss) || out.some((x) => !Number.isFinite(x))) finite = false;
          return out;
        };
        await policy.accumulate(batch, this.settings, coefOf);
      }
      lossCount++;
      lr = this.lr();
      if (!finite) {
        policy.discardGrads();
        applied = false;
        gradNorm = Number.NaN;
        continue;
      }
      const u = await policy.update(lr, grpo.max_grad_norm);
      gradNorm = u.gradNorm;
      if (u.applied) this.updates++;
      else applied = false;
    }
    const trainMs = performance.now() - t1;
    if (!applied) this.skipped++;
    this.stepsDone++;
    const wallMs = performance.now() - t0;
    this.elapsedMs += wallMs;

    const stats = rolloutStats(tr);
    const rm = meanStd(R);
    const trainTokens = batches.reduce((s, b) => s + b.batch.lengths.reduce((x, y) => x + y, 0), 0);
    const promptTokens = prompts.reduce((s, p) => s + p.length, 0) * G;
    const metrics: StepMetrics = {
      step: this.stepsDone,
      rewardMean: rm.mean,
      rewardStd: rm.std,
      accuracy: rewards.filter((r) => r.score === 1).length / rewards.length,
      scoreMean: meanStd(rewards.map((r) => r.score)).mean,
      formatRate: rewards.filter((r) => r.format > 0).length / rewards.length,
      completionLength: stats.completionLength,
      truncatedRate: stats.truncatedRate,
      kl,
      clipFraction: clip,
      zeroStdFraction: adv.zeroStdFraction,
      loss: lossCount ? lossSum / lossCount : 0,
      gradNorm,
      lr,
      entropy: stats.entropy,
      hiddenEntropy: stats.hiddenEntropy,
      hiddenEntropyByPosition: stats.hiddenEntropyByPosition,
      effectiveTokens: stats.effectiveTokens,
      representativeNotArgmax: stats.representativeNotArgmax,
      mixtureRate: stats.mixtureRate,
      tokensPerSecond: run.tokensPerSecond,
      rolloutMs,
      trainMs,
      wallMs,
      elapsedMs: this.elapsedMs,
      flops: estimateFlops(policy.config, {
        rolloutTokens: promptTokens + stats.positions,
        trainTokens,
        iterations: grpo.num_iterations,
        referenceForward: grpo.beta !== 0,
      }),
      skipped: !applied,
      skippedTotal: this.skipped,
      updates: this.updates,
    };
    const rollouts: ScoredTrajectory[] = tr.map((t, i) => ({
      task: items[t.promptIndex].task,
      question: items[t.promptIndex].entry.question,
      completion: t.completion,
      reward: rewards[i],
      advantage: adv.advantages[i],
      length: t.tokens.length,
      stopReason: t.stopReason,
    }));
    return { metrics, rollouts, trajectories: tr };
  }

  /**
   * Held-out accuracy (MOTG.md §4): `n` samples per item in the evaluation decoding mode; accuracy = mean over
   * items of the fraction scoring exactly 1. Items come from `dataSeed + 1_000_003` so they differ from training.
   */
  async evaluate(items: PromptItem[], n: number, seed = 0): Promise<EvalResult> {
    const V = this.host.policy.config.vocabSize;
    const settings = motSettingsOf(this.config, V, 'eval');
    const prompts = items.map((it) => this.host.encodePrompt(it.entry.question));
    const run = await runRollout((c) => this.host.policy.makeStepper(c), prompts, {
      settings,
      stop: this.stop,
      maxNewTokens: this.config.grpo.max_completion_length,
      seed: mix(seed, this.stepsDone, 4),
      G: n,
      padId: this.host.padId,
      hiddenEntropy: false,
      noiseStd: settings.mixture ? this.noiseStd : 0,
      text: this.host.text,
    });
    const perItem = new Float64Array(items.length);
    let reward = 0;
    for (const t of run.trajectories) {
      const it = items[t.promptIndex];
      const r = this.reward(t.completion, it);
      if (r.score === 1) perItem[t.promptIndex] += 1 / n;
      reward += r.total / run.trajectories.length;
    }
    const byTask: Record<string, number> = {};
    const counts: Record<string, number> = {};
    items.forEach((it, i) => {
      byTask[it.task] = (byTask[it.task] ?? 0) + perItem[i];
      counts[it.task] = (counts[it.task] ?? 0) + 1;
    });
    for (const k of Object.keys(byTask)) byTask[k] /= counts[k];
    return {
      step: this.stepsDone,
      accuracy: meanStd(perItem).mean,
      rewardMean: reward,
      byTask,
      items: items.length,
      n,
    };
  }

  /** `count` held-out items per task of the mix. */
  heldOutItems(count: number): PromptItem[] {
    const seed = (this.config.dataSeed ?? this.config.grpo.seed) + 1_000_003;
    const out: PromptItem[] = [];
    for (const t of this.config.tasks) {
      const def = getTask(t.task);
      const cfg = resolveConfig(def, t.level);
      for (let i = 0; i < count; i++) out.push({ task: t.task, entry: def.generate(cfg, seed, i) });
    }
    return out;
  }
}

export interface EvalResult {
  step: number;
  accuracy: number;
  rewardMean: number;
  byTask: Record<string, number>;
  items: number;
  n: number;
}
