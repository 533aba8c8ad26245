// The training batch of a rollout (MOTG.md §2): trajectories turned into the training forward's inputs, and the
// replay of every behaviour log-likelihood from them. Rollout records are exact to replay: prompt and discrete
// positions become ids, mixture steps their (ids, weights) plus the counters of their noise, which every
// forward regenerates (ref/embedding.ts InputNoise), so the policies' forwards see what the rollout fed.
import type { Backend } from '../engine/backend.ts';
import { NOISE_STRIDE } from '../engine/ref/embedding.ts';
import type { ModelInput } from '../engine/ref/model.ts';
import { actionLogLikelihood, type EmbeddingContext } from '../mot/likelihood.ts';
import type { Counters } from '../mot/random.ts';
import { type MotSettings, SettingsError } from '../mot/settings.ts';
import type { RolloutRecord, Trajectory } from './rollout.ts';

export interface TrainingAction {
  /** Row of the batch (index into the trajectories given). */
  row: number;
  /** Position (0-based, within the row) whose logits produced the action. */
  position: number;
  record: RolloutRecord;
}

/** The training forward's inputs for a batch of trajectories, right-padded to T. */
export interface TrainingBatch {
  B: number;
  T: number;
  /** 'mixture' (B, T, K) — prompt and discrete positions as [id] with weight 1 — with the counters of the
   * Gaussian noise of noisy steps (`noise`) when any fed step carries it. */
  input: ModelInput;
  /** (B, T) 1 = a real position. */
  attentionMask: Uint8Array;
  /** (B, T) 0, 1, … from each row's first token. */
  positionIds: Int32Array;
  /** Real positions per row: prompt + completion inputs. */
  lengths: number[];
  /** Every recorded action, with where its logits are. */
  actions: TrainingAction[];
}

export interface TrainingBatchOptions {
  padId: number;
  /** The absolute σ the rollout added to its noisy mixture steps (RolloutRun's noiseStd, see noiseStdOf);
   * needed when any fed step carries noise (0: the rollout added none). */
  noiseStd?: number;
}

/**
 * The inputs that reproduce the rollout's forward for the given trajectories (any subset, e.g. one GRPO
 * micro-batch): prompt ids, then per completion position the fed action (discrete id, or the recorded ids and
 * f32 weights of a mixture, plus its Gaussian noise) or forced token. The actions are every record, each at
 * the position whose logits produced it.
 *
 * The noise of a noisy mixture step is not recorded: the input names its counters (seed, row, step of the
 * record) and every forward regenerates σ · n from the counter RNG, as the rollout did (ref/embedding.ts
 * InputNoise; on the GPU the same WGSL normal as the rollout's embedding-mixture kernel). So the input stays a
 * mixture Σ w E[id] + noise — not precomputed embeddings — and the training backward reaches the embedding
 * matrix through the weights with E's current values, while the noise, a constant, carries no gradient.
 */
export function buildTrainingBatch(trajectories: Trajectory[], opts: TrainingBatchOptions): TrainingBatch {
  const B = trajectories.length;
  if (B === 0) throw new SettingsError('shape-mismatch', 'trajectories', 'no trajectories');
  type Pos = { ids: number[]; weights: number[]; noise: Counters | null };
  const seqs: Pos[][] = trajectories.map((tr) => {
    const seq: Pos[] = tr.promptIds.map((id) => ({ ids: [id], weights: [1], noise: null }));
    for (const inp of tr.inputs) {
      if (inp.kind === 'token') seq.push({ ids: [inp.id], weights: [1], noise: null });
      else {
        const rec = tr.records[inp.record];
        seq.push({ ids: rec.ids, weights: rec.weights, noise: rec.noise ? rec.counters : null });
      }
    }
    return seq;
  });
  const lengths = seqs.map((s) => s.length);
  const T = Math.max(...lengths);
  const attentionMask = new Uint8Array(B * T);
  const positionIds = new Int32Array(B * T);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      attentionMask[b * T + t] = t < lengths[b] ? 1 : 0;
      positionIds[b * T + t] = t;
    }
  const actions: TrainingAction[] = [];
  trajectories.forEach((tr, b) => {
    for (const record of tr.records) {
      if (record.position >= lengths[b])
        throw new SettingsError('shape-mismatch', 'trajectories', `record at ${record.position} ≥ length`);
      actions.push({ row: b, position: record.position, record });
    }
  });
  const noisy = seqs.some((s) => s.some((p) => p.noise !== null));
  if (noisy && opts.noiseStd === undefined)
    throw new SettingsError('missing-context', 'noiseStd', 'noisy steps need the noise σ of the rollout');
  const std = noisy ? (opts.noiseStd ?? 0) : 0;
  const K = Math.max(...seqs.map((s) => Math.max(...s.map((p) => p.ids.length))));
  const ids = new Int32Array(B * T * K);
  const weights = new Float32Array(B * T * K);
  const counters = std > 0 ? new Uint32Array(B * T * NOISE_STRIDE) : null;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      const p = seqs[b][t] ?? { ids: [opts.padId], weights: [1], noise: null };
      const at = (b * T + t) * K;
      for (let j = 0; j < K; j++) {
        ids[at + j] = j < p.ids.length ? p.ids[j] : p.ids[0];
        weights[at + j] = j < p.ids.length ? p.weights[j] : 0;
      }
      if (counters && p.noise) {
        const c = (b * T + t) * NOISE_STRIDE;
        counters[c] = 1;
        counters[c + 1] = p.noise.seed >>> 0;
        counters[c + 2] = p.noise.row >>> 0;
        counters[c + 3] = p.noise.step >>> 0;
      }
    }
  const input: ModelInput = {
    kind: 'mixture',
    ids,
    weights,
    k: K,
    ...(counters ? { noise: { std, counters } } : {}),
  };
  return { B, T, input, attentionMask, positionIds, lengths, actions };
}

/**
 * The log-likelihood of every action of the batch under the backend's current weights (src/mot/likelihood.ts
 * on the training forward's logits), in batch.actions order. With the rollout's weights this reproduces the
 * records' behaviour log-likelihoods. The exact likelihood of noisy steps needs `embedding`.
 */
export async function replayLogLikelihoods(
  backend: Backend,
  batch: TrainingBatch,
  settings: MotSettings,
  V: number,
  opts: { lora?: boolean; embedding?: EmbeddingContext } = {},
): Promise<Float64Array> {
  const { logits } = await backend.forward(batch.input, batch.B, batch.T, {
    attentionMask: batch.attentionMask,
    positionIds: batch.positionIds,
    lora: opts.lora,
  });
  const out = new Float64Array(batch.actions.length);
  batch.actions.forEach((a, i) => {
    const at = a.row * batch.T + a.position;
    out[i] = actionLogLikelihood(logits.subarray(at * V, (at + 1) * V), V, a.record, settings, {
      embedding: opts.embedding,
    }).value;
  });
  return out;
}
