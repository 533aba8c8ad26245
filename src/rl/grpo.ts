// The GRPO objective of MOTG.md §2 on per-token log-likelihoods: group advantages, the clipped surrogate
// with ε_low / ε_high, the k3 KL to a reference with weight β, and the aggregations of TRL's GRPOTrainer
// (`grpo`, `dr_grpo`, `dapo`, `bnpo`). The loss comes with dL/dℓ_t for every token, so the model backward can
// be seeded with coef_t · dℓ_t/dlogits (src/mot/likelihood.ts gives dℓ_t/dlogits).
import { SettingsError } from '../mot/settings.ts';

export type ScaleRewards = 'group' | 'batch' | 'none';
export type LossType = 'grpo' | 'dr_grpo' | 'dapo' | 'bnpo';

/** Added to the std before dividing (as TRL). */
export const ADVANTAGE_EPS = 1e-4;
/** A group whose reward std is at most this counts as zero-variance (torch.isclose's default atol). */
export const ZERO_STD_ATOL = 1e-8;

export interface GroupAdvantages {
  /** A_i per completion, in the order of the rewards. */
  advantages: Float64Array;
  /** Mean and unbiased std of the rewards of each group. */
  groupMean: Float64Array;
  groupStd: Float64Array;
  /** Groups whose rewards are all equal (no learning signal). */
  zeroStdGroups: number;
  zeroStdFraction: number;
}

function unbiasedStd(x: ArrayLike<number>, from: number, n: number, mean: number): number {
  let s = 0;
  for (let i = from; i < from + n; i++) s += (x[i] - mean) ** 2;
  return Math.sqrt(s / (n - 1));
}

/**
 * A_i = (R_i − mean_group R) / (std + 1e-4), with the unbiased std of the group (`group`), of the whole batch
 * (`batch`), or no scaling (`none`, Dr. GRPO). Rewards come in contiguous groups of `numGenerations`.
 */
export function groupAdvantages(
  rewards: ArrayLike<number>,
  numGenerations: number,
  scale: ScaleRewards = 'group',
): GroupAdvantages {
  const G = numGenerations;
  if (!Number.isInteger(G) || G < 2)
    throw new SettingsError('non-positive', 'num_generations', `must be an integer ≥ 2, got ${G}`);
  if (rewards.length % G !== 0)
    throw new SettingsError(
      'batch-not-divisible',
      'rewards',
      `${rewards.length} rewards do not split into groups of ${G}`,
    );
  for (let i = 0; i < rewards.length; i++)
    if (!Number.isFinite(rewards[i]))
      throw new SettingsError('invalid-number', 'rewards', `reward ${i} is ${rewards[i]}`);
  const groups = rewards.length / G;
  const groupMean = new Float64Array(groups);
  const groupStd = new Float64Array(groups);
  let zeroStdGroups = 0;
  for (let g = 0; g < groups; g++) {
    let s = 0;
    for (let i = 0; i < G; i++) s += rewards[g * G + i];
    groupMean[g] = s / G;
    groupStd[g] = unbiasedStd(rewards, g * G, G, groupMean[g]);
    if (groupStd[g] <= ZERO_STD_ATOL) zeroStdGroups++;
  }
  let batchStd = 0;
  if (scale === 'batch') {
    let s = 0;
    for (let i = 0; i < rewards.length; i++) s += rewards[i];
    batchStd = rewards.length > 1 ? unbiasedStd(rewards, 0, rewards.length, s / rewards.length) : 0;
  }
  const advantages = new Float64Array(rewards.length);
  for (let i = 0; i < rewards.length; i++) {
    const g = Math.floor(i / G);
    const centred = rewards[i] - groupMean[g];
    if (scale === 'none') advantages[i] = centred;
    else advantages[i] = centred / ((scale === 'group' ? groupStd[g] : batchStd) + ADVANTAGE_EPS);
  }
  return {
    advantages,
    groupMean,
    groupStd,
    zeroStdGroups,
    zeroStdFraction: groups ? zeroStdGroups / groups : 0,
  };
}

export interface GrpoBatch {
  /** Completions in the batch and tokens per completion (padded); the arrays below are [B, T] row-major. */
  B: number;
  T: number;
  /** ℓ_t under the current policy. */
  logp: ArrayLike<number>;
  /** ℓ_t under the policy that sampled (null or absent: ℓ_t itself, detached, so ρ = 1). */
  oldLogp?: ArrayLike<number> | null;
  /** ℓ_t under the reference policy (needed when β > 0). */
  refLogp?: ArrayLike<number> | null;
  /** 1 for tokens that count, 0 for padding / prompt / masked-out tokens. */
  mask: ArrayLike<number>;
  /** A_i per completion [B]. */
  advantages: ArrayLike<number>;
}

export interface GrpoLossOptions {
  epsilon: number;
  /** Upper clip ε_high (null or absent: ε). */
  epsilonHigh?: number | null;
  beta: number;
  lossType: LossType;
  /** `dr_grpo` divides by B · maxCompletionLength. */
  maxCompletionLength: number;
  /**
   * `dapo`: the number of counted tokens to divide by; under gradient accumulation pass the count over the
   * whole generation batch (TRL's num_items_in_batch). Absent: the tokens of this batch.
   */
  tokenNormalizer?: number;
}

export interface GrpoMetrics {
  /** Counted tokens. */
  tokens: number;
  /** Fraction of counted tokens clipped below (ρ < 1−ε, A < 0), above (ρ > 1+ε_high, A > 0), either. */
  lowClipFraction: number;
  highClipFraction: number;
  clipFraction: number;
  /** Masked mean of the k3 KL (0 when no reference is given). */
  klMean: number;
  /** Masked mean of ρ. */
  ratioMean: number;
  /** The policy and KL parts of the loss under the same aggregation (loss = policyLoss + β · klLoss). */
  policyLoss: number;
  klLoss: number;
}

export interface GrpoLossResult {
  loss: number;
  /** dL/dℓ_t per token [B, T] (0 where mask is 0). */
  coef: Float64Array;
  /** Per-token loss L_t before aggregation [B, T] (0 where mask is 0). */
  perToken: Float64Array;
  metrics: GrpoMetrics;
}

function checkLength(field: string, a: ArrayLike<number> | null | undefined, n: number): void {
  if (a && a.length !== n)
    throw new SettingsError('shape-mismatch', field, `has ${a.length} entries, expected ${n}`);
}

/**
 * L = aggregate_t( −min(ρ_t A, clip(ρ_t, 1−ε, 1+ε_high) A) + β · KL_t ), ρ_t = exp(ℓ_t − ℓ_t^old),
 * KL_t = exp(ℓ_ref − ℓ_t) − (ℓ_ref − ℓ_t) − 1, and coef_t = dL/dℓ_t (ℓ^old and ℓ^ref held fixed).
 * Aggregation: `grpo` mean over each completion's tokens then over completions; `dr_grpo` Σ / (B · max
 * completion length); `dapo` Σ / tokenNormalizer (default: tokens in the batch); `bnpo` Σ / tokens in the batch.
 */
export function grpoLoss(batch: GrpoBatch, o: GrpoLossOptions): GrpoLossResult {
  const { B, T, logp, mask, advantages } = batch;
  const N = B * T;
  checkLength('logp', logp, N);
  checkLength('mask', mask, N);
  checkLength('oldLogp', batch.oldLogp, N);
  checkLength('refLogp', batch.refLogp, N);
  checkLength('advantages', advantages, B);
  const epsLow = o.epsilon;
  const epsHigh = o.epsilonHigh ?? o.epsilon;
  const useKl = !!batch.refLogp;
  if (o.beta !== 0 && !useKl)
    throw new SettingsError('missing-context', 'refLogp', 'β ≠ 0 needs the reference log-likelihoods');
  const old = batch.oldLogp ?? logp;

  // Aggregation weights.
  let tokens = 0;
  for (let i = 0; i < N; i++) if (mask[i]) tokens++;
  const weight = new Float64Array(N);
  for (let b = 0; b < B; b++) {
    let n = 0;
    for (let t = 0; t < T; t++) if (mask[b * T + t]) n++;
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      if (!mask[i]) continue;
      switch (o.lossType) {
        case 'grpo':
          weight[i] = 1 / (Math.max(n, 1) * B);
          break;
        case 'dr_grpo':
          weight[i] = 1 / (B * o.maxCompletionLength);
          break;
        case 'dapo':
          weight[i] = 1 / Math.max(o.tokenNormalizer ?? tokens, 1);
          break;
        case 'bnpo':
          weight[i] = 1 / Math.max(tokens, 1);
          break;
        default:
          throw new SettingsError('unknown-value', 'loss_type', `"${o.lossType}" is not a loss type`);
      }
    }
  }

  const coef = new Float64Array(N);
  const perToken = new Float64Array(N);
  let loss = 0;
  let policyLoss = 0;
  let klLoss = 0;
  let low = 0;
  let high = 0;
  let klSum = 0;
  let ratioSum = 0;
  for (let b = 0; b < B; b++) {
    const A = advantages[b];
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      if (!mask[i]) continue;
      const rho = Math.exp(logp[i] - old[i]);
      const clipped = Math.min(Math.max(rho, 1 - epsLow), 1 + epsHigh);
      const lowClip = rho < 1 - epsLow && A < 0;
      const highClip = rho > 1 + epsHigh && A > 0;
      // −min(ρA, clip(ρ)A): the clipped branch is active (and flat in ℓ) exactly when low/high clipped.
      const pg = -Math.min(rho * A, clipped * A);
      let d = lowClip || highClip ? 0 : -rho * A;
      let kl = 0;
      if (useKl) {
        const diff = (batch.refLogp as ArrayLike<number>)[i] - logp[i];
        const e = Math.exp(diff);
        kl = e - diff - 1;
        d += o.beta * (1 - e);
      }
      perToken[i] = pg + o.beta * kl;
      coef[i] = weight[i] * d;
      loss += weight[i] * perToken[i];
      policyLoss += weight[i] * pg;
      klLoss += weight[i] * kl;
      if (lowClip) low++;
      if (highClip) high++;
      klSum += kl;
      ratioSum += rho;
    }
  }
  const per = (x: number) => (tokens ? x / tokens : 0);
  return {
    loss,
    coef,
    perToken,
    metrics: {
      tokens,
      lowClipFraction: per(low),
      highClipFraction: per(high),
      clipFraction: per(low + high),
      klMean: per(klSum),
      ratioMean: per(ratioSum),
      policyLoss,
      klLoss,
    },
  };
}
