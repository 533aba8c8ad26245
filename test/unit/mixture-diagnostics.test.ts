// Mixture diagnostics and the scale-free hidden-state entropy (issue 14; src/mot/diagnostics.ts, their
// per-step aggregation in src/rl/metrics.ts): each against a hand computation on small vectors, the entropy's
// invariance to the activations' scale (which the softmax one lacks), the step aggregation on hand-made
// trajectories, and a short CPU GRPO step: `dirichlet` fills every diagnostic, `discrete` leaves the mixture
// ones null.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { hiddenEntropyForward } from '../../src/engine/ref/logits.ts';
import {
  type EmbeddingTable,
  effectiveTokenCount,
  embeddingRowNorms,
  energyEntropy,
  mixedEmbedding,
  mixtureNormRatio,
  nearestTokenCosine,
  weightEntropy,
} from '../../src/mot/diagnostics.ts';
import {
  embeddingDiagnosticsPositions,
  hiddenEntropyAlongReasoning,
  hiddenEntropyDiagnostics,
  MIXING_THRESHOLD,
  mixtureDiagnostics,
  REASONING_BUCKETS,
  STEP_METRIC_FIELDS,
  type StepMetrics,
} from '../../src/rl/metrics.ts';
import type { RolloutRecord, Trajectory } from '../../src/rl/rollout.ts';
import { Engine } from '../../src/worker/engine.ts';
import { digitReward } from '../helpers/rewards.ts';

const MODEL = resolve(import.meta.dirname, '../../public/models/motg-tiny-random');
const xlogx = (x: number) => x * Math.log(x);

/** Rows (1,0,0), (0,1,0), (0,0,2), (1,1,1), (-1,0,0). */
const TABLE: EmbeddingTable = { E: Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 1, -1, 0, 0]), C: 3 };

describe('mixture diagnostics on small vectors (hand computations)', () => {
  it('effective number of tokens 1/Σw² and weight entropy −Σ w log w', () => {
    expect(effectiveTokenCount([1])).toBe(1);
    expect(effectiveTokenCount([0.5, 0.5])).toBeCloseTo(2, 12);
    expect(effectiveTokenCount([0.9, 0.1])).toBeCloseTo(1 / 0.82, 12);
    expect(effectiveTokenCount([0.25, 0.25, 0.25, 0.25])).toBeCloseTo(4, 12);
    expect(weightEntropy([1])).toBe(0);
    expect(weightEntropy([0.5, 0.5])).toBeCloseTo(Math.log(2), 12);
    expect(weightEntropy([0.9, 0.1])).toBeCloseTo(-(xlogx(0.9) + xlogx(0.1)), 12);
    // A floored weight contributes nothing (0 · log 0 = 0), and a zero weight no NaN.
    expect(weightEntropy([1, 0])).toBe(0);
    expect(weightEntropy([1 - 1e-20, 1e-20])).toBeCloseTo(0, 12);
  });

  it('e_mix = Σ w_j E[i_j] and the norm ratio ‖e_mix‖ / Σ w_j ‖E[i_j]‖', () => {
    expect(Array.from(mixedEmbedding([0, 1], [0.75, 0.25], TABLE))).toEqual([0.75, 0.25, 0]);
    // Orthogonal unit rows, equal weights: ‖(½, ½, 0)‖ / 1 = 1/√2.
    expect(mixtureNormRatio([0, 1], [0.5, 0.5], TABLE)).toBeCloseTo(Math.SQRT1_2, 12);
    // Opposite rows cancel: ratio 0.
    expect(mixtureNormRatio([0, 4], [0.5, 0.5], TABLE)).toBeCloseTo(0, 12);
    // (1,0,0) and (0,0,2) at ¾, ¼: ‖(¾, 0, ½)‖ / (¾ · 1 + ¼ · 2) = √(13/16) / 1.25.
    expect(mixtureNormRatio([0, 2], [0.75, 0.25], TABLE)).toBeCloseTo(Math.sqrt(13 / 16) / 1.25, 12);
    // A single token: 1; with precomputed row norms: the same.
    expect(mixtureNormRatio([3], [1], TABLE)).toBeCloseTo(1, 12);
    const norms = embeddingRowNorms(TABLE);
    expect(Array.from(norms)).toEqual([1, 1, 2, Math.sqrt(3), 1]);
    expect(mixtureNormRatio([0, 2], [0.75, 0.25], TABLE, norms)).toBeCloseTo(Math.sqrt(13 / 16) / 1.25, 12);
  });

  it('cosine of e_mix to its nearest token embedding over the whole vocabulary', () => {
    const norms = embeddingRowNorms(TABLE);
    // (0.8, 0.2, 0): cos to (1,0,0) = 0.8 / √0.68 beats (1,1,1): 1 / (√0.68 · √3).
    const e = mixedEmbedding([0, 1], [0.8, 0.2], TABLE);
    expect(nearestTokenCosine(e, TABLE, norms)).toBeCloseTo(0.8 / Math.sqrt(0.68), 12);
    // (⅓, ⅓, ⅓) lies on row 3 (1,1,1), which is not among its ids: cos 1.
    const on = mixedEmbedding([0, 1, 2], [1 / 3, 1 / 3, 1 / 6], TABLE);
    expect(nearestTokenCosine(on, TABLE, norms)).toBeCloseTo(1, 12);
    // A token is its own nearest embedding.
    expect(nearestTokenCosine(mixedEmbedding([2], [1], TABLE), TABLE, norms)).toBeCloseTo(1, 12);
    expect(nearestTokenCosine([0, 0, 0], TABLE, norms)).toBe(0);
  });
});

describe('scale-free hidden-state entropy (energy shares h_i² / Σ h²)', () => {
  it('matches hand computations', () => {
    expect(energyEntropy([1, 1, 0, 0])).toBeCloseTo(Math.log(2), 12);
    expect(energyEntropy([2, -2, 2, -2])).toBeCloseTo(Math.log(4), 12);
    expect(energyEntropy([3, 4])).toBeCloseTo(-(xlogx(9 / 25) + xlogx(16 / 25)), 12);
    expect(energyEntropy([0, 5, 0])).toBe(0);
    expect(energyEntropy([0, 0, 0])).toBe(0);
    // offset and C select a row of a (N, C) matrix.
    expect(energyEntropy([9, 9, 3, 4, 9], 2, 2)).toBeCloseTo(-(xlogx(9 / 25) + xlogx(16 / 25)), 12);
  });

  it('is invariant to the activations’ scale, where the softmax entropy is not', () => {
    const h = Float32Array.from({ length: 64 }, (_, i) => Math.sin(1.7 * i + 0.3) * (1 + (i % 5)));
    const base = energyEntropy(h);
    expect(base).toBeGreaterThan(0);
    expect(base).toBeLessThan(Math.log(64));
    const softmax = (x: Float32Array) => {
      const out = new Float32Array(1);
      hiddenEntropyForward(out, x, 1, x.length);
      return out[0];
    };
    for (const a of [1e-6, 0.01, -3, 40, 1e6]) {
      const scaled = Float64Array.from(h, (x) => a * x);
      expect(energyEntropy(scaled)).toBeCloseTo(base, 9);
    }
    // The current (softmax) entropy moves by far more than rounding when h is scaled.
    expect(Math.abs(softmax(h) - softmax(h.map((x) => 10 * x)))).toBeGreaterThan(0.5);
  });
});

/** A mixture (or discrete) record with hand-set fields; the rest is irrelevant to the diagnostics. */
function rec(
  over: Partial<RolloutRecord> & Pick<RolloutRecord, 'mode' | 'ids' | 'weights' | 'phase'>,
): RolloutRecord {
  return {
    representative: over.ids[0],
    temperature: 1,
    logLikelihood: 0,
    entropy: 0,
    argmax: over.ids[0],
    sampled: null,
    noise: null,
    counters: { seed: 0, row: 0, step: 0 },
    step: 0,
    position: 0,
    hiddenEntropy: [],
    ...over,
  };
}

const traj = (records: RolloutRecord[]): Trajectory => ({ records }) as unknown as Trajectory;

describe('per-step aggregation (src/rl/metrics.ts)', () => {
  it('mixture diagnostics: means over the mixture steps, null without them', () => {
    const a = rec({ mode: 'mixture', phase: 'thinking', ids: [0, 1], weights: [0.5, 0.5] });
    const b = rec({ mode: 'mixture', phase: 'thinking', ids: [0, 2], weights: [0.9, 0.1] });
    const d = rec({ mode: 'discrete', phase: 'answer', ids: [3], weights: [1] });
    const m = mixtureDiagnostics([traj([a, d]), traj([b])], TABLE);
    // 1/Σw²: 2 and 1/0.82 = 1.22; only the first reaches 1.3.
    expect(MIXING_THRESHOLD).toBe(1.3);
    expect(m.mixingStepFraction).toBeCloseTo(0.5, 12);
    expect(m.weightEntropy).toBeCloseTo((Math.log(2) - xlogx(0.9) - xlogx(0.1)) / 2, 12);
    // Ratios: 1/√2 and ‖(0.9, 0, 0.2)‖ / (0.9 + 0.2).
    const rb = Math.sqrt(0.81 + 0.04) / 1.1;
    expect(m.mixNormRatio).toBeCloseTo((Math.SQRT1_2 + rb) / 2, 12);
    // Nearest: (½, ½, 0) → (1,1,1) at √(2/3); (0.9, 0, 0.2) → (1,0,0) at 0.9 / √0.85.
    expect(m.mixNearestCosine).toBeCloseTo((Math.sqrt(2 / 3) + 0.9 / Math.sqrt(0.85)) / 2, 12);
    // Without the embedding matrix the weight-only diagnostics remain.
    const noE = mixtureDiagnostics([traj([a, d]), traj([b])], null);
    expect([noE.mixNormRatio, noE.mixNearestCosine]).toEqual([null, null]);
    expect(noE.weightEntropy).toBe(m.weightEntropy);
    // Discrete only: every mixture diagnostic is null.
    expect(mixtureDiagnostics([traj([d])], TABLE)).toEqual({
      mixingStepFraction: null,
      weightEntropy: null,
      mixNormRatio: null,
      mixNearestCosine: null,
    });
  });

  it('the embedding diagnostics sample evenly spaced positions beyond their budget', () => {
    expect(embeddingDiagnosticsPositions(800, 519, 64)).toBe(800); // the built-in model: every position
    expect(embeddingDiagnosticsPositions(5000, 519, 64)).toBe(4040);
    expect(embeddingDiagnosticsPositions(1000, 151_936, 896)).toBe(4); // Qwen2.5-0.5B: a sample of 4
    expect(embeddingDiagnosticsPositions(2, 151_936, 896)).toBe(2);
  });

  it('hidden-state entropy per layer and along the reasoning in quarters of the thinking phase', () => {
    const thinking = (h: number[], s: number[]) =>
      rec({
        mode: 'discrete',
        phase: 'thinking',
        ids: [0],
        weights: [1],
        hiddenEntropy: h,
        hiddenEntropyScaleFree: s,
      });
    const answer = rec({ mode: 'discrete', phase: 'answer', ids: [0], weights: [1], hiddenEntropy: [9, 9] });
    // Trajectory 1: 4 thinking steps, one per quarter; trajectory 2: 2 steps, in quarters 0 and 2.
    const t1 = traj([
      thinking([1, 3], [0.1, 0.3]),
      thinking([2, 2], [0.2, 0.2]),
      thinking([3, 3], [0.3, 0.3]),
      thinking([4, 6], [0.4, 0.6]),
      answer,
    ]);
    const t2 = traj([thinking([5, 5], [0.5, 0.5]), thinking([7, 9], [0.7, 0.9])]);
    expect(REASONING_BUCKETS).toBe(4);
    const d = hiddenEntropyDiagnostics([t1, t2]);
    // Layer means over the 6 thinking records (the answer step left out).
    expect(d.hiddenEntropyScaleFree?.[0]).toBeCloseTo((0.1 + 0.2 + 0.3 + 0.4 + 0.5 + 0.7) / 6, 12);
    expect(d.hiddenEntropyScaleFree?.[1]).toBeCloseTo((0.3 + 0.2 + 0.3 + 0.6 + 0.5 + 0.9) / 6, 12);
    // Quarter means of the layer means: q0 = {2, 5}, q1 = {2}, q2 = {3, 8}, q3 = {5}.
    const q = d.hiddenEntropyByReasoningQuarter as number[];
    [3.5, 2, 5.5, 5].forEach((v, i) => {
      expect(q[i]).toBeCloseTo(v, 12);
    });
    const qs = d.hiddenEntropyScaleFreeByReasoningQuarter as number[];
    [0.35, 0.2, 0.55, 0.5].forEach((v, i) => {
      expect(qs[i]).toBeCloseTo(v, 12);
    });
    // An empty quarter is NaN; no hidden states at all: null.
    const short = hiddenEntropyAlongReasoning([traj([thinking([1, 1], [1, 1])])], (r) => r.hiddenEntropy);
    expect(short?.[0]).toBe(1);
    expect(short?.slice(1).every(Number.isNaN)).toBe(true);
    const none = hiddenEntropyDiagnostics([
      traj([rec({ mode: 'discrete', phase: 'thinking', ids: [0], weights: [1] })]),
    ]);
    expect(none).toEqual({
      hiddenEntropyScaleFree: null,
      hiddenEntropyByReasoningQuarter: null,
      hiddenEntropyScaleFreeByReasoningQuarter: null,
    });
  });
});

async function cpuStep(
  preset: 'dirichlet' | 'discrete',
): Promise<{ m: StepMetrics; tr: Trajectory[]; E: Float32Array; moved: boolean }> {
  const e = new Engine({
    gpu: null,
    resolveSource: (loc) => new DirModelSource((loc as { baseUrl: string }).baseUrl),
  });
  await e.init({ backend: 'cpu' });
  await e.loadModel({ kind: 'url', baseUrl: MODEL });
  const t = await e.createTrainer({
    preset,
    tasks: [{ task: 'chain_sum', level: 'trivial' }],
    grpo: {
      num_generations: 4,
      per_device_train_batch_size: 4,
      gradient_accumulation_steps: 1,
      max_completion_length: 8,
      learning_rate: 3e-3,
      beta: 0,
      max_steps: 2,
      warmup_ratio: 0, // the update moves E, so the check below tells E before it from E after it
      seed: 7,
    },
  });
  t.host.reward = (c) => digitReward(c);
  // The rollouts mixed E as it was before the step's update (the CPU policy trains it in place).
  const E = (t.host.policy.embedding as Float32Array).slice();
  const r = await t.trainStep();
  const after = t.host.policy.embedding as Float32Array;
  const moved = E.some((x, i) => x !== after[i]);
  await e.dispose();
  return { m: r.metrics, tr: r.trajectories, E, moved };
}

describe('a short CPU GRPO step', () => {
  it('dirichlet fills every diagnostic; they agree with the step’s records', async () => {
    const { m, tr, E, moved } = await cpuStep('dirichlet');
    expect(moved).toBe(true);
    for (const f of STEP_METRIC_FIELDS) expect(m[f], f).toBeDefined();
    const mix = tr.flatMap((t) => t.records.filter((r) => r.mode === 'mixture'));
    expect(mix.length).toBeGreaterThan(0);
    const mean = (f: (r: RolloutRecord) => number) => mix.reduce((s, r) => s + f(r), 0) / mix.length;
    expect(m.weightEntropy).toBeCloseTo(
      mean((r) => weightEntropy(r.weights)),
      12,
    );
    expect(m.mixingStepFraction).toBeCloseTo(
      mean((r) => (effectiveTokenCount(r.weights) >= 1.3 ? 1 : 0)),
      12,
    );
    // The embedding diagnostics are computed over every position at this size, from E before the update.
    const table = { E, C: 64 };
    expect(m.mixNormRatio).toBeCloseTo(
      mean((r) => mixtureNormRatio(r.ids, r.weights, table)),
      9,
    );
    const norms = embeddingRowNorms(table);
    expect(m.mixNearestCosine).toBeCloseTo(
      mean((r) => nearestTokenCosine(mixedEmbedding(r.ids, r.weights, table), table, norms)),
      9,
    );
    expect(m.mixNormRatio as number).toBeGreaterThan(0);
    expect(m.mixNormRatio as number).toBeLessThanOrEqual(1 + 1e-9);
    expect(m.mixNearestCosine as number).toBeLessThanOrEqual(1 + 1e-9);
    // Every record carries the scale-free entropy per layer, within [0, log C].
    for (const t of tr)
      for (const r of t.records) {
        expect(r.hiddenEntropyScaleFree).toHaveLength(2);
        for (const h of r.hiddenEntropyScaleFree ?? []) expect(h > 0 && h <= Math.log(64) + 1e-9).toBe(true);
      }
    expect(m.hiddenEntropyScaleFree).toHaveLength(2);
    expect(m.hiddenEntropyByReasoningQuarter).toHaveLength(REASONING_BUCKETS);
    expect(m.hiddenEntropyScaleFreeByReasoningQuarter).toHaveLength(REASONING_BUCKETS);
    expect(m.hiddenEntropyScaleFreeByReasoningQuarter?.some(Number.isFinite)).toBe(true);
    // metrics.jsonl keeps them (null survives JSON; NaN is written as null).
    const line = JSON.parse(JSON.stringify(m));
    expect(line.weightEntropy).toBe(m.weightEntropy);
  }, 120_000);

  it('discrete leaves the mixture diagnostics null and still reports the hidden-state entropies', async () => {
    const { m } = await cpuStep('discrete');
    expect(m.mixtureRate).toBe(0);
    expect([m.mixingStepFraction, m.weightEntropy, m.mixNormRatio, m.mixNearestCosine]).toEqual([
      null,
      null,
      null,
      null,
    ]);
    expect(m.hiddenEntropyScaleFree).toHaveLength(2);
    expect(m.hiddenEntropyByReasoningQuarter).toHaveLength(REASONING_BUCKETS);
  }, 120_000);
});
