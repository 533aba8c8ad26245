// The variates of src/mot/random.ts against their exact moments. Every bound is a multiple of the standard
// error of the estimate (CLT), 5σ unless said otherwise, with fixed counters so the tests are deterministic.
import { describe, expect, it } from 'vitest';
import {
  type Counters,
  gumbel,
  sampleCategorical,
  sampleDirichlet,
  sampleDirichletLog,
  sampleGamma,
  sampleLogGamma,
  sampleWithoutReplacement,
  standardNormal,
  uniform,
} from '../../src/mot/random.ts';
import { digamma, logGamma } from '../../src/mot/special.ts';

const N = 40_000;
const at = (step: number, seed = 1234, row = 0): Counters => ({ seed, row, step });

function moments(xs: number[]): { mean: number; variance: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1);
  return { mean, variance };
}

describe('special functions', () => {
  it('log Γ at known points and the recurrence Γ(x+1) = xΓ(x)', () => {
    expect(logGamma(1)).toBeCloseTo(0, 12);
    expect(logGamma(2)).toBeCloseTo(0, 12);
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 12);
    expect(logGamma(10)).toBeCloseTo(Math.log(362880), 10);
    for (const x of [1e-3, 0.1, 0.3, 0.7, 2.5, 17.2])
      expect(logGamma(x + 1) - logGamma(x)).toBeCloseTo(Math.log(x), 10);
  });

  it('ψ(1) = −γ, ψ(x+1) = ψ(x) + 1/x, and ψ is the derivative of log Γ', () => {
    expect(digamma(1)).toBeCloseTo(-0.5772156649015329, 12);
    for (const x of [1e-3, 0.1, 0.5, 3, 40]) {
      expect(digamma(x + 1) - digamma(x)).toBeCloseTo(1 / x, 9);
      const h = 1e-5 * x;
      expect(digamma(x)).toBeCloseTo((logGamma(x + h) - logGamma(x - h)) / (2 * h), 4);
    }
  });
});

describe('counter-based variates', () => {
  it('are pure functions of their counters', () => {
    expect(uniform(at(5), 3)).toBe(uniform(at(5), 3));
    expect(uniform(at(5), 3)).not.toBe(uniform(at(5), 4));
    expect(sampleGamma(0.3, at(9), 100)).toBe(sampleGamma(0.3, at(9), 100));
  });

  it('uniform: mean 1/2, variance 1/12', () => {
    const { mean, variance } = moments(Array.from({ length: N }, (_, i) => uniform(at(i), 7)));
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / N));
    // Var of the sample variance of U(0,1): (1/80 − 1/144)/N.
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(5 * Math.sqrt((1 / 80 - 1 / 144) / N));
  });

  it('Gumbel: mean γ, variance π²/6, always finite', () => {
    const xs = Array.from({ length: N }, (_, i) => gumbel(at(i), 11));
    expect(xs.every(Number.isFinite)).toBe(true);
    const { mean, variance } = moments(xs);
    expect(Math.abs(mean - 0.5772156649)).toBeLessThan(5 * Math.sqrt(Math.PI ** 2 / 6 / N));
    // Gumbel: μ4 = 27/5 σ⁴ ⇒ Var(s²) ≈ (27/5 − 1) σ⁴ / N.
    expect(Math.abs(variance - Math.PI ** 2 / 6)).toBeLessThan(5 * Math.sqrt(4.4 / N) * (Math.PI ** 2 / 6));
  });

  it('standard normal: mean 0, variance 1, P(|x| < 1) ≈ 0.6827', () => {
    const xs = Array.from({ length: N }, (_, i) => standardNormal(at(i), 20));
    const { mean, variance } = moments(xs);
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(N));
    expect(Math.abs(variance - 1)).toBeLessThan(5 * Math.sqrt(2 / N));
    const inside = xs.filter((x) => Math.abs(x) < 1).length / N;
    expect(Math.abs(inside - 0.682689)).toBeLessThan(5 * Math.sqrt((0.6827 * 0.3173) / N));
  });
});

describe('Gamma(α), including α < 1', () => {
  for (const alpha of [0.1, 0.5, 1, 3]) {
    it(`α = ${alpha}: mean α, variance α, E[log X] = ψ(α)`, () => {
      const logs = Array.from({ length: N }, (_, i) => sampleLogGamma(alpha, at(i, 99), 0));
      expect(logs.every(Number.isFinite)).toBe(true);
      const xs = logs.map(Math.exp);
      const { mean, variance } = moments(xs);
      expect(Math.abs(mean - alpha)).toBeLessThan(5 * Math.sqrt(alpha / N));
      // Var(s²) ≈ (μ4 − σ⁴)/N with μ4 = 3α² + 6α; 8σ because the kurtosis (3 + 6/α) slows the CLT for small α.
      expect(Math.abs(variance - alpha)).toBeLessThan(8 * Math.sqrt((2 * alpha * alpha + 6 * alpha) / N));
      // log X has variance ψ'(α) ≈ 1/α² + π²/6 for small α; a wrong α < 1 boost shifts E[log X] by many σ.
      const trigamma = (digamma(alpha + 1e-5) - digamma(alpha - 1e-5)) / 2e-5;
      const logMean = logs.reduce((a, b) => a + b, 0) / N;
      expect(Math.abs(logMean - digamma(alpha))).toBeLessThan(5 * Math.sqrt(trigamma / N));
    });
  }
});

describe('Dirichlet', () => {
  it('marginals are Beta(α_j, α₀ − α_j): means and variances', () => {
    const alpha = [0.2, 0.5, 1.3];
    const a0 = alpha.reduce((a, b) => a + b, 0);
    const cols: number[][] = [[], [], []];
    for (let i = 0; i < N; i++) {
      const w = sampleDirichlet(alpha, at(i, 5), [10, 11, 12]);
      expect(Math.abs(w[0] + w[1] + w[2] - 1)).toBeLessThan(1e-12);
      for (let j = 0; j < 3; j++) cols[j].push(w[j]);
    }
    for (let j = 0; j < 3; j++) {
      const v = (alpha[j] * (a0 - alpha[j])) / (a0 * a0 * (a0 + 1));
      const { mean, variance } = moments(cols[j]);
      expect(Math.abs(mean - alpha[j] / a0)).toBeLessThan(5 * Math.sqrt(v / N));
      // w ∈ [0, 1] ⇒ μ4 ≤ σ², so sd(s²) ≤ sqrt(σ²/N).
      expect(Math.abs(variance - v)).toBeLessThan(5 * Math.sqrt(v / N));
    }
  });

  it('log-weights: exp gives the weights, they log-sum to 0, and stay finite where the weights underflow', () => {
    let underflowed = 0;
    for (let i = 0; i < 200; i++) {
      const { weights, logWeights } = sampleDirichletLog([1e-3, 0.5, 2], at(i, 9), [4, 5, 6]);
      expect(weights).toEqual(sampleDirichlet([1e-3, 0.5, 2], at(i, 9), [4, 5, 6]));
      expect(logWeights.every(Number.isFinite)).toBe(true);
      const max = Math.max(...logWeights);
      expect(max + Math.log(logWeights.reduce((a, x) => a + Math.exp(x - max), 0))).toBeCloseTo(0, 12);
      logWeights.forEach((x, j) => {
        if (weights[j] > 1e-300) expect(Math.log(weights[j])).toBeCloseTo(x, 9);
      });
      if (weights[0] === 0) underflowed++;
    }
    // α = 1e-3: log w ≈ log U / α is below log(5e-324) ≈ −745 about half the time.
    expect(underflowed).toBeGreaterThan(50);
  });

  it('tiny concentrations stay finite and normalised (log-space Gammas)', () => {
    for (let i = 0; i < 200; i++) {
      const w = sampleDirichlet([1e-4, 0.9999], at(i, 8));
      expect(w.every((x) => Number.isFinite(x) && x >= 0)).toBe(true);
      expect(w[0] + w[1]).toBeCloseTo(1, 12);
    }
  });
});

describe('categorical and without replacement', () => {
  const p = [0.4, 0.25, 0.2, 0.1, 0.05];

  it('categorical frequencies match the (unnormalised) weights', () => {
    const counts = new Array(5).fill(0);
    const w = p.map((x) => 3 * x);
    for (let i = 0; i < N; i++) counts[sampleCategorical(w, at(i, 3), 0)]++;
    for (let j = 0; j < 5; j++)
      expect(Math.abs(counts[j] / N - p[j])).toBeLessThan(5 * Math.sqrt((p[j] * (1 - p[j])) / N));
  });

  it('a zero weight is never drawn', () => {
    for (let i = 0; i < 2000; i++) expect(sampleCategorical([0, 1, 0, 2, 0], at(i, 4), 0) % 2).toBe(1);
  });

  // Exact Plackett–Luce: P(x_1..x_k) = Π_j p(x_j) / (1 − Σ_{l<j} p(x_l)).
  function exactOrders(k: number): Map<string, number> {
    const out = new Map<string, number>();
    const rec = (prefix: number[], prob: number, used: number) => {
      if (prefix.length === k) {
        out.set(prefix.join(','), prob);
        return;
      }
      for (let i = 0; i < p.length; i++) {
        if (prefix.includes(i)) continue;
        rec([...prefix, i], (prob * p[i]) / (1 - used), used + p[i]);
      }
    };
    rec([], 1, 0);
    return out;
  }

  it('k = 3 of 5: inclusion probabilities and the first two draws match the exact Plackett–Luce law', () => {
    const exact = exactOrders(3);
    const inclusion = new Array(5).fill(0);
    for (const [key, prob] of exact) for (const i of key.split(',').map(Number)) inclusion[i] += prob;
    const logw = p.map(Math.log);
    const ids = [100, 101, 102, 103, 104];
    const seen = new Array(5).fill(0);
    const firstTwo = new Map<string, number>();
    for (let i = 0; i < N; i++) {
      const pos = sampleWithoutReplacement(logw, ids, 3, at(i, 21));
      expect(new Set(pos).size).toBe(3);
      for (const q of pos) seen[q]++;
      const key = `${pos[0]},${pos[1]}`;
      firstTwo.set(key, (firstTwo.get(key) ?? 0) + 1);
    }
    for (let j = 0; j < 5; j++) {
      const pi = inclusion[j];
      expect(Math.abs(seen[j] / N - pi)).toBeLessThan(5 * Math.sqrt((pi * (1 - pi)) / N));
    }
    for (const [key, prob] of exactOrders(2)) {
      const f = (firstTwo.get(key) ?? 0) / N;
      expect(Math.abs(f - prob)).toBeLessThan(5 * Math.sqrt((prob * (1 - prob)) / N) + 1e-9);
    }
  });

  it('entries with log-weight −∞ are never chosen; k larger than the support returns the support', () => {
    const logw = [0, Number.NEGATIVE_INFINITY, Math.log(2), Number.NEGATIVE_INFINITY];
    for (let i = 0; i < 500; i++) {
      const pos = sampleWithoutReplacement(logw, [0, 1, 2, 3], 4, at(i, 2));
      expect(pos.slice().sort()).toEqual([0, 2]);
    }
  });
});
