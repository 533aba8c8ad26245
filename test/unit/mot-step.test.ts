// Token choice × weights, the presets, the representative rules and the validation of src/mot.
import { describe, expect, it } from 'vitest';
import { entropyForward } from '../../src/engine/ref/logits.ts';
import { sampleToken } from '../../src/engine/sampling.ts';
import { candidateCount, chooseTokens, rowDistribution } from '../../src/mot/choice.ts';
import { DEFAULTS, makeSettings, PRESET_NAMES, PRESETS } from '../../src/mot/presets.ts';
import type { Counters } from '../../src/mot/random.ts';
import { type MotSettings, SettingsError, validateMotSettings } from '../../src/mot/settings.ts';
import { mixtureStep } from '../../src/mot/step.ts';
import { moiWeights, normalisedEntropy, renormalised } from '../../src/mot/weights.ts';

const at = (step: number, seed = 77, row = 0): Counters => ({ seed, row, step });

/** Deterministic pseudo-random logits (a small LCG, independent of the code under test). */
function randomLogits(V: number, seed: number, scale = 3): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(V);
  for (let v = 0; v < V; v++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[v] = (s / 2 ** 32 - 0.5) * 2 * scale;
  }
  return out;
}

function expectSettingsError(fn: () => unknown, code: string, field: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SettingsError);
    expect((e as SettingsError).code).toBe(code);
    expect((e as SettingsError).field).toBe(field);
    return;
  }
  throw new Error(`expected SettingsError ${code} on ${field}`);
}

describe('the distribution of a row and the candidate filters', () => {
  it('p sums to 1; entropy and argmax agree with the engine', () => {
    const z = randomLogits(50, 1);
    for (const T of [0.5, 0.9, 1.7]) {
      const d = rowDistribution(z, 50, T);
      expect(d.p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      const h = new Float32Array(1);
      entropyForward(h, Float32Array.from(z), 1, 50, T);
      expect(d.entropy).toBeCloseTo(h[0], 5);
      expect(d.p[d.order[0]]).toBe(Math.max(...d.p));
      expect(d.argmax).toBe(d.order[0]);
    }
    const greedy = rowDistribution(z, 50, 0);
    expect(greedy.p[greedy.argmax]).toBe(1);
    expect(greedy.entropy).toBe(0);
  });

  it('top-k, top-p and min-p keep the shortest prefix of the sorted probabilities', () => {
    const p = [0.05, 0.5, 0.15, 0.3];
    const d = rowDistribution(p.map(Math.log), 4, 1);
    expect(Array.from(d.order)).toEqual([1, 3, 2, 0]);
    expect(candidateCount(d, { topK: 0, topP: 1, minP: 0 })).toBe(4);
    expect(candidateCount(d, { topK: 3, topP: 1, minP: 0 })).toBe(3);
    expect(candidateCount(d, { topK: 0, topP: 0.75, minP: 0 })).toBe(2); // 0.5 + 0.3 ≥ 0.75
    expect(candidateCount(d, { topK: 0, topP: 0.4, minP: 0 })).toBe(1);
    expect(candidateCount(d, { topK: 0, topP: 1, minP: 0.2 })).toBe(3); // p ≥ 0.1
    expect(candidateCount(d, { topK: 0, topP: 0.95, minP: 0.2 })).toBe(3);
    expect(candidateCount(d, { topK: 2, topP: 0.95, minP: 0.2 })).toBe(2);
    const all = { topK: 0, topP: 1, minP: 0 };
    expect(chooseTokens(d, 'top', 2, all, at(0)).ids).toEqual([1, 3]);
    expect(chooseTokens(d, 'all', 2, all, at(0)).ids).toEqual([1, 3, 2, 0]);
    for (let i = 0; i < 50; i++) {
      const ids = chooseTokens(d, 'sample', 3, { topK: 0, topP: 1, minP: 0.2 }, at(i)).ids;
      expect(new Set(ids).size).toBe(3);
      expect(ids.includes(0)).toBe(false); // filtered out by min-p
    }
  });
});

describe('discrete steps', () => {
  it('match engine/sampling.ts sampleToken at the same counters', () => {
    const s = makeSettings('discrete');
    for (let i = 0; i < 300; i++) {
      const z = randomLogits(40, 100 + i);
      const rec = mixtureStep(z, 40, s, at(i, 5, 2));
      const y = sampleToken(z, 0, 40, { greedy: false, temperature: 0.9, seed: 5, row: 2, step: i });
      expect(rec.mode).toBe('discrete');
      expect(rec.ids).toEqual([y]);
      expect(rec.representative).toBe(y);
      expect(rec.weights).toEqual([1]);
    }
  });

  it('the answer phase of a mixture preset is discrete with the discrete filters', () => {
    const s = makeSettings('dirichlet', { discreteTopK: 3 });
    for (let i = 0; i < 100; i++) {
      const z = randomLogits(30, i);
      const rec = mixtureStep(z, 30, s, at(i), { phase: 'answer' });
      expect(rec.mode).toBe('discrete');
      const order = rowDistribution(z, 30, 0.9).order;
      expect(Array.from(order.subarray(0, 3))).toContain(rec.ids[0]);
    }
  });
});

describe('presets', () => {
  const V = 64;

  it('DEFAULTS validate, and each preset overrides only what differs from them', () => {
    validateMotSettings({ ...DEFAULTS }, V);
    for (const name of PRESET_NAMES) {
      const s = makeSettings(name, {}, V);
      expect(s.preset).toBe(name);
      for (const [key, value] of Object.entries(PRESETS[name])) {
        if (key === 'preset') continue;
        expect(value).not.toEqual(DEFAULTS[key as keyof MotSettings]);
      }
    }
  });

  it('every preset gives a well-formed record', () => {
    for (const name of PRESET_NAMES) {
      const s = makeSettings(name, {}, V);
      for (let i = 0; i < 40; i++) {
        const z = randomLogits(V, 1000 * i + 7);
        const rec = mixtureStep(z, V, s, at(i, 3), { hiddenSize: 8 });
        expect(rec.weights.length).toBe(rec.ids.length);
        expect(rec.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
        expect(rec.weights.every((w) => w > 0)).toBe(true);
        expect(new Set(rec.ids).size).toBe(rec.ids.length);
        expect(Number.isFinite(rec.logLikelihood)).toBe(true);
        expect(rec.logLikelihood).toBeLessThanOrEqual(1e-12);
        expect(rec.mode).toBe(s.mixture ? 'mixture' : 'discrete');
        const d = rowDistribution(z, V, rec.temperature);
        expect(rec.argmax).toBe(d.argmax);
        expect(rec.entropy).toBeCloseTo(d.entropy, 12);
        if (name !== 'soft-tokens') expect(rec.ids).toContain(rec.representative);
      }
    }
  });

  it('soft-thinking: top ≤ 10 after top-p/min-p, renormalised p, argmax representative', () => {
    const s = makeSettings('soft-thinking');
    for (let i = 0; i < 30; i++) {
      const z = randomLogits(V, i, 4);
      const rec = mixtureStep(z, V, s, at(i));
      const d = rowDistribution(z, V, 0.9);
      const n = candidateCount(d, { topK: 10, topP: 0.95, minP: 0.001 });
      expect(rec.ids).toEqual(Array.from(d.order.subarray(0, n)));
      expect(rec.weights).toEqual(renormalised(d, rec.ids));
      expect(rec.representative).toBe(d.argmax);
    }
  });

  it('soft-tokens: dense p at τ = 0.5, a noise spec with the step counters, argmax representative', () => {
    const s = makeSettings('soft-tokens');
    const z = randomLogits(V, 3);
    const rec = mixtureStep(z, V, s, at(12, 9, 4));
    expect(rec.temperature).toBe(0.5);
    expect(rec.ids.length).toBe(V);
    const d = rowDistribution(z, V, 0.5);
    for (let j = 0; j < rec.ids.length; j++) expect(rec.weights[j]).toBeCloseTo(d.p[rec.ids[j]], 14);
    expect(rec.noise).toMatchObject({ sigma: 0.33, scale: 'embedding-rms', seed: 9, row: 4, step: 12 });
    expect(rec.representative).toBe(d.argmax);
  });

  it('mixture-of-inputs: w = (H p̃ + (β+1−H)[i = y])/(β+1) over the top 20, r = y', () => {
    const s = makeSettings('mixture-of-inputs');
    const counts = new Map<number, number>();
    const z = randomLogits(V, 11, 2);
    const d = rowDistribution(z, V, 0.9);
    const top = Array.from(d.order.subarray(0, 20));
    const pt = renormalised(d, top);
    const M = 20_000;
    for (let i = 0; i < M; i++) {
      const rec = mixtureStep(z, V, s, at(i));
      expect(rec.ids).toEqual(top);
      const y = rec.sampled as number;
      expect(rec.representative).toBe(y);
      if (i < 20) expect(rec.weights).toEqual(moiWeights(pt, top.indexOf(y), 1));
      counts.set(y, (counts.get(y) ?? 0) + 1);
    }
    const H = normalisedEntropy(pt);
    expect(H).toBeGreaterThan(0);
    expect(H).toBeLessThanOrEqual(1);
    // y ~ p̃: frequencies within 5σ.
    for (let j = 0; j < 20; j++) {
      const f = (counts.get(top[j]) ?? 0) / M;
      expect(Math.abs(f - pt[j])).toBeLessThan(5 * Math.sqrt((pt[j] * (1 - pt[j])) / M) + 1e-9);
    }
  });

  it('dirichlet: E[w] = p̃ and P(r = i_j) = p̃_j (J ~ Categorical(w) averages to p̃)', () => {
    const s = makeSettings('dirichlet');
    const z = Float64Array.from([2.0, 1.2, 0.3, -1, 0.5]);
    const d = rowDistribution(z, 5, 0.9);
    const pt = renormalised(d, [0, 1]);
    const M = 20_000;
    let w0 = 0;
    let r0 = 0;
    for (let i = 0; i < M; i++) {
      const rec = mixtureStep(z, 5, s, at(i));
      expect(rec.ids).toEqual([0, 1]);
      w0 += rec.weights[0];
      if (rec.representative === 0) r0++;
    }
    // Var w_0 = p̃(1−p̃)/(c+1) with c = 1; Var [r = i_0] = p̃(1−p̃).
    const v = pt[0] * (1 - pt[0]);
    expect(Math.abs(w0 / M - pt[0])).toBeLessThan(5 * Math.sqrt(v / 2 / M));
    expect(Math.abs(r0 / M - pt[0])).toBeLessThan(5 * Math.sqrt(v / M));
  });

  it('gumbel-softmax weights: P(argmax w = j) = p̃_j (the Gumbel-max property)', () => {
    const s = makeSettings('dirichlet', { weights: 'gumbel-softmax', gumbelTau: 0.7, k: 3 });
    const z = Float64Array.from([1.5, 1.0, 0.2, -2]);
    const d = rowDistribution(z, 4, 0.9);
    const pt = renormalised(d, [0, 1, 2]);
    const counts = [0, 0, 0];
    const M = 20_000;
    for (let i = 0; i < M; i++) {
      const rec = mixtureStep(z, 4, s, at(i));
      let best = 0;
      for (let j = 1; j < 3; j++) if (rec.weights[j] > rec.weights[best]) best = j;
      counts[best]++;
    }
    for (let j = 0; j < 3; j++)
      expect(Math.abs(counts[j] / M - pt[j])).toBeLessThan(5 * Math.sqrt((pt[j] * (1 - pt[j])) / M));
  });

  it('different-tokens: x_J from the sampled ids; the quirk indexes the top-k list of p instead', () => {
    const z = Float64Array.from([1, 0.9, 0.8, 0.7, 0.6, 0.5]); // near-flat: samples often miss the top 2
    const plain = makeSettings('different-tokens');
    const quirk = makeSettings('different-tokens', { representative: 'weighted-topk-quirk' });
    let outsideTop2 = 0;
    for (let i = 0; i < 2000; i++) {
      const a = mixtureStep(z, 6, plain, at(i));
      const b = mixtureStep(z, 6, quirk, at(i));
      expect(b.ids).toEqual(a.ids);
      expect(a.ids).toContain(a.representative);
      expect([0, 1]).toContain(b.representative);
      // Same J: the quirk's r is the J-th most probable id where the plain r is the J-th sampled id.
      expect(b.representative).toBe(a.ids.indexOf(a.representative));
      if (!a.ids.includes(b.representative)) outsideTop2++;
    }
    expect(outsideTop2).toBeGreaterThan(100);
  });
});

describe('validation', () => {
  it('typed errors name the field', () => {
    expectSettingsError(() => makeSettings('dirichlet', { k: 8 }, 5), 'k-exceeds-vocab', 'k');
    expectSettingsError(
      () => makeSettings('dirichlet', { temperature: -0.1 }),
      'negative-temperature',
      'temperature',
    );
    expectSettingsError(
      () => makeSettings('soft-tokens', { mixtureTemperature: -1 }),
      'negative-temperature',
      'mixtureTemperature',
    );
    expectSettingsError(() => makeSettings('soft-thinking', { topP: 0 }), 'probability-out-of-range', 'topP');
    expectSettingsError(
      () => makeSettings('soft-thinking', { topP: 1.2 }),
      'probability-out-of-range',
      'topP',
    );
    expectSettingsError(() => makeSettings('soft-thinking', { minP: 1 }), 'probability-out-of-range', 'minP');
    expectSettingsError(
      () => makeSettings('dirichlet', { concentration: 0 }),
      'non-positive',
      'concentration',
    );
    expectSettingsError(() => makeSettings('dirichlet', { k: 1.5 }), 'not-an-integer', 'k');
    expectSettingsError(
      () => makeSettings('dirichlet', { temperature: Number.NaN }),
      'invalid-number',
      'temperature',
    );
    expectSettingsError(
      () => makeSettings('dirichlet', { representative: 'sampled' }),
      'incompatible',
      'representative',
    );
    expectSettingsError(
      () => makeSettings('mixture-of-inputs', { likelihood: 'exact', noiseSigma: 0.1 }),
      'incompatible',
      'noiseSigma',
    );
    expectSettingsError(() => makeSettings('nope' as 'dirichlet'), 'unknown-value', 'preset');
    expectSettingsError(
      () => makeSettings('dirichlet', { weights: 'x' as 'moi' }),
      'unknown-value',
      'weights',
    );
    // mixtureStep validates too, including the row length.
    const s = makeSettings('dirichlet');
    expectSettingsError(() => mixtureStep(new Float64Array(1), 1, s, at(0)), 'k-exceeds-vocab', 'k');
    expectSettingsError(() => mixtureStep(new Float64Array(3), 4, s, at(0)), 'shape-mismatch', 'logits');
  });

  it('an exact noisy step needs the hidden size or the embedding', () => {
    const s = makeSettings('soft-tokens', { likelihood: 'exact' });
    expectSettingsError(() => mixtureStep(randomLogits(8, 1), 8, s, at(0)), 'missing-context', 'hiddenSize');
  });
});
