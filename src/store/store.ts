// The page's one zustand store, built from slices. Slices hold data only; the actions that change it
// are plain functions in src/store/actions/ (the worker's callbacks call them too).
import { create, type StateCreator } from 'zustand';
import type { FileProgress } from '../client/hub.ts';
import type { Qwen2Config } from '../engine/config.ts';
import type { AdapterInfo, ModelInfo } from '../worker/api.ts';
import { DEFAULT_SETTINGS } from './settings.ts';
import type { DecodeResult, ExperimentSettings, RunFile, TrainRunRecord } from './types.ts';

export type EngineStatus = 'idle' | 'starting' | 'loading' | 'ready' | 'error';
export type ErrorWhere = 'engine' | 'model' | 'decode' | 'eval' | 'run';

export interface UiError {
  code?: string;
  message: string;
}

/** A training panel failure: of the run itself, or of exporting the trained model. */
export interface TrainUiError extends UiError {
  during?: 'run' | 'export';
}

export interface EngineSlice {
  status: EngineStatus;
  adapter: AdapterInfo | null;
  model: ModelInfo | null;
  /** Config of the loaded model, or of the one being checked before loading. */
  config: Qwen2Config | null;
  /** config.json's torch_dtype of that model (what `auto` weights resolve to before the headers are read). */
  configDtype: string | null;
  /** What is being loaded (or was last tried), for labels. */
  loadingLabel: string | null;
  /** The loaded model's name as the user knows it (built-in id, Hub id, folder name). */
  modelName: string | null;
  /** Per-file download progress of the current load. */
  progress: FileProgress[];
  /** Models loaded so far in this page (cheap controls never add to it). */
  loads: number;
  /** The GPU device was lost: the engine must restart. */
  lost: boolean;
  /** The page itself sees navigator.gpu. */
  webgpuInPage: boolean;
  /** The user asked for the CPU path (?backend=cpu, or after a lost device). */
  forceCpu: boolean;
}

export interface SettingsSlice {
  settings: ExperimentSettings;
}

export interface DecodeSlice {
  decodeRunning: boolean;
  /** The engine answers rollout() (false only for an engine built without it: then generate, discrete). */
  rollout: boolean;
}

export interface EvalSlice {
  evalRunning: boolean;
  evalProgress: { done: number; total: number } | null;
}

export type RunOrigin = 'example' | 'restored' | 'imported' | 'live';

export interface RunSlice {
  /** The run on screen. */
  shown: RunFile | null;
  origin: RunOrigin | null;
  /** This page's own run (what decode and evaluate write to; saved for reloads). */
  live: RunFile | null;
  /** Streaming view of the decode in progress (replaces shown.decode while running). */
  streaming: DecodeResult | null;
}

/** One GRPO run of the live run: its settings and every step's metrics (finished runs stay for overlays). */
export type TrainRun = TrainRunRecord;

export interface TrainSlice {
  /** Runs of the live run (restored ones included), oldest first; the last is the current one while
   * `trainActive`. The form is `settings.train`. */
  trainRuns: TrainRun[];
  /** The latest run started in this tab, and the model load it trained (`loads` then): while no other
   * model has loaded since, the engine holds its trained weights (for export). */
  trainTabRun: { id: string; load: number } | null;
  /** The trained model is being exported. */
  trainExporting: boolean;
  /** A run is starting, running or paused in the worker. */
  trainActive: boolean;
  /** A control (start, pause, step, stop) is waiting for the worker's answer. */
  trainBusy: boolean;
  /** The latest training failure (kept apart from the page's notices: it comes with its own remedies). */
  trainError: TrainUiError | null;
  /** A refusal that is not a failure (a second start while a run runs). */
  trainNotice: string | null;
  /** The run whose checkpoint the browser keeps (IndexedDB), and its step: it can be resumed. */
  trainCheckpoint: { runId: string; step: number } | null;
}

/** The guided first path and the explainer's step (actions: src/store/actions/guide.ts). */
export interface GuideSlice {
  guideOpen: boolean;
  /** The guide's current step (0-based, GUIDE_STEPS in guide.ts). */
  guideStep: number;
  /** What a guide action is doing now (its buttons wait), or null. */
  guideBusy: string | null;
  /** The decode step the explainer shows (clamped to the decode on screen). */
  explainStep: number;
}

export interface ErrorSlice {
  errors: Partial<Record<ErrorWhere, UiError>>;
}

export type State = EngineSlice &
  SettingsSlice &
  DecodeSlice &
  EvalSlice &
  RunSlice &
  TrainSlice &
  GuideSlice &
  ErrorSlice;
type Slice<T> = StateCreator<State, [], [], T>;

const engineSlice: Slice<EngineSlice> = () => ({
  status: 'idle',
  adapter: null,
  model: null,
  config: null,
  configDtype: null,
  loadingLabel: null,
  modelName: null,
  progress: [],
  loads: 0,
  lost: false,
  webgpuInPage: typeof navigator !== 'undefined' && 'gpu' in navigator,
  forceCpu: typeof location !== 'undefined' && new URLSearchParams(location.search).get('backend') === 'cpu',
});

const settingsSlice: Slice<SettingsSlice> = () => ({ settings: DEFAULT_SETTINGS });
const decodeSlice: Slice<DecodeSlice> = () => ({ decodeRunning: false, rollout: true });
const evalSlice: Slice<EvalSlice> = () => ({ evalRunning: false, evalProgress: null });
const runSlice: Slice<RunSlice> = () => ({ shown: null, origin: null, live: null, streaming: null });
const trainSlice: Slice<TrainSlice> = () => ({
  trainRuns: [],
  trainTabRun: null,
  trainExporting: false,
  trainActive: false,
  trainBusy: false,
  trainError: null,
  trainNotice: null,
  trainCheckpoint: null,
});
const guideSlice: Slice<GuideSlice> = () => ({
  guideOpen: false,
  guideStep: 0,
  guideBusy: null,
  explainStep: 0,
});
const errorSlice: Slice<ErrorSlice> = () => ({ errors: {} });

export const useStore = create<State>()((...a) => ({
  ...engineSlice(...a),
  ...settingsSlice(...a),
  ...decodeSlice(...a),
  ...evalSlice(...a),
  ...runSlice(...a),
  ...trainSlice(...a),
  ...guideSlice(...a),
  ...errorSlice(...a),
}));

export function setError(where: ErrorWhere, e: unknown): void {
  const err = e as { code?: string; message?: string };
  const error: UiError = { code: err?.code, message: err?.message ?? String(e) };
  useStore.setState((s) => ({ errors: { ...s.errors, [where]: error } }));
}

/** Shared handling of an engine failure: a lost device flips the page into its recovery state. */
export function engineFailed(where: 'engine' | 'model' | 'decode' | 'eval', e: unknown): void {
  const code = (e as { code?: string }).code;
  if (code === 'gpu-device-lost') useStore.setState({ lost: true });
  setError(where, e);
}

export function clearError(where: ErrorWhere): void {
  useStore.setState((s) => {
    if (!s.errors[where]) return s;
    const errors = { ...s.errors };
    delete errors[where];
    return { errors };
  });
}
