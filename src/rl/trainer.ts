// The GRPO trainer over mixture-of-token actions (MOTG.md §2), end to end: prompts sampled from a task mix
// at a curriculum level, G rollouts per prompt (rollout.ts), rewards (tasks/reward.ts), group advantages,
// `num_iterations` updates of the clipped objective with the k3 KL to a reference policy (grpo.ts), the
// per-action coefficient dL/dℓ_t pushed through dℓ_t/dlogits (mot/likelihood.ts) into the model backward,
// and an optimizer step with global-norm clipping and the LR schedule (engine/train/schedule.ts, HF's).
//
// The model side is a GrpoPolicy (policy/policy.ts), one per backend: CpuPolicy (policy/cpu.ts, any
// likelihood mode) and GpuPolicy (policy/gpu.ts, paper-mode actions at T = 1: gpuUnsupportedReason there
// says what it refuses). The step's metrics are assembled in metrics.ts.
//
// A step whose loss, gradient or update is not finite is skipped with the parameters as before it (the
// policies' updates are all or nothing); max_consecutive_skipped_steps in a row stop the run
// (checkSkippedSteps: TrainingError 'non-finite-update').
//
// Determinism: every random choice is counter-based on (seed, step): prompts, task items, rollout draws. So
// the trainer's RNG state is its step count, and a checkpoint (weights, optimizer state, step) resumes
// exactly.

import { hfSchedule, learningRate } from '../engine/train/schedule.ts';
import { counterUniform, pcgHash } from '../mot/rng.ts';
import type { MotSettings, PresetName } from '../mot/settings.ts';
import { checkInteger, SettingsError } from '../mot/settings.ts';
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
import { TrainingError } from './errors.ts';
import { evaluateItems, rewardScore, rolloutDecoder } from './evaluate.ts';
import { type GroupAdvantages, type GrpoBatch, groupAdvantages, grpoLoss } from './grpo.ts';
import { drawOutside, HeldOutSet, levelName } from './heldOut.ts';
import { mixtureDiagnostics, type StepMetrics, stepMetrics } from './metrics.ts';
import { correctByTask, type PassAtKCurve, passAtKByTask } from './passAtK.ts';
import { gpuUnsupportedReason } from './policy/gpu.ts';
import type { GrpoPolicy } from './policy/policy.ts';
import {
  noiseStdOf,
  type RolloutRun,
  rolloutSettings,
  rolloutStopSettings,
  runRollout,
  type TextCodec,
  type Trajectory,
} from './rollout.ts';
import { type GrpoSettings, generationBatchSize, makeGrpoSettings } from './settings.ts';
import { buildTrainingBatch, type TrainingBatch } from './trainingBatch.ts';

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
  /** Held-out items per task of the mix (heldOut.ts): their question texts never appear in a training draw
   * and heldOutItems returns them. 0 (the default): no pool; held-out items from dataSeed + 1_000_003. */
  heldOut: { count: number };
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
    heldOut: { count: input.heldOut?.count ?? 0 },
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
  checkInteger('heldOut.count', cfg.heldOut.count, 0);
  new HeldOutSet(cfg.tasks, cfg.heldOut.count); // throws 'held-out-too-large' naming task and level
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

/** One micro-batch of whole completions, with what every iteration of the loss needs of it. */
interface MicroBatch {
  /** Trajectory indices of the batch's rows. */
  rows: number[];
  batch: TrainingBatch;
  /** ℓ at sampling time (the ratio's denominator; null when num_iterations = 1, where ρ = 1). */
  old: Float64Array | null;
  /** ℓ under the reference policy (null when β = 0: no KL). */
  ref: Float64Array | null;
  /** grpoLoss's [rows, A] layout: A = the most actions of a row, the slot of each action, the loss mask. */
  A: number;
  slot: Int32Array;
  mask: Float64Array;
  /** Actions the loss counts (unmasked). */
  lossTokens: number;
}

/** The actions of `batch` laid out [rows, A] for grpoLoss; a row's actions are masked when `rowMasked`. */
function lossLayout(
  batch: TrainingBatch,
  rowActions: readonly number[],
  rowMasked: readonly boolean[],
): Pick<MicroBatch, 'A' | 'slot' | 'mask' | 'lossTokens'> {
  const A = Math.max(1, ...rowActions);
  const slot = new Int32Array(batch.actions.length);
  const counts = new Array(batch.B).fill(0);
  batch.actions.forEach((a, i) => {
    slot[i] = a.row * A + counts[a.row]++;
  });
  const mask = new Float64Array(batch.B * A);
  let lossTokens = 0;
  batch.actions.forEach((a, i) => {
    mask[slot[i]] = rowMasked[a.row] ? 0 : 1;
    if (!rowMasked[a.row]) lossTokens++;
  });
  return { A, slot, mask, lossTokens };
}

/** Per-action values (batch.actions order) spread into the [rows, A] layout (null stays null). */
function spread(x: Float64Array | null, b: MicroBatch): Float64Array | null {
  if (!x) return null;
  const o = new Float64Array(b.batch.B * b.A);
  b.slot.forEach((s, i) => {
    o[s] = x[i];
  });
  return o;
}

/** What the iterations of one step did: the loss summed over iterations, the last iteration's KL / clip
 * fraction / gradient norm / rate, and whether every update was applied. */
interface StepUpdates {
  lossSum: number;
  iterations: number;
  kl: number;
  clip: number;
  gradNorm: number;
  lr: number;
  applied: boolean;
  /** Why an update was not applied (the last such iteration's reason). */
  skipReason?: string;
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
  /** Skipped steps in a row up to the last step, and why the last one was skipped. */
  private skippedInARow = 0;
  private lastSkipReason = '';
  private elapsedMs = 0;
  private cancel = false;
  /** The held-out pools of the mix (null: heldOut.count 0, nothing held out). */
  private readonly heldOut: HeldOutSet | null;
  /** Per step: training draws whose text is held out (must be 0; summed by heldOutOverlap). */
  private readonly overlapByStep = new Map<number, number>();

  constructor(
    readonly config: TrainerConfig,
    readonly host: TrainerHost,
  ) {
    const V = host.policy.config.vocabSize;
    this.settings = motSettingsOf(config, V);
    this.stop = rolloutStopSettings(host.thinkEnd, host.eos, config.stop, V, config.preset);
    this.noiseStd = noiseStdOf(this.settings, host.policy.embedding);
    this.heldOut = config.heldOut.count > 0 ? new HeldOutSet(config.tasks, config.heldOut.count) : null;
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
    this.skippedInARow = 0;
  }

  /**
   * Throws TrainingError('non-finite-update') once max_consecutive_skipped_steps steps in a row were
   * skipped: the run cannot make a finite update. Drivers call it after recording a step's metrics;
   * trainStep calls it first, so no driver trains past the limit.
   */
  checkSkippedSteps(): void {
    const limit = this.config.grpo.max_consecutive_skipped_steps;
    if (this.skippedInARow < limit) return;
    const first = this.stepsDone - this.skippedInARow + 1;
    throw new TrainingError(
      'non-finite-update',
      `training stopped: ${this.skippedInARow} step${this.skippedInARow === 1 ? '' : 's'} in a row skipped (steps ${first}–${this.stepsDone}, ` +
        `max_consecutive_skipped_steps ${limit}) because ${this.lastSkipReason}; the parameters are those ` +
        `after step ${first - 1}`,
    );
  }

  private reward(completion: string, item: PromptItem): RewardBreakdown {
    if (this.host.reward) return this.host.reward(completion, item);
    return computeReward(completion, getTask(item.task), item.entry, this.config.reward);
  }

  /** Asks a running step to stop before its first update (its work is discarded). */
  requestCancel(): void {
    this.cancel = true;
  }

  /** The prompts of step `step` (0-based): tasks by weight, item index from the counters; a held-out
   * question is drawn again with the counters' next value (heldOut.ts drawOutside). */
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
      const cfg = resolveConfig(def, t.level);
      const draw = (attempt: number) =>
        def.generate(cfg, seed, Math.floor(counterUniform(mix(seed, step, 2), i, attempt) * 1e9));
      const entry = this.heldOut
        ? drawOutside(this.heldOut, `${t.task}:${levelName(t.task, t.level)}`, draw)
        : draw(0);
      out.push({ task: t.task, entry });
    }
    const held = this.heldOut;
    this.overlapByStep.set(step, held ? out.filter((p) => held.has(p.entry.question)).length : 0);
    return out;
  }

  /** Training draws of steps 0 … step − 1 whose question text is held out: 0 unless the redraw is broken
   * (steps before a resumed checkpoint are drawn again: promptsFor depends on the step alone). */
  heldOutOverlap(): number {
    let n = 0;
    for (let s = 0; s < this.stepsDone; s++) {
      if (!this.overlapByStep.has(s)) this.promptsFor(s);
      n += this.overlapByStep.get(s) ?? 0;
    }
    return n;
  }

  /** The rate of the next update: HF's schedule by name over max_steps · num_iterations updates, with
   * ceil(warmup_ratio · total) warm-up updates (TRL's GRPOTrainer). */
  private lr(): number {
    const g = this.config.grpo;
    const totalSteps = g.max_steps * g.num_iterations;
    const warmupSteps = Math.ceil(g.warmup_ratio * totalSteps);
    const schedule = hfSchedule(g.lr_scheduler_type, { lr: g.learning_rate, warmupSteps, totalSteps });
    return learningRate(schedule, this.updates);
  }

  /** One GRPO step. Throws TrainingError('stopped') if cancelled before any update (weights untouched). */
  async trainStep(onRollout?: () => void): Promise<StepResult> {
    this.checkSkippedSteps();
    this.cancel = false;
    const { grpo } = this.config;
    const t0 = performance.now();
    const step = this.stepsDone;
    const { items, prompts, run } = await this.rollout(step);
    onRollout?.();
    if (this.cancel) throw new TrainingError('stopped', 'the step was stopped before its update');
    const tr = run.trajectories;
    const rolloutMs = performance.now() - t0;
    // Measured before the updates, as the CPU policy trains E in place; the WebGPU policy's host copy holds
    // the starting weights (a full fine-tune moves only the GPU's).
    const policyE = this.host.policy.embedding;
    const mixture = mixtureDiagnostics(
      tr,
      policyE ? { E: policyE, C: this.host.policy.config.hiddenSize } : null,
    );
    const rewards = tr.map((t) => this.reward(t.completion, items[t.promptIndex]));
    const adv = groupAdvantages(
      rewards.map((r) => r.total),
      grpo.num_generations,
      grpo.scale_rewards,
    );
    const batches = await this.microBatches(tr);
    const t1 = performance.now();
    const u = await this.iterate(step, batches, adv);
    const trainMs = performance.now() - t1;
    if (u.applied) this.skippedInARow = 0;
    else {
      this.skipped++;
      this.skippedInARow++;
      this.lastSkipReason = u.skipReason ?? 'an update was not applied';
    }
    this.stepsDone++;
    const wallMs = performance.now() - t0;
    this.elapsedMs += wallMs;

    const metrics = stepMetrics({
      step: this.stepsDone,
      model: this.host.policy.config,
      trajectories: tr,
      rewards,
      zeroStdFraction: adv.zeroStdFraction,
      updates: {
        loss: u.iterations ? u.lossSum / u.iterations : 0,
        kl: u.kl,
        clipFraction: u.clip,
        gradNorm: u.gradNorm,
        lr: u.lr,
        skipped: !u.applied,
        skippedTotal: this.skipped,
        updates: this.updates,
      },
      timing: { tokensPerSecond: run.tokensPerSecond, rolloutMs, trainMs, wallMs, elapsedMs: this.elapsedMs },
      mixture,
      work: {
        promptTokens: prompts.reduce((s, p) => s + p.length, 0) * grpo.num_generations,
        trainTokens: batches.reduce((s, b) => s + b.batch.lengths.reduce((x, y) => x + y, 0), 0),
        iterations: grpo.num_iterations,
        referenceForward: grpo.beta !== 0,
      },
    });
    return { metrics, rollouts: scoredTrajectories(tr, items, rewards, adv), trajectories: tr };
  }

  /** The step's prompts and their G rollouts each under the current policy (cancellable). */
  private async rollout(
    step: number,
  ): Promise<{ items: PromptItem[]; prompts: number[][]; run: RolloutRun }> {
    const { grpo } = this.config;
    const policy = this.host.policy;
    const items = this.promptsFor(step);
    const prompts = items.map((it) => this.host.encodePrompt(it.entry.question));
    const run = await runRollout((c) => policy.makeStepper(c), prompts, {
      settings: this.settings,
      stop: this.stop,
      maxNewTokens: grpo.max_completion_length,
      seed: mix(grpo.seed, step, 3),
      G: grpo.num_generations,
      padId: this.host.padId,
      hiddenEntropy: this.config.hiddenEntropy ?? true,
      noiseStd: this.noiseStd,
      text: this.host.text,
      shouldCancel: () => this.cancel,
    });
    return { items, prompts, run };
  }

  /** Micro-batches of whole completions, with their sampling-time ℓ (when ρ ≠ 1) and reference ℓ (β ≠ 0). */
  private async microBatches(tr: readonly Trajectory[]): Promise<MicroBatch[]> {
    const { grpo } = this.config;
    const mb = grpo.per_device_train_batch_size;
    const masked = (r: number) => grpo.mask_truncated_completions && tr[r].stopReason === 'length';
    const out: MicroBatch[] = [];
    for (let r0 = 0; r0 < tr.length; r0 += mb) {
      const rows = tr.slice(r0, r0 + mb).map((t) => t.row);
      const batch = buildTrainingBatch(
        rows.map((r) => tr[r]),
        { padId: this.host.padId, noiseStd: this.noiseStd },
      );
      const old =
        grpo.num_iterations > 1 ? Float64Array.from(batch.actions, (a) => a.record.logLikelihood) : null;
      const ref =
        grpo.beta !== 0 ? await this.host.policy.referenceLogLikelihoods(batch, this.settings) : null;
      const layout = lossLayout(
        batch,
        rows.map((r) => tr[r].records.length),
        rows.map(masked),
      );
      out.push({ rows, batch, old, ref, ...layout });
    }
    return out;
  }

  /** `num_iterations` passes over the micro-batches, each accumulating the loss's gradient and updating. */
  private async iterate(step: number, batches: MicroBatch[], adv: GroupAdvantages): Promise<StepUpdates> {
    const { grpo } = this.config;
    const policy = this.host.policy;
    const totalTokens = batches.reduce((s, b) => s + b.lossTokens, 0);
    const poison = this.config.injectNonFiniteAtStep === step + 1;
    const u: StepUpdates = {
      lossSum: 0,
      iterations: 0,
      kl: 0,
      clip: 0,
      gradNorm: Number.NaN,
      applied: true,
      lr: 0,
    };
    for (let it = 0; it < grpo.num_iterations; it++) {
      const pass = await this.accumulatePass(batches, adv, totalTokens, poison, u);
      u.kl = pass.kl; // reported: the last iteration's
      u.clip = pass.clip;
      u.iterations++;
      u.lr = this.lr();
      if (!pass.finite) {
        policy.discardGrads();
        u.applied = false;
        u.gradNorm = Number.NaN;
        u.skipReason = 'the loss is not finite';
        continue;
      }
      const r = await policy.update(u.lr, grpo.max_grad_norm);
      u.gradNorm = r.gradNorm;
      if (r.applied) this.updates++;
      else {
        u.applied = false;
        u.skipReason = r.reason ?? 'the update was not applied';
      }
    }
    return u;
  }

  /**
   * One pass: per micro-batch, the policy's ℓ → grpoLoss → dL/dℓ per action, whose gradient the policy
   * accumulates. Adds the loss to `running.lossSum` micro-batch by micro-batch; returns the pass's KL and clip
   * fraction (means over micro-batches) and whether every loss and coefficient was finite.
   */
  private async accumulatePass(
    batches: MicroBatch[],
    adv: GroupAdvantages,
    totalTokens: number,
    poison: boolean,
    running: { lossSum: number },
  ): Promise<{ kl: number; clip: number; finite: boolean }> {
    const { grpo } = this.config;
    const pass = { kl: 0, clip: 0, finite: true };
    // grpo / dr_grpo / bnpo are means per micro-batch: average them over the micro-batches.
    const scale = grpo.loss_type === 'dapo' ? 1 : 1 / batches.length;
    for (const b of batches) {
      const coefOf = (logp: Float64Array): Float64Array => {
        const res = grpoLoss(this.lossBatch(b, logp, adv), {
          epsilon: grpo.epsilon,
          epsilonHigh: grpo.epsilon_high,
          beta: grpo.beta,
          lossType: grpo.loss_type,
          maxCompletionLength: grpo.max_completion_length,
          tokenNormalizer: totalTokens,
        });
        running.lossSum += res.loss * scale;
        pass.kl += res.metrics.klMean / batches.length;
        pass.clip += res.metrics.clipFraction / batches.length;
        const out = Float64Array.from(b.slot, (s) => res.coef[s] * scale * (poison ? Number.NaN : 1));
        if (!Number.isFinite(res.loss) || out.some((x) => !Number.isFinite(x))) pass.finite = false;
        return out;
      };
      await this.host.policy.accumulate(b.batch, this.settings, coefOf);
    }
    return pass;
  }

  /** grpoLoss's input for micro-batch `b` given the current policy's ℓ of its actions. */
  private lossBatch(b: MicroBatch, logp: Float64Array, adv: GroupAdvantages): GrpoBatch {
    return {
      B: b.batch.B,
      T: b.A,
      logp: spread(logp, b) as Float64Array,
      oldLogp: spread(b.old, b),
      refLogp: spread(b.ref, b),
      mask: b.mask,
      advantages: b.rows.map((r) => adv.advantages[r]),
    };
  }

  /**
   * Held-out accuracy (MOTG.md §4): `n` samples per item in the evaluation decoding mode; accuracy = mean over
   * items of the fraction scoring exactly 1. Items come from `dataSeed + 1_000_003` so they differ from training.
   * Also pass@k for k = 1…min(32, n) (passAtK.ts) from each item's correct samples, which it keeps.
   */
  async evaluate(items: PromptItem[], n: number, seed = 0): Promise<EvalResult> {
    const V = this.host.policy.config.vocabSize;
    const settings = motSettingsOf(this.config, V, 'eval');
    // The one evaluator (evaluate.ts), decoding every item × n samples in one batched rollout.
    const report = await evaluateItems(
      items.map((it, index) => ({ task: it.task, index, entry: it.entry })),
      {
        samples: n,
        itemsPerDecode: Math.max(1, items.length),
        prompt: (it) => this.host.encodePrompt(it.entry.question),
        decode: rolloutDecoder((c) => this.host.policy.makeStepper(c), {
          settings,
          stop: this.stop,
          maxNewTokens: this.config.grpo.max_completion_length,
          seed: mix(seed, this.stepsDone, 4),
          padId: this.host.padId,
          hiddenEntropy: false,
          noiseStd: settings.mixture ? this.noiseStd : 0,
          text: this.host.text,
        }),
        score: (completion, it) => rewardScore(this.reward(completion, it)),
      },
    );
    return {
      step: this.stepsDone,
      accuracy: report.overall.accuracy,
      rewardMean: report.overall.meanReward,
      byTask: Object.fromEntries(report.tasks.map((r) => [r.task, r.accuracy])),
      items: items.length,
      n,
      // A mixture preset evaluated without mixing (evalMixture: false) decodes discretely.
      evalMode: settings.mixture || !this.settings.mixture ? this.config.preset : 'discrete',
      passAtK: passAtKByTask(report.items),
      correct: correctByTask(report.items),
    };
  }

  /** `count` held-out items per task of the mix: the pools' first `count` (TrainingError
   * 'held-out-too-large' past heldOut.count); with heldOut.count 0, items from dataSeed + 1_000_003. */
  heldOutItems(count: number): PromptItem[] {
    const held = this.heldOut;
    if (held)
      return this.config.tasks.flatMap((t) =>
        held.itemsFor(t.task, t.level, count).map((entry) => ({ task: t.task, entry })),
      );
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
  /** How the evaluation decoded: the preset's name, or 'discrete' for a mixture preset evaluated discretely. */
  evalMode: string;
  /** Unbiased pass@k (passAtK.ts) for k = 1…min(32, n): over all items and per task. */
  passAtK: { overall: PassAtKCurve; byTask: Record<string, PassAtKCurve> };
  /** Per task, the samples scoring 1 of each item in item order (n samples each): pass@k's input. */
  correct: Record<string, number[]>;
}

/** The step's completions with their rewards and advantages, for the UI. */
function scoredTrajectories(
  tr: readonly Trajectory[],
  items: readonly PromptItem[],
  rewards: readonly RewardBreakdown[],
  adv: GroupAdvantages,
): ScoredTrajectory[] {
  return tr.map((t, i) => ({
    task: items[t.promptIndex].task,
    question: items[t.promptIndex].entry.question,
    completion: t.completion,
    reward: rewards[i],
    advantage: adv.advantages[i],
    length: t.tokens.length,
    stopReason: t.stopReason,
  }));
}
