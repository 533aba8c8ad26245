// Settings of one mixture-of-tokens decoding step (MOTG.md §1): which tokens × which weights, the
// representative token, the likelihood mode (§2), and the typed validation every entry point runs.
// The named presets and the DEFAULTS object with a reason per line are in presets.ts.

export type PresetName =
  | 'discrete'
  | 'discrete-top-k'
  | 'dirichlet'
  | 'different-tokens'
  | 'soft-thinking'
  | 'mixture-of-inputs'
  | 'soft-tokens';

/** Which tokens: the `k` most probable, `k` samples without replacement, or every candidate (dense). */
export type TokenSelect = 'top' | 'sample' | 'all';
/** Which weights over the chosen ids. */
export type WeightKind = 'renormalised' | 'dirichlet' | 'gumbel-softmax' | 'moi';
/**
 * The representative token of a mixture step.
 * - `weighted`: J ~ Categorical(w), r = ids[J] (paper).
 * - `weighted-topk-quirk`: J ~ Categorical(w), r = J-th entry of the top-k list of p (the paper's author code
 *   for `different-tokens`).
 * - `argmax`: argmax p over the whole vocabulary.
 * - `max-weight`: the id with the largest weight.
 * - `sampled`: the sampled token (Mixture of Inputs' y; with `select: 'sample'` the first draw).
 */
export type RepresentativeRule = 'weighted' | 'weighted-topk-quirk' | 'argmax' | 'max-weight' | 'sampled';
export type LikelihoodMode = 'paper' | 'exact';
/** Paper-mode proxy for a mixture step: log π(r), or Σ_j q_j log π(x_j) with q from the current policy. */
export type PaperRule = 'representative' | 'weighted-ids';
/** Noise σ is absolute, or a multiple of the RMS of the embedding matrix entries. */
export type NoiseScale = 'absolute' | 'embedding-rms';

export interface MotSettings {
  /** The preset these settings started from (informational). */
  preset: PresetName;
  /** false: the thinking phase samples one token per step like the answer phase (the baseline). */
  mixture: boolean;
  /** Sampling temperature T of discrete steps, and of mixture steps unless `mixtureTemperature` is set. */
  temperature: number;
  /** Temperature of the mixture distribution p = softmax(z/T); null: `temperature`. */
  mixtureTemperature: number | null;
  select: TokenSelect;
  /** Number of tokens for `top` (at most k) and `sample` (exactly k, fewer if fewer candidates). */
  k: number;
  /** Nucleus filter on p before the selection; 1 = off. */
  topP: number;
  /** Min-p filter (keep p_i ≥ minP · max p) before the selection; 0 = off. */
  minP: number;
  weights: WeightKind;
  /** Dirichlet concentration c: w ~ Dirichlet(c · p̃). */
  concentration: number;
  /** Gumbel-softmax temperature τ_g. */
  gumbelTau: number;
  /** Mixture of Inputs β. */
  moiBeta: number;
  /** Gaussian noise σ on e_t; 0 = off. */
  noiseSigma: number;
  noiseScale: NoiseScale;
  representative: RepresentativeRule;
  likelihood: LikelihoodMode;
  paperRule: PaperRule;
  /** Paper mode: log-likelihoods at the sampling temperature, or at temperature 1 (the paper's code). */
  paperTemperature: 'sampling' | 'one';
  /** Filters of discrete steps (answer phase, and the thinking phase when `mixture` is false); 0 / 1 / 0 = off. */
  discreteTopK: number;
  discreteTopP: number;
  discreteMinP: number;
  /** Whether evaluation decodes with the same mixtures as training (the paper: yes). */
  evalMixture: boolean;
}

export type SettingsErrorCode =
  | 'invalid-number'
  | 'negative-temperature'
  | 'k-exceeds-vocab'
  | 'probability-out-of-range'
  | 'non-positive'
  | 'not-an-integer'
  | 'unknown-value'
  | 'incompatible'
  | 'missing-context'
  | 'shape-mismatch'
  | 'batch-not-divisible';

/** A settings or argument error that names the offending field, so the UI can point at it. */
export class SettingsError extends Error {
  readonly code: SettingsErrorCode;
  readonly field: string;
  constructor(code: SettingsErrorCode, field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'SettingsError';
    this.code = code;
    this.field = field;
  }
}

export function checkFinite(field: string, x: number): void {
  if (typeof x !== 'number' || !Number.isFinite(x))
    throw new SettingsError('invalid-number', field, `${x} is not a finite number`);
}
export function checkPositive(field: string, x: number): void {
  checkFinite(field, x);
  if (x <= 0) throw new SettingsError('non-positive', field, `must be > 0, got ${x}`);
}
export function checkInteger(field: string, x: number, min: number): void {
  checkFinite(field, x);
  if (!Number.isInteger(x)) throw new SettingsError('not-an-integer', field, `must be an integer, got ${x}`);
  if (x < min) throw new SettingsError('non-positive', field, `must be ≥ ${min}, got ${x}`);
}
export function checkProbability(field: string, x: number, lowOpen: boolean, highOpen: boolean): void {
  checkFinite(field, x);
  const low = lowOpen ? x <= 0 : x < 0;
  const high = highOpen ? x >= 1 : x > 1;
  if (low || high) {
    const range = `${lowOpen ? '(' : '['}0, 1${highOpen ? ')' : ']'}`;
    throw new SettingsError('probability-out-of-range', field, `must be in ${range}, got ${x}`);
  }
}
export function checkTemperature(field: string, x: number): void {
  checkFinite(field, x);
  if (x < 0) throw new SettingsError('negative-temperature', field, `must be ≥ 0, got ${x}`);
}
export function checkOneOf<T extends string>(field: string, x: T, allowed: readonly T[]): void {
  if (!allowed.includes(x))
    throw new SettingsError('unknown-value', field, `"${x}" is not one of ${allowed.join(', ')}`);
}

const SELECTS: readonly TokenSelect[] = ['top', 'sample', 'all'];
const WEIGHTS: readonly WeightKind[] = ['renormalised', 'dirichlet', 'gumbel-softmax', 'moi'];
const REPRESENTATIVES: readonly RepresentativeRule[] = [
  'weighted',
  'weighted-topk-quirk',
  'argmax',
  'max-weight',
  'sampled',
];

/**
 * Throws a SettingsError for the first invalid field. With `V` (the vocabulary size) also checks that k
 * fits the vocabulary. Returns the settings for chaining.
 */
export function validateMotSettings(s: MotSettings, V?: number): MotSettings {
  checkTemperature('temperature', s.temperature);
  if (s.mixtureTemperature !== null) checkTemperature('mixtureTemperature', s.mixtureTemperature);
  checkOneOf('select', s.select, SELECTS);
  checkInteger('k', s.k, 1);
  if (V !== undefined) {
    checkInteger('V', V, 1);
    if (s.mixture && s.select !== 'all' && s.k > V)
      throw new SettingsError('k-exceeds-vocab', 'k', `k = ${s.k} exceeds the vocabulary size ${V}`);
    if (s.discreteTopK > V)
      throw new SettingsError(
        'k-exceeds-vocab',
        'discreteTopK',
        `${s.discreteTopK} exceeds the vocabulary size ${V}`,
      );
  }
  checkProbability('topP', s.topP, true, false);
  checkProbability('minP', s.minP, false, true);
  checkOneOf('weights', s.weights, WEIGHTS);
  checkPositive('concentration', s.concentration);
  checkPositive('gumbelTau', s.gumbelTau);
  checkFinite('moiBeta', s.moiBeta);
  if (s.moiBeta < 0) throw new SettingsError('non-positive', 'moiBeta', `must be ≥ 0, got ${s.moiBeta}`);
  checkFinite('noiseSigma', s.noiseSigma);
  if (s.noiseSigma < 0)
    throw new SettingsError('non-positive', 'noiseSigma', `must be ≥ 0, got ${s.noiseSigma}`);
  checkOneOf('noiseScale', s.noiseScale, ['absolute', 'embedding-rms']);
  checkOneOf('representative', s.representative, REPRESENTATIVES);
  checkOneOf('likelihood', s.likelihood, ['paper', 'exact']);
  checkOneOf('paperRule', s.paperRule, ['representative', 'weighted-ids']);
  checkOneOf('paperTemperature', s.paperTemperature, ['sampling', 'one']);
  checkInteger('discreteTopK', s.discreteTopK, 0);
  checkProbability('discreteTopP', s.discreteTopP, true, false);
  checkProbability('discreteMinP', s.discreteMinP, false, true);
  if (s.mixture) {
    if (s.representative === 'sampled' && s.weights !== 'moi' && s.select !== 'sample')
      throw new SettingsError(
        'incompatible',
        'representative',
        '"sampled" needs a sampled token: weights "moi" or select "sample"',
      );
    if (s.likelihood === 'exact' && s.noiseSigma > 0 && s.weights === 'moi')
      throw new SettingsError(
        'incompatible',
        'noiseSigma',
        'the exact likelihood of Gaussian noise on a Mixture-of-Inputs blend is not implemented',
      );
  }
  return s;
}

/** The temperature the mixture distribution p uses. */
export function mixtureTemperatureOf(s: MotSettings): number {
  return s.mixtureTemperature ?? s.temperature;
}
