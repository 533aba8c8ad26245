// The named variants of MOTG.md §1. DEFAULTS holds every setting with the reason for its value; each preset
// overrides only what differs from it.
import { type MotSettings, type PresetName, SettingsError, validateMotSettings } from './settings.ts';
import { STOP_DEFAULTS, type StopSettings } from './stop.ts';

export const DEFAULTS: Readonly<MotSettings> = Object.freeze({
  preset: 'dirichlet', // the paper's main method
  mixture: true, // mixing is the point of the project; `discrete` turns it off
  temperature: 0.9, // the paper's runs used T = 0.9
  mixtureTemperature: null, // the paper mixes at the sampling temperature
  select: 'top', // the paper's `dirichlet` mixes the top-k of p
  k: 2, // the paper's runs used k = 2
  topP: 1, // no nucleus filter in the paper's variants
  minP: 0, // no min-p filter in the paper's variants
  weights: 'dirichlet', // the paper's main method
  concentration: 1, // the paper: c = 1
  gumbelTau: 1, // (ours) the Gumbel-softmax sample is then an exact categorical relaxation at scale 1
  moiBeta: 1, // Mixture of Inputs: β = 1 (Zhuang et al. 2025)
  noiseSigma: 0, // no noise on e_t except in `soft-tokens`
  noiseScale: 'embedding-rms', // (ours) relative to the embedding scale, so one σ fits every model
  representative: 'weighted', // the paper: J ~ Categorical(w), r = i_J
  likelihood: 'paper', // reproduce the paper first; `exact` is ours
  paperRule: 'representative', // the paper's `dirichlet` proxy: log π(r)
  paperTemperature: 'sampling', // (ours) the same temperature on both sides; the paper's code used 1
  discreteTopK: 0, // discrete steps sample from the full p, as TRL's GRPO defaults
  discreteTopP: 1, // same
  discreteMinP: 0, // same
  evalMixture: true, // the paper evaluates in the same mode as it trains
});

/** What each preset changes relative to DEFAULTS. */
export const PRESETS: Readonly<Record<PresetName, Partial<MotSettings>>> = Object.freeze({
  // Standard GRPO: one sampled token per step, log π(y).
  discrete: { preset: 'discrete', mixture: false, select: 'sample', k: 1, weights: 'renormalised' },
  // The matched baseline (MOTG.md §5): one token sampled from the same top-k as `dirichlet`, with P(y = i_j)
  // = p̃_j — the law of dirichlet's representative (J ~ Categorical(w), E[w_j] = p̃_j). discreteTopK = k
  // (makeSettings), and it filters the answer phase too.
  'discrete-top-k': { preset: 'discrete-top-k', mixture: false },
  // The paper: top-2, w ~ Dirichlet(p̃), r = i_J with J ~ Categorical(w).
  dirichlet: { preset: 'dirichlet' },
  // The paper: 2 samples without replacement, w = renormalised p, proxy Σ q_j log π(x_j).
  'different-tokens': {
    preset: 'different-tokens',
    select: 'sample',
    weights: 'renormalised',
    paperRule: 'weighted-ids',
  },
  // Zhang et al. 2025: top-k ≤ 10 after top-p 0.95 and min-p 0.001, renormalised p, argmax.
  'soft-thinking': {
    preset: 'soft-thinking',
    k: 10,
    topP: 0.95,
    minP: 0.001,
    weights: 'renormalised',
    representative: 'argmax',
  },
  // Zhuang et al. 2025: sample y from the top-20, blend with the top-20 probabilities, r = y.
  'mixture-of-inputs': {
    preset: 'mixture-of-inputs',
    k: 20,
    weights: 'moi',
    representative: 'sampled',
  },
  // Butt et al. 2025: dense p at τ = 0.5 plus N(0, σ²I) on e_t, argmax representative.
  'soft-tokens': {
    preset: 'soft-tokens',
    select: 'all',
    mixtureTemperature: 0.5,
    weights: 'renormalised',
    noiseSigma: 0.33, // (ours) σ as a multiple of the embedding RMS
    representative: 'argmax',
  },
});

export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** What each preset changes in the stop settings (stop.ts STOP_DEFAULTS). */
export const PRESET_STOP: Readonly<Partial<Record<PresetName, Partial<StopSettings>>>> = Object.freeze({
  // Zhang et al. 2025 end the soft thinking by Cold Stop (entropy < 0.01 for a run of steps).
  'soft-thinking': { coldStop: true },
});

/** The token-independent stop settings of a preset: STOP_DEFAULTS ∘ its PRESET_STOP entry. */
export function stopDefaultsFor(preset: PresetName): Omit<StopSettings, 'thinkEnd' | 'eos'> {
  return { ...STOP_DEFAULTS, ...PRESET_STOP[preset] };
}

/** DEFAULTS ∘ preset ∘ overrides, validated (with V: also against the vocabulary size). */
export function makeSettings(
  preset: PresetName,
  overrides: Partial<MotSettings> = {},
  V?: number,
): MotSettings {
  const p = PRESETS[preset];
  if (!p)
    throw new SettingsError(
      'unknown-value',
      'preset',
      `"${preset}" is not one of ${PRESET_NAMES.join(', ')}`,
    );
  const s: MotSettings = { ...DEFAULTS, ...p, ...overrides };
  if (preset === 'discrete-top-k') {
    // Its candidate set is the mixtures' top k: one knob, so the two can never disagree.
    if (overrides.discreteTopK !== undefined && overrides.discreteTopK !== s.k)
      throw new SettingsError(
        'incompatible',
        'discreteTopK',
        `discrete-top-k samples from the top k (k = ${s.k}): set k, not discreteTopK (${overrides.discreteTopK})`,
      );
    s.discreteTopK = s.k;
  }
  return validateMotSettings(s, V);
}
