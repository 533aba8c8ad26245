// GRPO maths of src/rl: group advantages, the clipped objective with the k3 KL, the aggregations, the
// per-token coefficient dL/dℓ_t against finite differences, the metrics, and the settings validation.
import { describe, expect, it } from 'vitest';
import { SettingsError } from '../../src/mot/settings.ts';
import {
  type GrpoBatch,
  type GrpoLossOptions,
  groupAdvantages,
  grpoLoss,
  type LossType,
} from '../../src/rl/grpo.ts';
import { GRPO_DEFAULTS, generationBatchSize, makeGrpoSettings } from '../../src/rl/settings.ts';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function expectCode(fn: () => unknown, code: string, field?: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SettingsError);
    expect((e as SettingsError).code).toBe(code);
    if (field) expect((e as SettingsError).field).toBe(field);
    return;
  }
  throw new Error(`expected SettingsError ${code}`);
}

describe('group advantages', () => {
  const rewards = [1, 0, 0, 1, 2, 2, 2, 2, 0.5, 3, 1, 0];

  it('(R − group mean) / (unbiased group std + 1e-4); zero-variance groups counted', () => {
    const a = groupAdvantages(rewards, 4);
    const std1 = Math.sqrt(1 / 3); // four values ±0.5 around 0.5: Σ = 1, / (n − 1)
    expect(a.groupMean[0]).toBeCloseTo(0.5, 14);
    expect(a.groupStd[0]).toBeCloseTo(std1, 14);
    expect(a.advantages[0]).toBeCloseTo(0.5 / (std1 + 1e-4), 12);
    expect(a.advantages[1]).toBeCloseTo(-0.5 / (std1 + 1e-4), 12);
    expect(Array.from(a.advantages.subarray(4, 8))).toEqual([0, 0, 0, 0]);
    expect(a.zeroStdGroups).toBe(1);
    expect(a.zeroStdFraction).toBeCloseTo(1 / 3, 14);
    const m3 = (0.5 + 3 + 1 + 0) / 4;
    const s3 = Math.sqrt(((0.5 - m3) ** 2 + (3 - m3) ** 2 + (1 - m3) ** 2 + m3 ** 2) / 3);
    expect(a.advantages[9]).toBeCloseTo((3 - m3) / (s3 + 1e-4), 12);
  });

  it('scale "none" only centres; scale "batch" divides by the std of the whole batch', () => {
    const none = groupAdvantages(rewards, 4, 'none');
    expect(none.advantages[9]).toBeCloseTo(3 - 1.125, 14);
    const batch = groupAdvantages(rewards, 4, 'batch');
    const mean = rewards.reduce((a, b) => a + b, 0) / 12;
    const std = Math.sqrt(rewards.reduce((a, r) => a + (r - mean) ** 2, 0) / 11);
    expect(batch.advantages[9]).toBeCloseTo((3 - 1.125) / (std + 1e-4), 12);
  });

  it('typed errors', () => {
    expectCode(() => groupAdvantages([1, 2, 3], 2), 'batch-not-divisible', 'rewards');
    expectCode(() => groupAdvantages([1, 2], 1), 'non-positive', 'num_generations');
    expectCode(() => groupAdvantages([1, Number.NaN], 2), 'invalid-number', 'rewards');
  });
});

/** A batch with off-policy ratios on both sides of the clip range and ragged masks (one row empty). */
function makeBatch(seed: number): GrpoBatch {
  const B = 4;
  const T = 7;
  const r = lcg(seed);
  const logp = Float64Array.from({ length: B * T }, () => -1 + 2 * r());
  const oldLogp = Float64Array.from(logp, (x) => x + 0.8 * r());
  const refLogp = Float64Array.from(logp, (x) => x + 0.6 * r());
  const lengths = [7, 3, 0, 5];
  const mask = Float64Array.from({ length: B * T }, (_, i) => (i % T < lengths[Math.floor(i / T)] ? 1 : 0));
  return { B, T, logp, oldLogp, refLogp, mask, advantages: [1.3, -0.7, 0.4, -1.1] };
}

describe('grpoLoss', () => {
  const types: LossType[] = ['grpo', 'dr_grpo', 'dapo', 'bnpo'];

  for (const lossType of types) {
    it(`${lossType}: coef_t = dL/dℓ_t (central finite differences), with clipping and KL active`, () => {
      const batch = makeBatch(3);
      const o: GrpoLossOptions = {
        epsilon: 0.2,
        epsilonHigh: 0.28,
        beta: 0.1,
        lossType,
        maxCompletionLength: 9,
      };
      const res = grpoLoss(batch, o);
      expect(res.metrics.clipFraction).toBeGreaterThan(0); // the test covers the flat branch too
      expect(res.metrics.clipFraction).toBeLessThan(1);
      const h = 1e-6;
      for (let i = 0; i < batch.B * batch.T; i++) {
        const plus = Float64Array.from(batch.logp as Float64Array);
        const minus = Float64Array.from(batch.logp as Float64Array);
        plus[i] += h;
        minus[i] -= h;
        const fd =
          (grpoLoss({ ...batch, logp: plus }, o).loss - grpoLoss({ ...batch, logp: minus }, o).loss) /
          (2 * h);
        expect(Math.abs(res.coef[i] - fd)).toBeLessThan(1e-7);
        if (!batch.mask[i]) expect(res.coef[i]).toBe(0);
      }
    });
  }

  it('on-policy (ρ = 1), β = 0: grpo loss = −mean A over non-empty sequences; coef = −A/(n_i B)', () => {
    const batch = { ...makeBatch(5), oldLogp: null, refLogp: null, advantages: [1.3, -0.7, 0, -1.1] };
    const res = grpoLoss(batch, { epsilon: 0.2, beta: 0, lossType: 'grpo', maxCompletionLength: 7 });
    expect(res.loss).toBeCloseTo(-(1.3 - 0.7 + 0 - 1.1) / 4, 14);
    expect(res.coef[0]).toBeCloseTo(-1.3 / (7 * 4), 14);
    expect(res.coef[7]).toBeCloseTo(0.7 / (3 * 4), 14);
    expect(res.metrics.ratioMean).toBe(1);
    expect(res.metrics.clipFraction).toBe(0);
    expect(res.metrics.tokens).toBe(15);
    // dr_grpo: Σ over tokens / (B · max length); dapo with a normaliser from the whole accumulation.
    const dr = grpoLoss(batch, { epsilon: 0.2, beta: 0, lossType: 'dr_grpo', maxCompletionLength: 10 });
    expect(dr.loss).toBeCloseTo(-(7 * 1.3 - 3 * 0.7 - 5 * 1.1) / 40, 14);
    const dapo = grpoLoss(batch, {
      epsilon: 0.2,
      beta: 0,
      lossType: 'dapo',
      maxCompletionLength: 10,
      tokenNormalizer: 60,
    });
    expect(dapo.loss).toBeCloseTo(-(7 * 1.3 - 3 * 0.7 - 5 * 1.1) / 60, 14);
    const bnpo = grpoLoss(batch, { epsilon: 0.2, beta: 0, lossType: 'bnpo', maxCompletionLength: 10 });
    expect(bnpo.loss).toBeCloseTo(-(7 * 1.3 - 3 * 0.7 - 5 * 1.1) / 15, 14);
  });

  it('clipping: which side clips, asymmetric ε_high, and the flat branch has zero coefficient', () => {
    const rho = [1.5, 1.25, 0.5, 1.5, 0.5];
    const A = [1, 1, -1, -1, 1];
    const batch: GrpoBatch = {
      B: 5,
      T: 1,
      logp: rho.map(Math.log),
      oldLogp: [0, 0, 0, 0, 0],
      mask: [1, 1, 1, 1, 1],
      advantages: A,
    };
    const res = grpoLoss(batch, {
      epsilon: 0.2,
      epsilonHigh: 0.3,
      beta: 0,
      lossType: 'bnpo',
      maxCompletionLength: 1,
    });
    // token 0: ρ > 1.3, A > 0 → high clip (flat); token 1: 1.25 < 1.3 → not clipped;
    // token 2: ρ < 0.8, A < 0 → low clip (flat); tokens 3, 4: outside the range on the side that does not clip.
    expect(Array.from(res.perToken)).toEqual([-1.3, -1.25, 0.8, 1.5, -0.5].map((x) => x));
    expect(res.coef[0]).toBe(0);
    expect(res.coef[2]).toBe(0);
    expect(res.coef[1]).toBeCloseTo(-1.25 / 5, 14);
    expect(res.coef[3]).toBeCloseTo(1.5 / 5, 14);
    expect(res.coef[4]).toBeCloseTo(-0.5 / 5, 14);
    expect(res.metrics.highClipFraction).toBeCloseTo(1 / 5, 14);
    expect(res.metrics.lowClipFraction).toBeCloseTo(1 / 5, 14);
    expect(res.metrics.clipFraction).toBeCloseTo(2 / 5, 14);
  });

  it('k3 KL: value, gradient sign, metrics; β > 0 needs the reference', () => {
    const batch: GrpoBatch = {
      B: 1,
      T: 2,
      logp: [-1, -2],
      refLogp: [-1.5, -2],
      mask: [1, 1],
      advantages: [0],
    };
    const res = grpoLoss(batch, { epsilon: 0.2, beta: 0.1, lossType: 'grpo', maxCompletionLength: 2 });
    const kl0 = Math.exp(-0.5) + 0.5 - 1;
    expect(res.perToken[0]).toBeCloseTo(0.1 * kl0, 14);
    expect(res.perToken[1]).toBe(0);
    expect(res.metrics.klMean).toBeCloseTo(kl0 / 2, 14);
    expect(res.metrics.klLoss).toBeCloseTo(kl0 / 2, 14);
    expect(res.loss).toBeCloseTo(0.1 * (kl0 / 2), 14);
    expect(res.coef[0]).toBeGreaterThan(0); // ℓ above the reference: the KL pushes it down
    expectCode(
      () =>
        grpoLoss(
          { ...batch, refLogp: null },
          { epsilon: 0.2, beta: 0.1, lossType: 'grpo', maxCompletionLength: 2 },
        ),
      'missing-context',
      'refLogp',
    );
    expectCode(
      () =>
        grpoLoss(
          { ...batch, mask: [1] },
          { epsilon: 0.2, beta: 0.1, lossType: 'grpo', maxCompletionLength: 2 },
        ),
      'shape-mismatch',
      'mask',
    );
  });
});

describe('GRPO settings', () => {
  it('defaults are the paper run and validate', () => {
    const s = makeGrpoSettings();
    expect(s).toEqual({ ...GRPO_DEFAULTS });
    expect(s.num_generations).toBe(10);
    expect(s.beta).toBe(0.1);
    expect(s.learning_rate).toBe(5e-6);
    expect(generationBatchSize(s)).toBe(40);
  });

  it('typed errors', () => {
    expectCode(
      () => makeGrpoSettings({ num_generations: 3 }),
      'batch-not-divisible',
      'per_device_train_batch_size',
    );
    expectCode(
      () => makeGrpoSettings({ generation_batch_size: 25 }),
      'batch-not-divisible',
      'generation_batch_size',
    );
    expectCode(
      () => makeGrpoSettings({ per_device_train_batch_size: 4, generation_batch_size: 30 }),
      'batch-not-divisible',
      'generation_batch_size',
    );
    expectCode(() => makeGrpoSettings({ num_generations: 1 }), 'non-positive', 'num_generations');
    expectCode(() => makeGrpoSettings({ epsilon: 1.5 }), 'probability-out-of-range', 'epsilon');
    expectCode(() => makeGrpoSettings({ epsilon_high: -0.1 }), 'non-positive', 'epsilon_high');
    expectCode(() => makeGrpoSettings({ beta: -1 }), 'non-positive', 'beta');
    expectCode(() => makeGrpoSettings({ temperature: -1 }), 'negative-temperature', 'temperature');
    expectCode(() => makeGrpoSettings({ loss_type: 'ppo' as 'grpo' }), 'unknown-value', 'loss_type');
    expectCode(() => makeGrpoSettings({ max_completion_length: 0 }), 'non-positive', 'max_completion_length');
    expectCode(() => makeGrpoSettings({ warmup_ratio: 2 }), 'probability-out-of-range', 'warmup_ratio');
    expect(makeGrpoSettings({ num_generations: 5, per_device_train_batch_size: 5 }).num_generations).toBe(5);
  });
});
