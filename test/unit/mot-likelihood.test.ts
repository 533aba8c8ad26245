// Log-likelihoods of recorded actions (paper and exact modes): values against hand formulas and
// normalisation, the behaviour value the step records, and every gradient against central finite differences.
import { describe, expect, it } from 'vitest';
import { rowDistribution } from '../../src/mot/choice.ts';
import {
  actionLogLikelihood,
  denseFromTerms,
  embeddingRms,
  type StepRecord,
} from '../../src/mot/likelihood.ts';
import { makeSettings } from '../../src/mot/presets.ts';
import { type Counters, gaussianNoise } from '../../src/mot/random.ts';
import type { MotSettings, PresetName } from '../../src/mot/settings.ts';
import { mixtureStep } from '../../src/mot/step.ts';
import { renormalised, WEIGHT_FLOOR } from '../../src/mot/weights.ts';

const V = 12;
const C = 5;
const at = (step: number, seed = 31, row = 1): Counters => ({ seed, row, step });

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}
function randomVector(n: number, seed: number, scale: number): Float64Array {
  const r = lcg(seed);
  return Float64Array.from({ length: n }, () => 2 * scale * r());
}

const E = randomVector(V * C, 4242, 1);
const embedding = { E, C };

/** Central differences of ℓ w.r.t. each logit, at z. */
function finiteDifference(z: Float64Array, f: (z: Float64Array) => number, h = 1e-5): Float64Array {
  const g = new Float64Array(z.length);
  for (let v = 0; v < z.length; v++) {
    const zp = Float64Array.from(z);
    const zm = Float64Array.from(z);
    zp[v] += h;
    zm[v] -= h;
    g[v] = (f(zp) - f(zm)) / (2 * h);
  }
  return g;
}

interface Case {
  name: string;
  preset: PresetName;
  overrides: Partial<MotSettings>;
  phase?: 'thinking' | 'answer';
}

const CASES: Case[] = [
  { name: 'paper discrete: log π(y)', preset: 'discrete', overrides: {} },
  { name: 'paper dirichlet: log π(r)', preset: 'dirichlet', overrides: {} },
  { name: 'paper dirichlet at temperature 1', preset: 'dirichlet', overrides: { paperTemperature: 'one' } },
  { name: 'paper different-tokens: Σ q log π(x)', preset: 'different-tokens', overrides: {} },
  { name: 'paper answer-phase step', preset: 'dirichlet', overrides: {}, phase: 'answer' },
  {
    name: 'exact discrete with top-k 5',
    preset: 'discrete',
    overrides: { likelihood: 'exact', discreteTopK: 5 },
  },
  { name: 'exact dirichlet (top-2)', preset: 'dirichlet', overrides: { likelihood: 'exact' } },
  {
    name: 'exact dirichlet, c = 0.01 (draws far below the weight floor, scored from log-weights)',
    preset: 'dirichlet',
    overrides: { likelihood: 'exact', concentration: 0.01 },
  },
  {
    name: 'exact dirichlet (top-4, c = 3)',
    preset: 'dirichlet',
    overrides: { likelihood: 'exact', k: 4, concentration: 3 },
  },
  {
    name: 'exact different-tokens (Plackett–Luce, k = 2)',
    preset: 'different-tokens',
    overrides: { likelihood: 'exact' },
  },
  {
    name: 'exact Plackett–Luce k = 3 under top-p 0.9',
    preset: 'different-tokens',
    overrides: { likelihood: 'exact', k: 3, topP: 0.9 },
  },
  {
    name: 'exact k = 3 samples × Gumbel-softmax weights',
    preset: 'different-tokens',
    overrides: { likelihood: 'exact', k: 3, weights: 'gumbel-softmax', gumbelTau: 0.6 },
  },
  {
    name: 'exact k = 3 samples × Dirichlet weights',
    preset: 'different-tokens',
    overrides: { likelihood: 'exact', k: 3, weights: 'dirichlet', concentration: 2 },
  },
  {
    name: 'exact mixture-of-inputs (top-5)',
    preset: 'mixture-of-inputs',
    overrides: { likelihood: 'exact', k: 5 },
  },
  { name: 'exact soft-tokens (noise, σ × RMS)', preset: 'soft-tokens', overrides: { likelihood: 'exact' } },
  {
    name: 'exact soft-tokens (absolute σ 0.2, top-p 0.9)',
    preset: 'soft-tokens',
    overrides: { likelihood: 'exact', noiseScale: 'absolute', noiseSigma: 0.2, topP: 0.9 },
  },
  {
    name: 'exact soft-thinking top-4 with noise',
    preset: 'soft-thinking',
    overrides: { likelihood: 'exact', k: 4, noiseSigma: 0.5 },
  },
  {
    name: 'exact dirichlet with noise (noise term constant)',
    preset: 'dirichlet',
    overrides: { likelihood: 'exact', noiseSigma: 0.3 },
  },
];

describe('gradients match finite differences', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const s = makeSettings(c.preset, c.overrides, V);
      let checked = 0;
      for (let trial = 0; trial < 6; trial++) {
        const z0 = randomVector(V, 17 + trial, 2);
        const rec = mixtureStep(z0, V, s, at(trial), { phase: c.phase, embedding });
        // The behaviour value the step records is the likelihood at the sampling logits.
        const same = actionLogLikelihood(z0, V, rec, s, { embedding });
        expect(rec.logLikelihood).toBeCloseTo(same.value, 10);
        // Off-policy: the current logits moved away from the sampling ones.
        const z1 = Float64Array.from(z0, (x, v) => x + 0.3 * Math.sin(3 * v + trial));
        const f = (z: Float64Array) => actionLogLikelihood(z, V, rec, s, { embedding }).value;
        const { value, grad, terms } = actionLogLikelihood(z1, V, rec, s, { embedding });
        // The compact terms rebuild the same dense gradient.
        const rebuilt = denseFromTerms(terms, z1, V);
        for (let v = 0; v < V; v++) expect(rebuilt[v]).toBeCloseTo(grad[v], 12);
        expect(Number.isFinite(value)).toBe(true);
        const fd = finiteDifference(z1, f);
        for (let v = 0; v < V; v++)
          expect(Math.abs(grad[v] - fd[v])).toBeLessThan(1e-5 * (1 + Math.abs(fd[v])));
        expect(Math.max(...grad.map(Math.abs))).toBeGreaterThan(1e-3);
        // Every term is a log-softmax-type function, so shifting all logits changes nothing: Σ grad = 0.
        expect(Math.abs(grad.reduce((a, b) => a + b, 0))).toBeLessThan(1e-9);
        checked++;
      }
      expect(checked).toBe(6);
    });
  }
});

describe('values', () => {
  const z = randomVector(V, 5, 2);

  it('paper different-tokens is Σ_j q_j log π(x_j) with q = π(x)/Σπ(x)', () => {
    const s = makeSettings('different-tokens');
    const rec = mixtureStep(z, V, s, at(3));
    const d = rowDistribution(z, V, 0.9);
    const q = renormalised(d, rec.ids);
    expect(rec.logLikelihood).toBeCloseTo(q[0] * d.logp[rec.ids[0]] + q[1] * d.logp[rec.ids[1]], 12);
  });

  it('paper dirichlet is log π(r), at T = 1 with paperTemperature "one"', () => {
    const s = makeSettings('dirichlet', { paperTemperature: 'one' });
    const rec = mixtureStep(z, V, s, at(4));
    expect(rec.logLikelihood).toBeCloseTo(rowDistribution(z, V, 1).logp[rec.representative], 12);
  });

  it('exact Plackett–Luce probabilities of all ordered k-tuples sum to 1 (also under top-p)', () => {
    for (const [k, topP] of [
      [2, 1],
      [3, 0.8],
    ]) {
      const s = makeSettings('different-tokens', { likelihood: 'exact', k, topP });
      const base = mixtureStep(z, V, s, at(0));
      const d = rowDistribution(z, V, 0.9);
      let n = 0;
      let acc = 0;
      while (acc < topP && n < V) acc += d.p[d.order[n++]];
      const cand = Array.from(d.order.subarray(0, n));
      let total = 0;
      const rec = (prefix: number[]) => {
        if (prefix.length === k) {
          total += Math.exp(
            actionLogLikelihood(z, V, { ...base, ids: prefix, weights: prefix.map(() => 1 / k) }, s).value,
          );
          return;
        }
        for (const id of cand) if (!prefix.includes(id)) rec([...prefix, id]);
      };
      rec([]);
      expect(total).toBeCloseTo(1, 10);
    }
  });

  it('exact Dirichlet density integrates to 1 over the 1-simplex (k = 2, α > 1)', () => {
    const s = makeSettings('dirichlet', { likelihood: 'exact', concentration: 6 });
    const zz = Float64Array.from([1.0, 0.6, -1, -2]);
    const base = mixtureStep(zz, 4, s, at(0));
    const M = 20_000;
    let integral = 0;
    for (let i = 0; i < M; i++) {
      const w = (i + 0.5) / M;
      const action = { ...base, weights: [w, 1 - w], logWeights: [Math.log(w), Math.log(1 - w)] };
      // ℓ leaves out the θ-independent −Σ log w_j (likelihood.ts): the density is exp(ℓ) / (w (1 − w)).
      integral += Math.exp(actionLogLikelihood(zz, 4, action, s).value) / (w * (1 - w)) / M;
    }
    expect(integral).toBeCloseTo(1, 6);
  });

  it('exact Gumbel-softmax (Concrete) density integrates to 1 (k = 2, τ = 2)', () => {
    const s = makeSettings('dirichlet', { likelihood: 'exact', weights: 'gumbel-softmax', gumbelTau: 2 });
    const zz = Float64Array.from([1.0, 0.2, -1, -2]);
    const base = mixtureStep(zz, 4, s, at(0));
    const M = 20_000;
    let integral = 0;
    for (let i = 0; i < M; i++) {
      const w = (i + 0.5) / M;
      const action = { ...base, weights: [w, 1 - w], logWeights: [Math.log(w), Math.log(1 - w)] };
      integral += Math.exp(actionLogLikelihood(zz, 4, action, s).value) / M;
    }
    expect(integral).toBeCloseTo(1, 5);
  });

  it('exact mixture-of-inputs is log p̃(y): Σ_y exp(ℓ) = 1', () => {
    const s = makeSettings('mixture-of-inputs', { likelihood: 'exact', k: 6 });
    const base = mixtureStep(z, V, s, at(1));
    let total = 0;
    for (const y of base.ids) total += Math.exp(actionLogLikelihood(z, V, { ...base, sampled: y }, s).value);
    expect(total).toBeCloseTo(1, 12);
  });

  it('exact Dirichlet stays finite when p̃ is extreme (floored weights and concentrations)', () => {
    const s = makeSettings('dirichlet', { likelihood: 'exact' });
    const zz = Float64Array.from([30, 0, -5, -5]);
    for (let i = 0; i < 200; i++) {
      const rec = mixtureStep(zz, 4, s, at(i));
      expect(rec.weights.every((w) => w > 0)).toBe(true);
      const { value, grad } = actionLogLikelihood(zz, 4, rec, s);
      expect(Number.isFinite(value)).toBe(true);
      expect(grad.every(Number.isFinite)).toBe(true);
    }
  });

  it('exact-mode records keep the unfloored log-weights; paper-mode records and other weights do not', () => {
    const zz = Float64Array.from([30, 0, -5, -5]);
    const exact = makeSettings('dirichlet', { likelihood: 'exact' });
    let belowFloor = 0;
    for (let i = 0; i < 20; i++) {
      const rec = mixtureStep(zz, 4, exact, at(i));
      const logW = rec.logWeights as number[];
      expect(logW.map(Math.exp).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      // Where no weight was floored, the embedding weights are exp(log-weights).
      rec.weights.forEach((w, j) => {
        if (logW.every((x) => x > Math.log(WEIGHT_FLOOR))) expect(w).toBeCloseTo(Math.exp(logW[j]), 14);
        else expect(w).toBeGreaterThanOrEqual(WEIGHT_FLOOR / 2);
      });
      if (Math.min(...logW) < Math.log(WEIGHT_FLOOR)) belowFloor++;
    }
    expect(belowFloor).toBeGreaterThan(10);
    const gumbel = makeSettings('dirichlet', {
      likelihood: 'exact',
      weights: 'gumbel-softmax',
      gumbelTau: 0.1,
    });
    expect(mixtureStep(zz, 4, gumbel, at(0)).logWeights).toHaveLength(2);
    expect(mixtureStep(zz, 4, makeSettings('dirichlet'), at(0)).logWeights).toBeUndefined();
    const moi = makeSettings('mixture-of-inputs', { likelihood: 'exact', k: 2 });
    expect(mixtureStep(zz, 4, moi, at(0)).logWeights).toBeUndefined();
  });

  it('exact deterministic actions (soft-thinking) have ℓ = 0 and no gradient', () => {
    const s = makeSettings('soft-thinking', { likelihood: 'exact' });
    const rec = mixtureStep(z, V, s, at(2));
    const { value, grad } = actionLogLikelihood(randomVector(V, 9, 2), V, rec, s);
    expect(value).toBe(0);
    expect(grad.every((g) => g === 0)).toBe(true);
  });

  it('noise: the behaviour value is −‖n‖²/2, from the hidden size alone or from E', () => {
    const s = makeSettings('soft-tokens', { likelihood: 'exact' });
    const fromC = mixtureStep(z, V, s, at(6), { hiddenSize: C });
    const fromE = mixtureStep(z, V, s, at(6), { embedding });
    const n = gaussianNoise(at(6), C);
    const expected = -0.5 * n.reduce((a, x) => a + x * x, 0);
    expect(fromC.logLikelihood).toBeCloseTo(expected, 10);
    expect(fromE.logLikelihood).toBeCloseTo(expected, 10);
    // Off-policy the mean moves: ℓ = −‖σn + Σ(w_rec − p̃_θ)E‖²/2σ² < behaviour value for a large move.
    const far = Float64Array.from(z, (x, v) => (v === 0 ? x + 8 : x));
    expect(actionLogLikelihood(far, V, fromE, s, { embedding }).value).toBeLessThan(expected);
    expect(embeddingRms(E)).toBeGreaterThan(0);
    expect(() => actionLogLikelihood(z, V, fromE, s)).toThrow(/embedding/);
  });

  it('a record from one step is reproducible: the same counters give the same action', () => {
    const s = makeSettings('dirichlet', { likelihood: 'exact' });
    const a: StepRecord = mixtureStep(z, V, s, at(8));
    const b: StepRecord = mixtureStep(z, V, s, at(8));
    expect(b).toEqual(a);
  });
});
