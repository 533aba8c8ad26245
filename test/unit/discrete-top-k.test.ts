// The matched baseline `discrete-top-k` (issue 14): one token sampled from the same top-k candidate set as the
// mixture presets, with P(y = i_j) = p̃_j — the law of `dirichlet`'s representative (J ~ Categorical(w),
// w ~ Dirichlet(c · p̃), so P(J = j) = E[w_j] = p̃_j). Checked on the CPU step (src/mot/step.ts), which the CPU
// rollouts run; test/gpu/discrete-top-k.test.ts checks the GPU kernel.
import { describe, expect, it } from 'vitest';
import { checkExperimentConfig } from '../../src/experiment/schema.ts';
import { rowDistribution } from '../../src/mot/choice.ts';
import { makeSettings, PRESET_NAMES } from '../../src/mot/presets.ts';
import { type MotSettings, SettingsError } from '../../src/mot/settings.ts';
import { mixtureStep, type Phase } from '../../src/mot/step.ts';
import { rolloutSettings } from '../../src/rl/rollout.ts';
import { motSettingsFor } from '../../src/store/lib/decodeRun.ts';
import { DECODE_MODES, DEFAULT_DECODE, MIX_PRESETS, TRAIN_PRESETS } from '../../src/store/settings.ts';

const V = 12;
/** One row: at T = 0.9 its top three hold p ≈ 0.36, 0.21, 0.15 and the tail the rest. */
const ROW = [2.0, 1.5, 1.2, 0.9, 0.6, 0.4, 0.2, 0.1, 0, -0.2, -0.5, -1.0];
const N = 20_000;

/** How often each of the row's top-k ids is the step's token (discrete) or representative (mixture). */
function frequencies(s: MotSettings, k: number, phase: Phase = 'thinking', seed = 7): number[] {
  const order = rowDistribution(ROW, V, s.temperature).order;
  const counts = new Array<number>(k + 1).fill(0);
  for (let i = 0; i < N; i++) {
    const rec = mixtureStep(ROW, V, s, { seed, row: i % 97, step: Math.floor(i / 97) }, { phase });
    const j = Array.from(order.subarray(0, k)).indexOf(rec.representative);
    counts[j < 0 ? k : j]++; // the last bin: anything outside the top k
  }
  return counts.map((c) => c / N);
}

/** The renormalised top-k probabilities p̃ of ROW at temperature T. */
function topK(k: number, T: number): number[] {
  const d = rowDistribution(ROW, V, T);
  const p = Array.from(d.order.subarray(0, k), (id) => d.p[id]);
  const sum = p.reduce((a, b) => a + b, 0);
  return p.map((x) => x / sum);
}

/** 4 standard errors of a frequency of probability q over N draws. */
const fourSe = (q: number, n = N) => 4 * Math.sqrt((q * (1 - q)) / n);

describe('discrete-top-k settings', () => {
  it('is a discrete preset whose candidate count is k (2 by default), beside full-vocabulary discrete', () => {
    expect(PRESET_NAMES).toContain('discrete-top-k');
    const s = makeSettings('discrete-top-k');
    expect(s).toMatchObject({ preset: 'discrete-top-k', mixture: false, k: 2, discreteTopK: 2 });
    expect(makeSettings('discrete-top-k', { k: 5 }).discreteTopK).toBe(5);
    expect(makeSettings('discrete-top-k', { k: 3, discreteTopK: 3 }).discreteTopK).toBe(3);
    expect(makeSettings('discrete').discreteTopK).toBe(0); // `discrete` keeps the whole vocabulary
    expect(rolloutSettings('discrete-top-k', { k: 4 }, V, 'eval')).toMatchObject({
      mixture: false,
      discreteTopK: 4,
    });
  });

  it('refuses a discreteTopK that disagrees with k, and a k beyond the vocabulary', () => {
    const e = (() => {
      try {
        makeSettings('discrete-top-k', { discreteTopK: 5 });
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(SettingsError);
    expect((e as SettingsError).code).toBe('incompatible');
    expect((e as SettingsError).field).toBe('discreteTopK');
    expect(() => makeSettings('discrete-top-k', { k: V + 1 }, V)).toThrow(/discreteTopK.*exceeds/);
  });

  it('is offered wherever presets are listed: CLI configs, the page’s evaluation and training selects', () => {
    const cfg = {
      trainer: { preset: 'discrete-top-k' },
      matrix: { preset: ['discrete-top-k', 'dirichlet'] },
    };
    expect(checkExperimentConfig(cfg, 'c.json').trainer.preset).toBe('discrete-top-k');
    expect(DECODE_MODES).toContain('discrete-top-k');
    expect(TRAIN_PRESETS).toContain('discrete-top-k');
    expect(MIX_PRESETS).not.toContain('discrete-top-k'); // not a mixture: never the decode panel's MoT-G side
    expect(motSettingsFor('discrete-top-k', { ...DEFAULT_DECODE, k: 3 }, V).discreteTopK).toBe(3);
  });
});

describe('discrete-top-k draws', () => {
  it('with k = 2 draws only the top-2 ids, in the thinking and the answer phase', () => {
    const s = makeSettings('discrete-top-k', {}, 50);
    let outsideFull = 0;
    for (let i = 0; i < 2000; i++) {
      const z = Array.from({ length: 50 }, (_, v) => Math.sin(1.7 * v + 0.37 * i) * 2);
      const top2 = Array.from(rowDistribution(z, 50, s.temperature).order.subarray(0, 2));
      const counters = { seed: 3, row: i, step: 0 };
      for (const phase of ['thinking', 'answer'] as const) {
        const rec = mixtureStep(z, 50, s, counters, { phase });
        expect(rec.mode).toBe('discrete');
        expect(top2).toContain(rec.ids[0]);
        expect(rec.representative).toBe(rec.ids[0]);
      }
      // The same counters under full-vocabulary discrete leave the top 2 now and then: the filter matters.
      if (!top2.includes(mixtureStep(z, 50, makeSettings('discrete'), counters).ids[0])) outsideFull++;
    }
    expect(outsideFull).toBeGreaterThan(100);
  });

  it('P(y = i_j) = p̃_j, the law of dirichlet’s representative (k = 2, and k = 3 following k)', () => {
    for (const k of [2, 3]) {
      const pt = topK(k, 0.9);
      const discrete = frequencies(makeSettings('discrete-top-k', { k }), k);
      const mixture = frequencies(makeSettings('dirichlet', { k }), k, 'thinking', 8);
      expect(discrete[k]).toBe(0); // nothing outside the top k
      expect(mixture[k]).toBe(0);
      for (let j = 0; j < k; j++) {
        const bound = fourSe(pt[j]);
        expect(Math.abs(discrete[j] - pt[j]), `discrete-top-k k=${k} j=${j}`).toBeLessThan(bound);
        expect(Math.abs(mixture[j] - pt[j]), `dirichlet k=${k} j=${j}`).toBeLessThan(bound);
        // Two independent estimates of the same probability: their difference has √2 times the SE.
        expect(Math.abs(discrete[j] - mixture[j]), `difference k=${k} j=${j}`).toBeLessThan(
          Math.SQRT2 * bound,
        );
      }
    }
    // And not the full-vocabulary law: p_1 < p̃_1 by far more than the noise.
    const full = frequencies(makeSettings('discrete'), 2);
    expect(topK(2, 0.9)[0] - full[0]).toBeGreaterThan(10 * fourSe(full[0]));
  });

  it('scores its token as it drew it: log p̃_y (exact), log p_y (paper, as TRL)', () => {
    const pt = topK(2, 0.9);
    const d = rowDistribution(ROW, V, 0.9);
    const exact = makeSettings('discrete-top-k', { likelihood: 'exact' });
    const paper = makeSettings('discrete-top-k');
    for (let i = 0; i < 20; i++) {
      const c = { seed: 1, row: i, step: 0 };
      const a = mixtureStep(ROW, V, exact, c);
      const j = d.order[0] === a.ids[0] ? 0 : 1;
      expect(a.logLikelihood).toBeCloseTo(Math.log(pt[j]), 10);
      expect(mixtureStep(ROW, V, paper, c).logLikelihood).toBeCloseTo(d.logp[a.ids[0]], 10);
    }
  });
});
