// Per-step GRPO metrics (MOTG.md §2, §4): reward statistics, accuracy and format rate, completion length,
// KL / clip fraction / zero-variance groups from the loss, next-token and hidden-state entropy, the
// mixture statistics (effective mixed tokens 1/Σw², representative ≠ argmax), cost (tokens/s, wall time,
// an estimated FLOP count), the mixture diagnostics and the scale-free hidden-state entropy along the
// reasoning (issue 14, maths in mot/diagnostics.ts). Plain data: it crosses the worker boundary and is written
// as JSONL. stepMetrics assembles a GRPO step's from what the trainer measured (src/rl/trainer.ts trainStep).
import type { Qwen2Config } from '../engine/config.ts';
import {
  type EmbeddingTable,
  effectiveTokenCount,
  embeddingRowNorms,
  mixedEmbedding,
  mixtureNormRatio,
  nearestTokenCosine,
  weightEntropy,
} from '../mot/diagnostics.ts';
import type { RewardBreakdown } from '../tasks/reward.ts';
import type { RolloutRecord, Trajectory } from './rollout.ts';

export interface StepMetrics {
  /** 1-based number of GRPO steps completed (this one included). */
  step: number;
  rewardMean: number;
  /** Unbiased std of the rewards over the whole batch. */
  rewardStd: number;
  /** Fraction of completions whose task score is exactly 1. */
  accuracy: number;
  /** Mean task score (0..1, partial credit included). */
  scoreMean: number;
  /** Fraction of completions whose format term is on (`</think>…<answer>…</answer>`). */
  formatRate: number;
  /** Mean completion length in tokens. */
  completionLength: number;
  /** Fraction of completions cut at max_completion_length. */
  truncatedRate: number;
  /** Masked mean of the k3 KL to the reference (last iteration). */
  kl: number;
  clipFraction: number;
  zeroStdFraction: number;
  /** The GRPO loss (mean over iterations and micro-batches). */
  loss: number;
  /** Gradient norm before clipping (last update); NaN when the step was skipped. */
  gradNorm: number;
  lr: number;
  /** Mean next-token entropy (nats) over all recorded steps. */
  entropy: number;
  /** Per layer: hidden-state entropy (nats) averaged over the reasoning (thinking-phase) steps. */
  hiddenEntropy: number[];
  /** Along the reasoning: at completion step t (t < 128, thinking phase), the hidden-state entropy averaged
   * over layers and over the trajectories still thinking at t. */
  hiddenEntropyByPosition: number[];
  /** Mean 1/Σw² over mixture steps (0 without mixture steps). */
  effectiveTokens: number;
  /** Fraction of mixture steps whose representative is not the argmax. */
  representativeNotArgmax: number;
  /** Fraction of steps that were mixture steps. */
  mixtureRate: number;
  /** Per layer: the scale-free hidden-state entropy (mot/diagnostics.ts energyEntropy, nats) averaged over the
   * reasoning steps; null when the rollout recorded no hidden states. */
  hiddenEntropyScaleFree: number[] | null;
  /** Along the reasoning: hiddenEntropy averaged over layers and over the thinking steps in each quarter of a
   * completion's thinking phase (REASONING_BUCKETS entries, NaN for an empty one); null without hidden states. */
  hiddenEntropyByReasoningQuarter: number[] | null;
  /** The same for the scale-free hidden-state entropy. */
  hiddenEntropyScaleFreeByReasoningQuarter: number[] | null;
  /** Fraction of mixture steps with 1/Σw² ≥ MIXING_THRESHOLD (null: no mixture step). */
  mixingStepFraction: number | null;
  /** Mean weight entropy −Σ w log w (nats) over mixture steps (null: no mixture step). */
  weightEntropy: number | null;
  /** Mean ‖e_mix‖ / Σ_j w_j ‖e_{i_j}‖ over mixture steps (beyond a cost budget, a sample of them:
   * embeddingDiagnosticsPositions); null: no mixture step or no embedding matrix. */
  mixNormRatio: number | null;
  /** Mean over the same mixture steps of the cosine of e_mix to its nearest token embedding over the whole
   * vocabulary; null: no mixture step or no embedding matrix. */
  mixNearestCosine: number | null;
  /** Completion positions per second in the rollout. */
  tokensPerSecond: number;
  rolloutMs: number;
  trainMs: number;
  /** Wall time of the whole step. */
  wallMs: number;
  /** Wall time since the run started (sums of step wall times, so it survives a resume). */
  elapsedMs: number;
  /** Estimated FLOPs of the step (rollout forward, reference forward, training forward + backward). */
  flops: number;
  /** True when the loss or a gradient was not finite and the update was not applied. */
  skipped: boolean;
  /** Skipped steps so far (this one included). */
  skippedTotal: number;
  /** Optimizer updates applied so far. */
  updates: number;
}

/** Mean and unbiased std. */
export function meanStd(x: ArrayLike<number>): { mean: number; std: number } {
  const n = x.length;
  if (n === 0) return { mean: 0, std: 0 };
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i];
  const mean = s / n;
  if (n < 2) return { mean, std: 0 };
  let v = 0;
  for (let i = 0; i < n; i++) v += (x[i] - mean) ** 2;
  return { mean, std: Math.sqrt(v / (n - 1)) };
}

export interface RolloutStats {
  completionLength: number;
  truncatedRate: number;
  entropy: number;
  hiddenEntropy: number[];
  hiddenEntropyByPosition: number[];
  effectiveTokens: number;
  representativeNotArgmax: number;
  mixtureRate: number;
  /** Completion positions the rollout processed (records + forced tokens). */
  positions: number;
}

/** Every field of StepMetrics, in the order of metrics.jsonl (docs/experiments.md); the type check below
 * fails when a field is added to StepMetrics and not here. */
export const STEP_METRIC_FIELDS = [
  'step',
  'rewardMean',
  'rewardStd',
  'accuracy',
  'scoreMean',
  'formatRate',
  'completionLength',
  'truncatedRate',
  'kl',
  'clipFraction',
  'zeroStdFraction',
  'loss',
  'gradNorm',
  'lr',
  'entropy',
  'hiddenEntropy',
  'hiddenEntropyByPosition',
  'effectiveTokens',
  'representativeNotArgmax',
  'mixtureRate',
  'hiddenEntropyScaleFree',
  'hiddenEntropyByReasoningQuarter',
  'hiddenEntropyScaleFreeByReasoningQuarter',
  'mixingStepFraction',
  'weightEntropy',
  'mixNormRatio',
  'mixNearestCosine',
  'tokensPerSecond',
  'rolloutMs',
  'trainMs',
  'wallMs',
  'elapsedMs',
  'flops',
  'skipped',
  'skippedTotal',
  'updates',
] as const satisfies readonly (keyof StepMetrics)[];
const everyField: Exclude<keyof StepMetrics, (typeof STEP_METRIC_FIELDS)[number]> extends never
  ? true
  : never = true;
void everyField;

/** How far along the reasoning hiddenEntropyByPosition goes. */
export const MAX_ENTROPY_POSITIONS = 128;

/** Token-level statistics of a batch of trajectories. */
export function rolloutStats(trajectories: readonly Trajectory[]): RolloutStats {
  let length = 0;
  let truncated = 0;
  let steps = 0;
  let entropy = 0;
  let mixture = 0;
  let eff = 0;
  let notArgmax = 0;
  let positions = 0;
  let hidden: number[] = [];
  let thinking = 0;
  const byPosSum: number[] = [];
  const byPosCount: number[] = [];
  for (const tr of trajectories) {
    length += tr.tokens.length;
    if (tr.stopReason === 'length') truncated++;
    positions += tr.records.length + tr.stats.forcedTokens;
    for (const r of tr.records) {
      steps++;
      entropy += r.entropy;
      if (r.mode === 'mixture') {
        mixture++;
        let s = 0;
        for (const w of r.weights) s += w * w;
        eff += s > 0 ? 1 / s : 0;
        if (r.representative !== r.argmax) notArgmax++;
      }
      if (r.phase === 'thinking' && r.hiddenEntropy.length > 0) {
        if (hidden.length === 0) hidden = new Array(r.hiddenEntropy.length).fill(0);
        for (let l = 0; l < hidden.length; l++) hidden[l] += r.hiddenEntropy[l] ?? 0;
        thinking++;
      }
    }
    tr.records.forEach((r, t) => {
      if (t >= MAX_ENTROPY_POSITIONS || r.phase !== 'thinking' || r.hiddenEntropy.length === 0) return;
      let mean = 0;
      for (const h of r.hiddenEntropy) mean += h;
      byPosSum[t] = (byPosSum[t] ?? 0) + mean / r.hiddenEntropy.length;
      byPosCount[t] = (byPosCount[t] ?? 0) + 1;
    });
  }
  const n = trajectories.length;
  return {
    completionLength: n ? length / n : 0,
    truncatedRate: n ? truncated / n : 0,
    entropy: steps ? entropy / steps : 0,
    hiddenEntropy: hidden.map((h) => (thinking ? h / thinking : 0)),
    hiddenEntropyByPosition: Array.from(byPosSum, (v, t) =>
      byPosCount[t] ? (v as number) / byPosCount[t] : 0,
    ),
    effectiveTokens: mixture ? eff / mixture : 0,
    representativeNotArgmax: mixture ? notArgmax / mixture : 0,
    mixtureRate: steps ? mixture / steps : 0,
    positions,
  };
}

/** 1/Σw² at or above which a mixture step counts as mixing (issue 14's bar for a model where mixing matters). */
export const MIXING_THRESHOLD = 1.3;
/** Equal fractions of a completion's thinking phase that the hidden entropy along the reasoning is split in. */
export const REASONING_BUCKETS = 4;
/** Multiply-adds per step the embedding diagnostics may spend: each position costs ≈ 2·V·C (e_mix and its
 * norm ratio, the cosine to every token row). */
export const EMBEDDING_DIAGNOSTICS_BUDGET = 2 ** 28;

/** Mixture positions the norm ratio and the nearest-token cosine are averaged over: all n when n · 2VC fits
 * EMBEDDING_DIAGNOSTICS_BUDGET (the built-in model, V = 519, C = 64: up to 4040), else that many evenly
 * spaced ones, at least 4. */
export function embeddingDiagnosticsPositions(n: number, V: number, C: number): number {
  return Math.min(n, Math.max(4, Math.floor(EMBEDDING_DIAGNOSTICS_BUDGET / (2 * V * C))));
}

export type MixtureDiagnostics = Pick<
  StepMetrics,
  'mixingStepFraction' | 'weightEntropy' | 'mixNormRatio' | 'mixNearestCosine'
>;

/** The mixture diagnostics of a batch (mot/diagnostics.ts): null without mixture steps; the embedding ones
 * null without the embedding matrix. e_mix is the noise-free mixture Σ w_j E[i_j]. */
export function mixtureDiagnostics(
  trajectories: readonly Trajectory[],
  embedding: EmbeddingTable | null,
): MixtureDiagnostics {
  const steps = trajectories.flatMap((tr) => tr.records.filter((r) => r.mode === 'mixture'));
  const n = steps.length;
  if (n === 0)
    return { mixingStepFraction: null, weightEntropy: null, mixNormRatio: null, mixNearestCosine: null };
  let mixing = 0;
  let entropy = 0;
  for (const r of steps) {
    if (effectiveTokenCount(r.weights) >= MIXING_THRESHOLD) mixing++;
    entropy += weightEntropy(r.weights);
  }
  const out: MixtureDiagnostics = {
    mixingStepFraction: mixing / n,
    weightEntropy: entropy / n,
    mixNormRatio: null,
    mixNearestCosine: null,
  };
  if (!embedding) return out;
  const norms = embeddingRowNorms(embedding);
  const m = embeddingDiagnosticsPositions(n, norms.length, embedding.C);
  let ratio = 0;
  let cosine = 0;
  for (let i = 0; i < m; i++) {
    const r = steps[Math.floor(((i + 0.5) * n) / m)];
    ratio += mixtureNormRatio(r.ids, r.weights, embedding, norms);
    cosine += nearestTokenCosine(mixedEmbedding(r.ids, r.weights, embedding), embedding, norms);
  }
  return { ...out, mixNormRatio: ratio / m, mixNearestCosine: cosine / m };
}

type HiddenOf = (r: RolloutRecord) => readonly number[] | undefined;
const softmaxHidden: HiddenOf = (r) => r.hiddenEntropy;
const scaleFreeHidden: HiddenOf = (r) => r.hiddenEntropyScaleFree;

/** The thinking records of a trajectory that carry hidden-state entropies (per `of`). */
function thinkingWithHidden(tr: Trajectory, of: HiddenOf): RolloutRecord[] {
  return tr.records.filter((r) => r.phase === 'thinking' && (of(r)?.length ?? 0) > 0);
}

/** Per layer: `of` averaged over every thinking record of the batch; null when none carries it. */
export function hiddenEntropyPerLayer(trajectories: readonly Trajectory[], of: HiddenOf): number[] | null {
  let sum: number[] = [];
  let count = 0;
  for (const tr of trajectories)
    for (const r of thinkingWithHidden(tr, of)) {
      const h = of(r) as readonly number[];
      if (sum.length === 0) sum = new Array(h.length).fill(0);
      for (let l = 0; l < sum.length; l++) sum[l] += h[l] ?? 0;
      count++;
    }
  return count > 0 ? sum.map((s) => s / count) : null;
}

/**
 * Along the reasoning: a trajectory's n thinking records, record t in bucket ⌊REASONING_BUCKETS · t / n⌋;
 * per bucket, `of` averaged over layers and then over the records of every trajectory in it (NaN for an
 * empty bucket); null when no record carries it.
 */
export function hiddenEntropyAlongReasoning(
  trajectories: readonly Trajectory[],
  of: HiddenOf,
): number[] | null {
  const sum = new Array(REASONING_BUCKETS).fill(0);
  const count = new Array(REASONING_BUCKETS).fill(0);
  let any = false;
  for (const tr of trajectories) {
    const thinking = thinkingWithHidden(tr, of);
    thinking.forEach((r, t) => {
      const h = of(r) as readonly number[];
      const bucket = Math.floor((REASONING_BUCKETS * t) / thinking.length);
      sum[bucket] += h.reduce((a, b) => a + b, 0) / h.length;
      count[bucket]++;
      any = true;
    });
  }
  return any ? sum.map((s, b) => (count[b] > 0 ? s / count[b] : Number.NaN)) : null;
}

/** The hidden-state entropies of StepMetrics beyond the per-layer softmax one. */
export function hiddenEntropyDiagnostics(
  trajectories: readonly Trajectory[],
): Pick<
  StepMetrics,
  'hiddenEntropyScaleFree' | 'hiddenEntropyByReasoningQuarter' | 'hiddenEntropyScaleFreeByReasoningQuarter'
> {
  return {
    hiddenEntropyScaleFree: hiddenEntropyPerLayer(trajectories, scaleFreeHidden),
    hiddenEntropyByReasoningQuarter: hiddenEntropyAlongReasoning(trajectories, softmaxHidden),
    hiddenEntropyScaleFreeByReasoningQuarter: hiddenEntropyAlongReasoning(trajectories, scaleFreeHidden),
  };
}

/** Parameters that a token's matmuls touch (embedding lookups excluded; a tied head counted once). */
export function matmulParameters(cfg: Qwen2Config): number {
  const { hiddenSize: C, intermediateSize: I, numAttentionHeads: H, numKeyValueHeads: KVH, headDim: D } = cfg;
  const perLayer = C * H * D + 2 * C * KVH * D + H * D * C + 3 * C * I;
  return cfg.numHiddenLayers * perLayer + C * cfg.vocabSize;
}

/**
 * Estimated FLOPs (2 per multiply-add of the matmuls; attention scores left out): 2·P per rollout position,
 * 2·P per reference-forward token, 6·P per training token (forward + backward) per iteration, plus 2·P per
 * training token for the likelihood forward of each iteration.
 */
export function estimateFlops(
  cfg: Qwen2Config,
  o: { rolloutTokens: number; trainTokens: number; iterations: number; referenceForward: boolean },
): number {
  const P = matmulParameters(cfg);
  return (
    2 * P * o.rolloutTokens +
    (o.referenceForward ? 2 * P * o.trainTokens : 0) +
    8 * P * o.trainTokens * o.iterations
  );
}

/** The metrics that must agree between two runs of the same seed (wall-clock ones left out). */
export function deterministicMetrics(
  m: StepMetrics,
): Omit<StepMetrics, 'tokensPerSecond' | 'rolloutMs' | 'trainMs' | 'wallMs' | 'elapsedMs'> {
  const { tokensPerSecond, rolloutMs, trainMs, wallMs, elapsedMs, ...rest } = m;
  return rest;
}

/** What a GRPO step measured, from which stepMetrics derives the rest. */
export interface StepMetricsInput {
  /** 1-based number of steps completed, this one included. */
  step: number;
  /** The policy's model (for the FLOP estimate). */
  model: Qwen2Config;
  trajectories: readonly Trajectory[];
  /** Reward of each trajectory, in their order. */
  rewards: readonly RewardBreakdown[];
  zeroStdFraction: number;
  /** The loss (mean over iterations) and what the updates did. */
  updates: Pick<
    StepMetrics,
    'loss' | 'kl' | 'clipFraction' | 'gradNorm' | 'lr' | 'skipped' | 'skippedTotal' | 'updates'
  >;
  timing: Pick<StepMetrics, 'tokensPerSecond' | 'rolloutMs' | 'trainMs' | 'wallMs' | 'elapsedMs'>;
  /** The mixture diagnostics, measured with the embedding matrix the rollouts mixed (mixtureDiagnostics, before
   * any update moves it); absent: measured here without it (the norm ratio and cosine null). */
  mixture?: MixtureDiagnostics;
  /** Tokens processed: the prompts of every rollout row, the training batches' (real) tokens. */
  work: { promptTokens: number; trainTokens: number; iterations: number; referenceForward: boolean };
}

/** A GRPO step's metrics: reward statistics, rollout statistics, the updates' figures, cost. */
export function stepMetrics(m: StepMetricsInput): StepMetrics {
  const { rewards, updates: u, timing } = m;
  const stats = rolloutStats(m.trajectories);
  const rm = meanStd(rewards.map((r) => r.total));
  return {
    step: m.step,
    rewardMean: rm.mean,
    rewardStd: rm.std,
    accuracy: rewards.filter((r) => r.score === 1).length / rewards.length,
    scoreMean: meanStd(rewards.map((r) => r.score)).mean,
    formatRate: rewards.filter((r) => r.format > 0).length / rewards.length,
    completionLength: stats.completionLength,
    truncatedRate: stats.truncatedRate,
    kl: u.kl,
    clipFraction: u.clipFraction,
    zeroStdFraction: m.zeroStdFraction,
    loss: u.loss,
    gradNorm: u.gradNorm,
    lr: u.lr,
    entropy: stats.entropy,
    hiddenEntropy: stats.hiddenEntropy,
    hiddenEntropyByPosition: stats.hiddenEntropyByPosition,
    effectiveTokens: stats.effectiveTokens,
    representativeNotArgmax: stats.representativeNotArgmax,
    mixtureRate: stats.mixtureRate,
    ...hiddenEntropyDiagnostics(m.trajectories),
    ...(m.mixture ?? mixtureDiagnostics(m.trajectories, null)),
    tokensPerSecond: timing.tokensPerSecond,
    rolloutMs: timing.rolloutMs,
    trainMs: timing.trainMs,
    wallMs: timing.wallMs,
    elapsedMs: timing.elapsedMs,
    flops: estimateFlops(m.model, {
      rolloutTokens: m.work.promptTokens + stats.positions,
      trainTokens: m.work.trainTokens,
      iterations: m.work.iterations,
      referenceForward: m.work.referenceForward,
    }),
    skipped: u.skipped,
    skippedTotal: u.skippedTotal,
    updates: u.updates,
  };
}
