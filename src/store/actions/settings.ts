// Settings changes: every one lands in the URL hash (a link reproduces the setup); decode knobs re-run
// the side-by-side decode after a pause; memory knobs only re-estimate (the model is never reloaded).
import { makeSettings } from '../../mot/presets.ts';
import { syncHash } from '../lib/hash.ts';
import { levelFor, settingsFromHash } from '../settings.ts';
import { useStore } from '../store.ts';
import type { TrainForm } from '../trainForm.ts';
import type {
  DecodeSettings,
  EvalSettings,
  ExperimentSettings,
  MemorySettings,
  MixPreset,
} from '../types.ts';
import { scheduleDecode } from './decode.ts';

function setSettings(next: ExperimentSettings): void {
  useStore.setState({ settings: next });
  syncHash(next);
}

export function setDecode(patch: Partial<DecodeSettings>, opts: { rerun?: boolean } = {}): void {
  const s = useStore.getState().settings;
  const decode = { ...s.decode, ...patch };
  if (patch.task !== undefined) decode.level = levelFor(decode.task, decode.level);
  setSettings({ ...s, decode });
  if (opts.rerun !== false) scheduleDecode(patch.text !== undefined ? 700 : 350);
}

/** A new preset brings its own k, top-p, min-p, … into the knobs (the temperature stays). */
export function setPreset(preset: MixPreset): void {
  const m = makeSettings(preset);
  setDecode({
    preset,
    k: m.k,
    concentration: m.concentration,
    topP: m.topP,
    minP: m.minP,
    gumbelTau: m.gumbelTau,
    moiBeta: m.moiBeta,
    noiseSigma: preset === 'soft-tokens' ? m.noiseSigma : useStore.getState().settings.decode.noiseSigma,
  });
}

export function setEval(patch: Partial<EvalSettings>): void {
  const s = useStore.getState().settings;
  setSettings({ ...s, eval: { ...s.eval, ...patch } });
}

export function setMemory(patch: Partial<MemorySettings>): void {
  const s = useStore.getState().settings;
  setSettings({ ...s, memory: { ...s.memory, ...patch } });
}

/** The GRPO form: lands in the URL like every other setting (a link reproduces the run's setup). */
export function setTrain(patch: Partial<TrainForm>): void {
  const s = useStore.getState().settings;
  setSettings({ ...s, train: { ...s.train, ...patch } });
}

/** Takes over the settings of the run on screen (an example or an imported run). */
export function adoptShownSettings(): void {
  const shown = useStore.getState().shown;
  if (!shown) return;
  const current = useStore.getState().settings;
  // The model stays: loading one is never a side effect of a settings change.
  setSettings({ ...shown.settings, model: current.model });
  scheduleDecode();
}

/** Someone edited the hash (or followed a link to this open page). */
export function applyHash(): void {
  const s = useStore.getState().settings;
  // A link describes the whole setup: what it leaves out is the default.
  const next = settingsFromHash(location.hash);
  useStore.setState({ settings: next });
  if (JSON.stringify(next.decode) !== JSON.stringify(s.decode)) scheduleDecode();
}
