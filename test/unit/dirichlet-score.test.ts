// The exact Dirichlet likelihood's score function is unbiased (issue 14): for w ~ Dir(c·p̃(z)) the expected
// gradient E[∇_z ℓ(w; z)] is 0 for every logit, down to p̃ = 1e-3 and below, because ℓ scores the draw's
// log-weights (StepRecord.logWeights). Scoring the floored embedding weights instead (the estimator before:
// weights below WEIGHT_FLOOR raised to it) fails the same check where many draws fall below the floor. The
// density's values are checked the same way through E[π_new(w)/π_old(w)] = 1 (what GRPO ratios and the KL
// use), and the Gumbel-softmax (Concrete) density, scored from log-weights too, through its score.
import { describe, expect, it } from 'vitest';
import { actionLogLikelihood, type StepRecord } from '../../src/mot/likelihood.ts';
import { makeSettings } from '../../src/mot/presets.ts';
import type { MotSettings } from '../../src/mot/settings.ts';
import { mixtureStep } from '../../src/mot/step.ts';
import { WEIGHT_FLOOR } from '../../src/mot/weights.ts';

const DRAWS = 6000;

interface ScoreMoments {
  mean: number[];
  standardError: number[];
}

interface Sample {
  exact: ScoreMoments;
  floored: ScoreMoments;
  /** Share of draws with some weight below WEIGHT_FLOOR. */
  flooredShare: number;
  /** The smallest log-weight drawn. */
  minLogWeight: number;
}

function moments(rows: Float64Array[]): ScoreMoments {
  const V = rows[0].length;
  const mean = new Array<number>(V).fill(0);
  const standardError = new Array<number>(V).fill(0);
  for (let v = 0; v < V; v++) {
    let s = 0;
    let s2 = 0;
    for (const g of rows) {
      s += g[v];
      s2 += g[v] * g[v];
    }
    mean[v] = s / rows.length;
    const variance = (s2 - rows.length * mean[v] * mean[v]) / (rows.length - 1);
    standardError[v] = Math.sqrt(Math.max(variance, 0) / rows.length);
  }
  return { mean, standardError };
}

function exactSettings(V: number, weights: Partial<MotSettings> = { concentration: 1 }): MotSettings {
  return makeSettings('dirichlet', { likelihood: 'exact', k: V, temperature: 1, ...weights }, V);
}

/** The old estimator's view of a record: log of the floored, renormalised embedding weights. */
function floorScored(rec: StepRecord): StepRecord {
  const old: StepRecord = { ...rec };
  delete old.logWeights;
  return old;
}

/** The score of DRAWS seeded steps over all V = k ids with p̃ = pTilde (default: Dirichlet, c = 1; T = 1). */
function sampleScores(pTilde: number[], seed: number, weights?: Partial<MotSettings>): Sample {
  const V = pTilde.length;
  const s = exactSettings(V, weights);
  const z = Float64Array.from(pTilde, Math.log);
  const exact: Float64Array[] = [];
  const floored: Float64Array[] = [];
  let flooredDraws = 0;
  let minLogWeight = 0;
  for (let i = 0; i < DRAWS; i++) {
    const rec = mixtureStep(z, V, s, { seed, row: 0, step: i });
    const logW = rec.logWeights as number[];
    expect(logW).toHaveLength(V);
    minLogWeight = Math.min(minLogWeight, ...logW);
    if (logW.some((x) => x < Math.log(WEIGHT_FLOOR))) flooredDraws++;
    exact.push(actionLogLikelihood(z, V, rec, s).grad);
    floored.push(actionLogLikelihood(z, V, floorScored(rec), s).grad);
  }
  return {
    exact: moments(exact),
    floored: moments(floored),
    flooredShare: flooredDraws / DRAWS,
    minLogWeight,
  };
}

/** E[∇ℓ] = 0 for every logit within 4 standard errors. */
function unbiased(m: ScoreMoments): boolean {
  return m.mean.every((x, v) => Math.abs(x) <= 4 * m.standardError[v]);
}

describe('exact Dirichlet score: E[∇ℓ] = 0 (Monte Carlo, c = 1)', () => {
  const cases: [string, number[]][] = [
    ['k = 2, p̃₂ = 0.1', [0.9, 0.1]],
    ['k = 2, p̃₂ = 0.01', [0.99, 0.01]],
    ['k = 2, p̃₂ = 0.001', [0.999, 0.001]],
    ['k = 2, p̃₂ = 1e-6', [1 - 1e-6, 1e-6]],
    ['k = 3, p̃ = (0.949, 0.05, 0.001)', [0.949, 0.05, 0.001]],
  ];
  it.each(cases)('%s', (_label, pTilde) => {
    const r = sampleScores(pTilde, 2024);
    for (let v = 0; v < pTilde.length; v++) {
      expect(r.exact.standardError[v]).toBeGreaterThan(0);
      expect(
        Math.abs(r.exact.mean[v]),
        `logit ${v}: E[∇ℓ] ${r.exact.mean[v]} ± ${r.exact.standardError[v]}`,
      ).toBeLessThanOrEqual(4 * r.exact.standardError[v]);
    }
    expect(unbiased(r.exact)).toBe(true);
  });

  it('scoring the floored weights fails the same check at p̃₂ = 0.01 (so the check can fail)', () => {
    const r = sampleScores([0.99, 0.01], 2024);
    // Most draws of the small component fall below the floor: log w₂ ≈ log U / 0.01.
    expect(r.flooredShare).toBeGreaterThan(0.5);
    expect(unbiased(r.floored)).toBe(false);
    // The bias on the top logit is large: about −0.6 (issue 14), against a standard error of ~0.01.
    expect(r.floored.mean[0]).toBeLessThan(-0.3);
    expect(unbiased(r.exact)).toBe(true);
  });

  it('density ratios average to 1: E_old[π_new(w)/π_old(w)] = 1 for p̃₂ 0.01 → 0.02 (floored: ≈ 1.4)', () => {
    const s = exactSettings(2);
    const zOld = Float64Array.from([0.99, 0.01], Math.log);
    const zNew = Float64Array.from([0.98, 0.02], Math.log);
    const ratio = (rec: StepRecord) =>
      Math.exp(actionLogLikelihood(zNew, 2, rec, s).value - actionLogLikelihood(zOld, 2, rec, s).value);
    const exact: number[] = [];
    const floored: number[] = [];
    for (let i = 0; i < DRAWS; i++) {
      const rec = mixtureStep(zOld, 2, s, { seed: 11, row: 0, step: i });
      exact.push(ratio(rec));
      floored.push(ratio(floorScored(rec)));
    }
    const m = moments(exact.map((x) => Float64Array.of(x - 1)));
    const old = moments(floored.map((x) => Float64Array.of(x - 1)));
    expect(unbiased(m)).toBe(true);
    expect(unbiased(old)).toBe(false);
    expect(old.mean[0]).toBeGreaterThan(0.2);
  });

  it('Gumbel-softmax weights (τ = 0.1, p̃₂ = 0.01): the Concrete score is unbiased too, floored it is not', () => {
    const r = sampleScores([0.99, 0.01], 5, { weights: 'gumbel-softmax', gumbelTau: 0.1 });
    expect(r.flooredShare).toBeGreaterThan(0.3);
    expect(unbiased(r.exact)).toBe(true);
    expect(unbiased(r.floored)).toBe(false);
  });

  it('at p̃₂ = 0.001 log-weights hold draws that underflow even a double', () => {
    const r = sampleScores([0.999, 0.001], 7);
    expect(r.minLogWeight).toBeLessThan(Math.log(Number.MIN_VALUE));
    expect(Number.isFinite(r.minLogWeight)).toBe(true);
  });
});
