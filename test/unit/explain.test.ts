// The explainer's numbers (effective number of tokens, the entropy bound on the top token, a side's
// spread) and the guide's "both modes" checks on plain data.
import { describe, expect, it } from 'vitest';
import { evalPair, trainPair } from '../../src/store/actions/guide.ts';
import {
  effectiveTokens,
  explainedSide,
  sideSpread,
  topProbabilityBound,
  weightSource,
} from '../../src/store/lib/explain.ts';
import { DEFAULT_EVAL } from '../../src/store/settings.ts';
import { DEFAULT_TRAIN_FORM } from '../../src/store/trainForm.ts';
import type { DecodeResult, EvalRun, SideResult, StepView, TrainRunRecord } from '../../src/store/types.ts';

function step(weights: number[], extra: Partial<StepView> = {}): StepView {
  return {
    mode: weights.length > 1 ? 'mixture' : 'discrete',
    ids: weights.map((_, j) => 10 + j),
    weights,
    texts: weights.map((_, j) => `t${j}`),
    representative: 10,
    repText: 't0',
    entropy: 0.5,
    hidden: null,
    ...extra,
  };
}

function side(mode: SideResult['mode'], steps: StepView[]): SideResult {
  return {
    mode,
    via: 'rollout',
    params: {},
    steps,
    text: '',
    stopReason: 'length',
    mixingOffAt: null,
    answer: null,
    score: null,
    reward: null,
    format: null,
    ms: 0,
    tokensPerSecond: 0,
    interrupted: false,
  };
}

describe('effective number of tokens 1/Σw²', () => {
  it('is 1 for one token, k for k equal weights, in between otherwise', () => {
    expect(effectiveTokens(step([1]))).toEqual({ value: 1, exact: true });
    expect(effectiveTokens(step([0.5, 0.5])).value).toBeCloseTo(2, 12);
    expect(effectiveTokens(step([0.25, 0.25, 0.25, 0.25])).value).toBeCloseTo(4, 12);
    expect(effectiveTokens(step([0.9, 0.1])).value).toBeCloseTo(1 / 0.82, 12);
  });
  it('counts the ids a view left out as evenly spread: an upper bound', () => {
    const e = effectiveTokens(step([0.5], { rest: { count: 2, weight: 0.5 } }));
    expect(e.exact).toBe(false);
    expect(e.value).toBeCloseTo(1 / (0.25 + 0.125), 12);
    // The true spread of those two ids, any split of 0.5, gives at most that value.
    for (const a of [0, 0.1, 0.25])
      expect(1 / (0.25 + a * a + (0.5 - a) ** 2)).toBeLessThanOrEqual(e.value + 1e-12);
  });
});

describe('what the entropy says about the top token', () => {
  it('p_max ≥ e^−H, tight for a uniform distribution', () => {
    expect(topProbabilityBound(0)).toBe(1);
    expect(topProbabilityBound(Math.log(2))).toBeCloseTo(0.5, 12);
    expect(topProbabilityBound(Math.log(7))).toBeCloseTo(1 / 7, 12);
    expect(topProbabilityBound(Number.NaN)).toBeNull();
    // A skewed distribution: its top probability is above the bound.
    const p = [0.7, 0.2, 0.1];
    const H = -p.reduce((a, q) => a + q * Math.log(q), 0);
    expect(p[0]).toBeGreaterThan(topProbabilityBound(H) ?? 1);
  });
});

describe('a side of the decode, explained', () => {
  it('picks the mixture side and summarises its spread', () => {
    const mix = side('dirichlet', [
      step([1, 0]),
      step([0.6, 0.4]),
      step([0.995, 0.005]),
      step([1], { phase: 'answer' }),
    ]);
    const result: DecodeResult = {
      prompt: '',
      item: null,
      promptTokens: 3,
      sides: [side('discrete-top-k', [step([1])]), mix],
    };
    expect(explainedSide(result)).toBe(mix);
    const s = sideSpread(mix);
    expect(s.mixtureSteps).toBe(3);
    expect(s.nearlyOneHot).toBe(2);
    expect(s.mostMixed).toBe(1);
    expect(s.meanEffective).toBeCloseTo((1 + 1 / 0.52 + 1 / (0.995 ** 2 + 0.005 ** 2)) / 3, 12);
    expect(explainedSide({ ...result, sides: [result.sides[0]] })?.mode).toBe('discrete-top-k');
    expect(explainedSide(null)).toBeNull();
  });
  it('says which presets weigh by p̃ and which draw around it', () => {
    expect(weightSource('soft-thinking')).toBe('p-tilde');
    expect(weightSource('different-tokens')).toBe('p-tilde');
    expect(weightSource('soft-tokens')).toBe('p');
    expect(weightSource('dirichlet')).toBe('draw');
    expect(weightSource('mixture-of-inputs')).toBe('blend');
  });
});

function evalRun(
  id: string,
  mode: EvalRun['settings']['mode'],
  n = 2,
  status: EvalRun['status'] = 'done',
): EvalRun {
  return {
    id,
    createdAt: '',
    model: 'm',
    settings: { ...DEFAULT_EVAL, mode, n },
    results: [],
    status,
    ms: 0,
  };
}

function trainRun(id: string, preset: TrainRunRecord['form']['preset'], status: TrainRunRecord['status']) {
  const run: TrainRunRecord = {
    id,
    label: id,
    form: { ...DEFAULT_TRAIN_FORM, preset },
    backend: 'cpu',
    status,
    maxSteps: 3,
    history: [{ step: 1 } as TrainRunRecord['history'][number]],
  };
  return run;
}

describe('the guide: both modes on the same items', () => {
  it('pairs a baseline and a mixture evaluation of the same questions, one of them new', () => {
    const a = evalRun('a', 'discrete-top-k');
    const b = evalRun('b', 'dirichlet');
    expect(evalPair([a, b], new Set(['b']))).toEqual([a, b]);
    expect(evalPair([a, b], new Set())).toBeNull();
    expect(evalPair([a, evalRun('c', 'dirichlet', 3)], new Set(['a', 'c']))).toBeNull();
    expect(evalPair([a, evalRun('d', 'dirichlet', 2, 'interrupted')], new Set(['d']))).toBeNull();
    expect(evalPair([a, evalRun('e', 'discrete')], new Set(['e']))).toBeNull();
  });
  it('pairs a baseline and a mixture training run that ran to their end', () => {
    const a = trainRun('a', 'discrete-top-k', 'finished');
    const b = trainRun('b', 'dirichlet', 'finished');
    expect(trainPair([a, b], new Set(['b']))).toEqual([a, b]);
    expect(trainPair([a, trainRun('c', 'dirichlet', 'error')], new Set(['c']))).toBeNull();
    expect(trainPair([a, b], new Set())).toBeNull();
  });
});
