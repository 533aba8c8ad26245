// Supervised fine-tuning (teacher forcing) on token sequences: padded batches, a loss only on each
// sequence's chosen span (the completion), AdamW with global-norm clipping and a warm-up + cosine
// schedule, deterministic shuffling by seed, and a progress callback per step.
//
// The trainer only talks to an `SftBackend` — "give me the loss and the gradients of this batch, and
// here are your parameters" — so the CPU reference (CpuSftBackend, below), a multi-threaded CPU
// backend (scripts/train-builtin.ts) or a WebGPU one can run the same loop.
//
// Loss: mean negative log-likelihood over the batch's target tokens. Position t of row b predicts
// token t + 1; it is a target when t + 1 lies in [lossStart, lossEnd) of that row, with coefficient
// 1 / (target tokens in the batch) — the per-token coefficients of ref/loss.ts. Everything else
// (prompt, padding) has coefficient 0 and so contributes no gradient.

import { counterUniform } from '../../mot/rng.ts';
import type { Qwen2Config } from '../config.ts';
import { qwen2LossAndGrads } from '../ref/backward.ts';
import type { RefModel } from '../ref/model.ts';
import type { WeightMap } from '../tensor.ts';
import { AdamW, type AdamWOptions, clipGradNorm } from './optim.ts';
import { learningRate } from './schedule.ts';

/** One training sequence: the tokens, and the span of them that is learned. */
export interface SftSequence {
  ids: ArrayLike<number>;
  /** First token that is a target (predicted from the ones before it); ≥ 1. */
  lossStart: number;
  /** One past the last target token; default ids.length. */
  lossEnd?: number;
}

/** A right-padded batch in the layout qwen2LossAndGrads takes: B rows of T positions. */
export interface SftBatch {
  B: number;
  T: number;
  /** (B, T) input tokens (pad id after each row's end). */
  ids: Int32Array;
  /** (B, T) the token each position predicts (0 where it is not a target). */
  targets: Int32Array;
  /** (B, T) loss coefficient: 1 / targetTokens at targets, else 0. */
  coef: Float32Array;
  /** (B, T) 1 = real token, 0 = padding. */
  attentionMask: Uint8Array;
  /** Number of target positions in the whole batch (what coef normalises by). */
  targetTokens: number;
  /** Number of real (non-padding) input positions. */
  realTokens: number;
}

/** Pads `seqs` into one batch (T = the longest row's input length, or `fixedT`). */
export function makeSftBatch(seqs: readonly SftSequence[], padId: number, fixedT?: number): SftBatch {
  if (seqs.length === 0) throw new Error('makeSftBatch: no sequences');
  let T = 0;
  let targetTokens = 0;
  for (const s of seqs) {
    const end = s.lossEnd ?? s.ids.length;
    if (!(s.lossStart >= 1 && s.lossStart <= end && end <= s.ids.length))
      throw new Error(`makeSftBatch: bad loss span [${s.lossStart}, ${end}) for ${s.ids.length} tokens`);
    T = Math.max(T, s.ids.length - 1);
    targetTokens += end - s.lossStart;
  }
  if (fixedT !== undefined) {
    if (fixedT < T) throw new Error(`makeSftBatch: a sequence needs ${T} positions, fixedT is ${fixedT}`);
    T = fixedT;
  }
  if (T === 0) throw new Error('makeSftBatch: sequences need at least 2 tokens');
  const B = seqs.length;
  const ids = new Int32Array(B * T).fill(padId);
  const targets = new Int32Array(B * T);
  const coef = new Float32Array(B * T);
  const attentionMask = new Uint8Array(B * T);
  const c = targetTokens > 0 ? 1 / targetTokens : 0;
  let realTokens = 0;
  seqs.forEach((s, b) => {
    const len = s.ids.length - 1; // the last token is only a target
    const end = s.lossEnd ?? s.ids.length;
    for (let t = 0; t < len; t++) {
      ids[b * T + t] = s.ids[t];
      attentionMask[b * T + t] = 1;
      targets[b * T + t] = s.ids[t + 1];
      if (t + 1 >= s.lossStart && t + 1 < end) coef[b * T + t] = c;
    }
    realTokens += len;
  });
  return { B, T, ids, targets, coef, attentionMask, targetTokens, realTokens };
}

/** Rows [r0, r1) of a batch, trimmed to their own longest row; coefficients keep the whole batch's
 * normalisation, so the gradients of the parts sum to the gradient of the batch. */
export function sliceSftBatch(batch: SftBatch, r0: number, r1: number): SftBatch {
  const { T } = batch;
  let t1 = 0;
  let realTokens = 0;
  let targetTokens = 0;
  for (let r = r0; r < r1; r++) {
    for (let t = 0; t < T; t++) {
      if (batch.attentionMask[r * T + t]) {
        t1 = Math.max(t1, t + 1);
        realTokens++;
      }
      if (batch.coef[r * T + t] !== 0) targetTokens++;
    }
  }
  t1 = Math.max(t1, 1);
  const B = r1 - r0;
  const pick = <A extends Int32Array | Float32Array | Uint8Array>(src: A, make: (n: number) => A): A => {
    const out = make(B * t1);
    for (let r = 0; r < B; r++) out.set(src.subarray((r0 + r) * T, (r0 + r) * T + t1), r * t1);
    return out;
  };
  return {
    B,
    T: t1,
    ids: pick(batch.ids, (n) => new Int32Array(n)),
    targets: pick(batch.targets, (n) => new Int32Array(n)),
    coef: pick(batch.coef, (n) => new Float32Array(n)),
    attentionMask: pick(batch.attentionMask, (n) => new Uint8Array(n)),
    targetTokens,
    realTokens,
  };
}

export interface SftLossResult {
  /** Mean NLL per target token of the batch. */
  loss: number;
  /** Target tokens the loss was averaged over. */
  tokens: number;
  /** d loss / d parameter, by HF name (frozen parameters absent). Valid until the next call. */
  grads: ReadonlyMap<string, Float32Array>;
}

/** What the trainer needs from a compute backend. */
export interface SftBackend {
  /** The trainable parameters by HF name; the optimizer updates them in place. */
  readonly params: ReadonlyMap<string, Float32Array>;
  lossAndGrads(batch: SftBatch): Promise<SftLossResult>;
  /** Called after each optimizer update (a device backend uploads the new parameters here). */
  paramsUpdated?(): Promise<void> | void;
}

/** The CPU reference as an SftBackend: qwen2LossAndGrads over the whole batch, in this thread. */
export class CpuSftBackend implements SftBackend {
  readonly params: Map<string, Float32Array>;
  private readonly model: RefModel;
  private readonly grads = new Map<string, Float32Array>();

  constructor(
    config: Qwen2Config,
    weights: WeightMap,
    private readonly options: { trainEmbeddings?: boolean } = {},
  ) {
    this.model = { config, weights };
    this.params = new Map([...weights].map(([name, t]) => [name, t.data]));
  }

  async lossAndGrads(batch: SftBatch): Promise<SftLossResult> {
    for (const g of this.grads.values()) g.fill(0);
    const r = qwen2LossAndGrads(
      this.model,
      { kind: 'ids', ids: batch.ids },
      batch.B,
      batch.T,
      batch.targets,
      batch.coef,
      { attentionMask: batch.attentionMask },
      { grads: this.grads, trainEmbeddings: this.options.trainEmbeddings },
    );
    return { loss: r.loss, tokens: batch.targetTokens, grads: this.grads };
  }
}

export interface SftOptions {
  /** Sequences per optimizer step. */
  batchSize: number;
  /** Optimizer steps (the cosine schedule ends here). */
  steps: number;
  /** Peak learning rate. Default 3e-3. */
  lr?: number;
  /** Linear warm-up steps. Default min(50, steps / 10). */
  warmupSteps?: number;
  /** Learning rate at the end of the cosine. Default lr / 10. */
  minLr?: number;
  /** AdamW settings besides the rate (weight decay default 0.01; not on norms and biases). */
  adamw?: Partial<Omit<AdamWOptions, 'lr'>>;
  /** Global gradient-norm clip. Default 1; 0 disables. */
  clipNorm?: number;
  /** Shuffling seed. */
  seed: number;
  /** Id of the padding token. */
  padId: number;
  /**
   * Length bucketing: batches are cut from windows of `bucketWindow` batches sorted by length, then
   * the batch order is shuffled — less padding, same examples per epoch. Default 1 (off).
   */
  bucketWindow?: number;
  /** Wall-clock budget: after `calibrationSteps` steps, `steps` shrinks to what fits (schedule too). */
  budgetMs?: number;
  /** Steps timed before the budget fixes the step count. Default 5. */
  calibrationSteps?: number;
  /** Which parameters get weight decay. Default: all but norms and biases. */
  decay?: (name: string) => boolean;
  /** Called after every step. */
  onStep?: (p: SftProgress) => void | Promise<void>;
  /** Polled before every step; true stops the run (the steps done are kept). */
  shouldStop?: () => boolean;
  /** Clock (ms); default performance.now. */
  now?: () => number;
}

export interface SftProgress {
  /** 1-based number of steps done. */
  step: number;
  /** Total steps planned (can shrink once under a time budget). */
  steps: number;
  epoch: number;
  loss: number;
  lr: number;
  /** Gradient norm before clipping. */
  gradNorm: number;
  targetTokens: number;
  /** Real (non-padding) tokens processed in this step. */
  tokens: number;
  batchT: number;
  stepMs: number;
  elapsedMs: number;
  /** Real tokens per second over the run so far. */
  tokensPerSecond: number;
  etaMs: number;
}

export interface SftResult {
  steps: number;
  /** Loss at every step. */
  losses: number[];
  elapsedMs: number;
  tokens: number;
}

/** Seeded permutation of 0..n-1 for epoch `epoch` (Fisher–Yates on counter-based uniforms). */
export function epochPermutation(n: number, seed: number, epoch: number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(counterUniform(seed, epoch, i) * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** The batches (as index lists) of one epoch: shuffled, optionally length-bucketed; the last partial
 * batch is dropped so every step sees `batchSize` rows. */
export function epochBatches(
  lengths: readonly number[],
  batchSize: number,
  seed: number,
  epoch: number,
  bucketWindow = 1,
): number[][] {
  const perm = epochPermutation(lengths.length, seed, epoch);
  const batches: number[][] = [];
  const window = batchSize * Math.max(1, bucketWindow);
  for (let w = 0; w + batchSize <= perm.length; w += window) {
    const chunk = perm.slice(w, Math.min(w + window, perm.length));
    if (bucketWindow > 1) chunk.sort((a, b) => lengths[a] - lengths[b] || a - b);
    for (let i = 0; i + batchSize <= chunk.length; i += batchSize)
      batches.push(chunk.slice(i, i + batchSize));
  }
  if (bucketWindow <= 1) return batches;
  const order = epochPermutation(batches.length, seed ^ 0x5bd1e995, epoch);
  return order.map((i) => batches[i]);
}

const defaultDecay = (name: string): boolean => !name.endsWith('.bias') && !name.endsWith('norm.weight');

/** Runs supervised training of `backend`'s parameters on `data`. */
export async function trainSft(
  backend: SftBackend,
  data: readonly SftSequence[],
  options: SftOptions,
): Promise<SftResult> {
  if (data.length < options.batchSize)
    throw new Error(`trainSft: ${data.length} sequences, fewer than one batch of ${options.batchSize}`);
  const now = options.now ?? (() => performance.now());
  const lr = options.lr ?? 3e-3;
  let steps = options.steps;
  const warmupSteps = options.warmupSteps ?? Math.max(1, Math.min(50, Math.floor(steps / 10)));
  const minLr = options.minLr ?? lr / 10;
  const clipNorm = options.clipNorm ?? 1;
  const calibration = options.calibrationSteps ?? 5;
  const optimizer = new AdamW({ weightDecay: 0.01, ...options.adamw, lr }, options.decay ?? defaultDecay);
  const lengths = data.map((s) => s.ids.length);

  const losses: number[] = [];
  const t0 = now();
  let tokensSeen = 0;
  let epoch = 0;
  let batches = epochBatches(lengths, options.batchSize, options.seed, epoch, options.bucketWindow);
  let cursor = 0;
  for (let step = 0; step < steps; step++) {
    if (options.shouldStop?.()) break;
    if (cursor >= batches.length) {
      epoch++;
      batches = epochBatches(lengths, options.batchSize, options.seed, epoch, options.bucketWindow);
      cursor = 0;
    }
    const ts = now();
    const batch = makeSftBatch(
      batches[cursor++].map((i) => data[i]),
      options.padId,
    );
    const { loss, grads } = await backend.lossAndGrads(batch);
    const gradNorm = clipNorm > 0 ? clipGradNorm(grads.values(), clipNorm) : Number.NaN;
    // llm.c's warm-up (never a zero rate), not HF's: the built-in model was trained with it (schedule.ts).
    const schedule = {
      kind: 'cosine_with_min_lr',
      lr,
      warmupSteps,
      totalSteps: steps,
      minLr,
      warmup: 'llm.c',
    } as const;
    const rate = learningRate(schedule, step);
    optimizer.update(backend.params, grads, rate);
    await backend.paramsUpdated?.();
    losses.push(loss);
    tokensSeen += batch.realTokens;
    const t1 = now();
    const elapsedMs = t1 - t0;
    if (options.budgetMs !== undefined && step + 1 === calibration) {
      const perStep = elapsedMs / calibration;
      steps = Math.max(step + 1, Math.min(steps, Math.floor(options.budgetMs / perStep)));
    }
    await options.onStep?.({
      step: step + 1,
      steps,
      epoch,
      loss,
      lr: rate,
      gradNorm,
      targetTokens: batch.targetTokens,
      tokens: batch.realTokens,
      batchT: batch.T,
      stepMs: t1 - ts,
      elapsedMs,
      tokensPerSecond: (tokensSeen * 1000) / Math.max(elapsedMs, 1e-9),
      etaMs: (elapsedMs / (step + 1)) * (steps - step - 1),
    });
  }
  return { steps: losses.length, losses, elapsedMs: now() - t0, tokens: tokensSeen };
}
