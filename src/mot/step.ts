// One decoding step of one row (MOTG.md §1): token choice × weights, the representative token, the optional
// noise spec, and the record (with the behaviour log-likelihood) that makes the loss exact to recompute.
import { type CandidateFilters, candidates, chooseTokens, rowDistribution, sampleOne } from './choice.ts';
import {
  actionLogLikelihood,
  behaviourNoiseTerm,
  type EmbeddingContext,
  logLikelihoodParts,
  type StepRecord,
} from './likelihood.ts';
import { type Counters, DRAW, sampleCategorical } from './random.ts';
import { type MotSettings, mixtureTemperatureOf, SettingsError, validateMotSettings } from './settings.ts';
import { computeWeights, type NoiseSpec } from './weights.ts';

export type { StepRecord } from './likelihood.ts';

/** `thinking`: the step follows the settings (mixture or not); `answer`: always one discrete token. */
export type Phase = 'thinking' | 'answer';

export interface StepContext {
  phase?: Phase;
  /** For the exact likelihood of noisy steps: the embedding matrix, or at least the hidden size C. */
  embedding?: EmbeddingContext;
  hiddenSize?: number;
}

/**
 * One step for one row of logits (length ≥ V). Throws a SettingsError for invalid settings or k > V.
 * Discrete steps (answer phase, or `mixture: false`) sample y from p at `temperature` under the discrete
 * filters; mixture steps choose ids, weights and the representative per the settings.
 */
export function mixtureStep(
  logits: ArrayLike<number>,
  V: number,
  settings: MotSettings,
  counters: Counters,
  ctx: StepContext = {},
): StepRecord {
  validateMotSettings(settings, V);
  if (logits.length < V)
    throw new SettingsError('shape-mismatch', 'logits', `row has ${logits.length} entries, V = ${V}`);
  const discrete = ctx.phase === 'answer' || !settings.mixture;
  const temperature = discrete ? settings.temperature : mixtureTemperatureOf(settings);
  const dist = rowDistribution(logits, V, temperature);
  const base = {
    temperature,
    entropy: dist.entropy,
    argmax: dist.argmax,
    counters: { seed: counters.seed, row: counters.row, step: counters.step },
    logLikelihood: 0,
  };

  if (discrete) {
    const filters: CandidateFilters = {
      topK: settings.discreteTopK,
      topP: settings.discreteTopP,
      minP: settings.discreteMinP,
    };
    const y = sampleOne(dist, candidates(dist, filters), counters, DRAW.choice);
    const record: StepRecord = {
      ...base,
      mode: 'discrete',
      ids: [y],
      weights: [1],
      representative: y,
      sampled: y,
      noise: null,
    };
    record.logLikelihood = actionLogLikelihood(logits, V, record, settings).value;
    return record;
  }

  const filters: CandidateFilters = { topK: 0, topP: settings.topP, minP: settings.minP };
  const { ids } = chooseTokens(dist, settings.select, settings.k, filters, counters);
  const { weights, logWeights, sampled } = computeWeights(dist, ids, settings, counters);
  const representative = pickRepresentative(
    settings,
    ids,
    weights,
    sampled,
    dist.order,
    dist.argmax,
    counters,
  );
  const noise: NoiseSpec | null =
    settings.noiseSigma > 0
      ? { sigma: settings.noiseSigma, scale: settings.noiseScale, ...base.counters, drawBase: DRAW.noise }
      : null;
  const record: StepRecord = { ...base, mode: 'mixture', ids, weights, representative, sampled, noise };
  // The exact density scores the unfloored draw (likelihood.ts); the paper likelihood never reads it.
  if (logWeights && settings.likelihood === 'exact') record.logWeights = logWeights;

  const exactNoise = settings.likelihood === 'exact' && noise !== null;
  if (exactNoise && !ctx.embedding) {
    const C = ctx.hiddenSize;
    if (C === undefined)
      throw new SettingsError(
        'missing-context',
        'hiddenSize',
        'the exact likelihood of a noisy step needs the hidden size (or the embedding matrix)',
      );
    record.logLikelihood =
      logLikelihoodParts(logits, V, record, settings, {}, false).value + behaviourNoiseTerm(counters, C);
  } else {
    record.logLikelihood = actionLogLikelihood(logits, V, record, settings, {
      embedding: ctx.embedding,
    }).value;
  }
  return record;
}

/** The representative token of a mixture step (see RepresentativeRule in settings.ts). */
export function pickRepresentative(
  settings: MotSettings,
  ids: number[],
  weights: number[],
  sampled: number | null,
  order: Int32Array,
  argmax: number,
  counters: Counters,
): number {
  switch (settings.representative) {
    case 'argmax':
      return argmax;
    case 'max-weight': {
      let best = 0;
      for (let j = 1; j < weights.length; j++) if (weights[j] > weights[best]) best = j;
      return ids[best];
    }
    case 'sampled':
      return sampled ?? ids[0];
    case 'weighted':
      return ids[sampleCategorical(weights, counters, DRAW.representative)];
    case 'weighted-topk-quirk':
      // The author code draws J from the weights of the chosen ids, then indexes the top-k list of p.
      return order[sampleCategorical(weights, counters, DRAW.representative)];
  }
}
