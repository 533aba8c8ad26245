// The numbers the "How MoT-G works" explainer derives from a decode's recorded steps (ids, weights,
// representative, entropy): effective number of tokens, the bound the entropy puts on the top token, the
// exact p̃ where a preset's weights are p̃, and a side's summary. DOM-free, so unit tests pin them.
import type { DecodeMode, DecodeResult, SideResult, StepView } from '../types.ts';

export const BASELINE_MODES: readonly DecodeMode[] = ['discrete', 'discrete-top-k'];

export function isMixtureMode(mode: DecodeMode): boolean {
  return !BASELINE_MODES.includes(mode);
}

/** The side of a decode the explainer walks through: the mixture preset's, else the first one. */
export function explainedSide(result: DecodeResult | null): SideResult | null {
  if (!result || result.sides.length === 0) return null;
  return result.sides.find((s) => isMixtureMode(s.mode)) ?? result.sides[0];
}

/**
 * Effective number of tokens 1/Σw² (1: one token, k: k equal weights). A step view keeps only its
 * heaviest ids; the ids left out (`rest`) are counted as if their weight were spread evenly, which makes
 * Σw² as small as it can be, so the value is then an upper bound (`exact` false).
 */
export function effectiveTokens(step: Pick<StepView, 'weights' | 'rest'>): { value: number; exact: boolean } {
  let sumSq = 0;
  for (const w of step.weights) sumSq += w * w;
  if (step.rest && step.rest.count > 0) sumSq += (step.rest.weight * step.rest.weight) / step.rest.count;
  return { value: sumSq > 0 ? 1 / sumSq : 0, exact: !step.rest || step.rest.count === 0 };
}

/** The top token's probability is at least e^−H (min-entropy ≤ Shannon entropy), H in nats. */
export function topProbabilityBound(entropy: number): number | null {
  return Number.isFinite(entropy) && entropy >= 0 ? Math.exp(-entropy) : null;
}

/** How a mixture step's weights relate to the model's next-token distribution p. */
export type WeightSource =
  /** w is p itself (soft-tokens mixes the whole vocabulary at τ = 0.5). */
  | 'p'
  /** w is p restricted to the chosen ids and renormalised (p̃). */
  | 'p-tilde'
  /** w is a random draw around p̃ (Dirichlet: its mean is p̃). */
  | 'draw'
  /** w blends p̃ with the sampled token (Mixture of Inputs). */
  | 'blend';

export function weightSource(mode: DecodeMode): WeightSource {
  switch (mode) {
    case 'soft-tokens':
      return 'p';
    case 'different-tokens':
    case 'soft-thinking':
      return 'p-tilde';
    case 'mixture-of-inputs':
      return 'blend';
    default:
      return 'draw';
  }
}

/** The ids a mixture step lists in order of decreasing p (so ids[0] is the argmax): top-k selections. */
export function idsRankedByP(mode: DecodeMode): boolean {
  return mode !== 'different-tokens';
}

/** Mixture steps of a side and how spread their weights are. */
export interface SideSpread {
  mixtureSteps: number;
  /** Mixture steps whose heaviest weight is ≥ 0.99 (as good as one token). */
  nearlyOneHot: number;
  meanEffective: number;
  meanEntropy: number;
  /** Index of the step with the largest effective number of tokens (null without mixture steps). */
  mostMixed: number | null;
}

export function sideSpread(side: Pick<SideResult, 'steps'>): SideSpread {
  let n = 0;
  let oneHot = 0;
  let effSum = 0;
  let entSum = 0;
  let entN = 0;
  let best: number | null = null;
  let bestEff = 0;
  side.steps.forEach((st, i) => {
    if (st?.mode !== 'mixture') return;
    n++;
    if (Math.max(0, ...st.weights) >= 0.99) oneHot++;
    const eff = effectiveTokens(st).value;
    effSum += eff;
    if (Number.isFinite(st.entropy)) {
      entSum += st.entropy;
      entN++;
    }
    if (best === null || eff > bestEff) {
      best = i;
      bestEff = eff;
    }
  });
  return {
    mixtureSteps: n,
    nearlyOneHot: oneHot,
    meanEffective: n > 0 ? effSum / n : 0,
    meanEntropy: entN > 0 ? entSum / entN : Number.NaN,
    mostMixed: best,
  };
}

/** What kind of step a transcript position is, for labels. */
export function stepKind(step: StepView): 'mixture' | 'discrete' | 'forced' {
  if (step.forced) return 'forced';
  return step.mode === 'mixture' ? 'mixture' : 'discrete';
}
