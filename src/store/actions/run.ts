// The run on screen and the page's own (live) run: the example shown before any model loads, the live
// run restored after a reload, imported runs, and saving the live run after every result.

import { clearTrainingCheckpoint, loadLiveRun, loadTrainingCheckpoint, saveLiveRun } from '../lib/persist.ts';
import { newRun, parseRunFile } from '../lib/runFile.ts';
import { settingsFromHash } from '../settings.ts';
import { setError, useStore } from '../store.ts';
import type { ModelSummary, RunFile } from '../types.ts';

export const EXAMPLE_RUN_URL = `${import.meta.env.BASE_URL}example-run.json`;

function modelSummary(): ModelSummary | null {
  const { model: m, modelName } = useStore.getState();
  if (!m) return null;
  return {
    label: modelName ?? m.label,
    numParameters: m.numParameters,
    layers: m.config.numHiddenLayers,
    hiddenSize: m.config.hiddenSize,
    vocabSize: m.config.vocabSize,
  };
}

function producedWith(): string {
  const a = useStore.getState().adapter;
  if (!a) return 'browser';
  return a.backend === 'cpu'
    ? 'browser, CPU path'
    : `browser, WebGPU ${[a.vendor, a.architecture].filter(Boolean).join(' ')}`;
}

/** The live run, created on first use from the current settings. */
export function ensureLive(): RunFile {
  const s = useStore.getState();
  if (s.live) return s.live;
  const live = newRun(`run ${new Date().toLocaleString()}`, s.settings, producedWith(), modelSummary());
  useStore.setState({ live });
  return live;
}

let saveTimer: ReturnType<typeof setTimeout> | null = null;

/** Replaces the live run (and shows it); saved for reloads, at most every 300 ms while busy. */
export function updateLive(patch: (r: RunFile) => RunFile, opts: { flush?: boolean } = {}): void {
  const base = ensureLive();
  const s = useStore.getState();
  const live = patch({
    ...base,
    settings: s.settings,
    model: modelSummary() ?? base.model,
    producedWith: producedWith(),
  });
  useStore.setState({ live, shown: live, origin: 'live' });
  const save = () => {
    if (saveTimer) clearTimeout(saveTimer);
    saveTimer = null;
    void saveLiveRun(useStore.getState().live ?? live);
  };
  // A throttle, not a debounce: a steady stream of updates (training steps) is still saved.
  if (opts.flush) save();
  else if (!saveTimer) saveTimer = setTimeout(save, 300);
}

/**
 * First paint: the saved live run if there is one, else the bundled example. Settings come from the
 * URL hash when it has any, else from the restored run.
 */
export async function initRuns(): Promise<void> {
  const hash = location.hash;
  let restored: RunFile | null = null;
  try {
    const text = await loadLiveRun();
    if (text) restored = parseRunFile(text);
    // An evaluation or a training run still going when the page went away was interrupted (the engine
    // that ran it is gone with the page).
    if (restored) {
      restored.evals = restored.evals.map((e) =>
        e.status === 'running' ? { ...e, status: 'interrupted' } : e,
      );
      restored.train = restored.train.map((t) =>
        t.status === 'idle' || t.status === 'paused' ? { ...t, status: 'interrupted' } : t,
      );
    }
  } catch {
    restored = null;
  }
  if (restored) {
    await findCheckpoint(restored);
    // A link describes the whole setup; without one the restored run's settings come back.
    const settings = hash.length > 1 ? settingsFromHash(hash) : restored.settings;
    useStore.setState({
      live: restored,
      shown: restored,
      origin: 'restored',
      settings,
      // The restored training runs are the live run's: new runs of this tab join them on the charts.
      trainRuns: restored.train,
    });
    return;
  }
  useStore.setState({ settings: settingsFromHash(hash) });
  try {
    const res = await fetch(EXAMPLE_RUN_URL);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const example = parseRunFile(await res.text());
    if (!useStore.getState().shown) useStore.setState({ shown: example, origin: 'example' });
  } catch (e) {
    setError('run', new Error(`The example run could not be loaded (${(e as Error).message}).`));
  }
}

/**
 * The kept training checkpoint, when it belongs to a restored run that reached its step (the run file may
 * have been saved just before the checkpoint was: its step is then taken from the checkpoint).
 */
async function findCheckpoint(restored: RunFile): Promise<void> {
  const kept = await loadTrainingCheckpoint();
  if (!kept) return;
  const run = restored.train.find((t) => t.id === kept.runId);
  if (!run?.history.some((m) => m.step === kept.step)) {
    await clearTrainingCheckpoint();
    return;
  }
  run.checkpointStep = kept.step;
  useStore.setState({ trainCheckpoint: { runId: kept.runId, step: kept.step } });
}

export function showImported(run: RunFile): void {
  useStore.setState({ shown: run, origin: 'imported' });
}

export function showLive(): void {
  const live = useStore.getState().live;
  if (live) useStore.setState({ shown: live, origin: 'live' });
}
