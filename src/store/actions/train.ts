// GRPO training from the Train panel: start / pause / resume / single step / stop a run in the engine
// worker. Metrics arrive per step through a comlink proxy callback and are appended to the run's history
// (one small setState per step, so the page stays responsive); a light poll of trainingState() notices
// the end of a run, a pause and errors. Finished runs stay in the store so their charts overlay, and every
// change lands in the live run (saved for reloads, exported with it). The trained policy can be taken away
// as a peft adapter or a whole Hugging Face folder.

import { proxy } from 'comlink';
import { downloadBlob } from '../../client/download.ts';
import { engineClient } from '../../client/engineClient.ts';
import type { StepMetrics } from '../../rl/metrics.ts';
import type { TrainingState } from '../../rl/session.ts';
import type { ScoredTrajectory } from '../../rl/trainer.ts';
import type { TrainingResume } from '../../worker/api.ts';
import { clearTrainingCheckpoint, loadTrainingCheckpoint, saveTrainingCheckpoint } from '../lib/persist.ts';
import { MAX_KEPT_ROLLOUTS, rolloutRecord } from '../lib/runFile.ts';
import { type TrainRun, useStore } from '../store.ts';
import { runLabel, type TrainForm, trainingSettingsOf } from '../trainForm.ts';
import { updateLive } from './run.ts';
import { setTrain } from './settings.ts';

const POLL_MS = 1000;
let poll: ReturnType<typeof setInterval> | null = null;
let seq = 0;

/** Changes the GRPO form (settings.train, so it lands in the URL hash). */
export function setTrainForm(patch: Partial<TrainForm>): void {
  setTrain(patch);
}

/** Writes the training runs into the live run (shown, and saved for a reload). */
function saveRuns(opts: { flush?: boolean } = {}): void {
  const runs = useStore.getState().trainRuns;
  updateLive((r) => ({ ...r, train: runs }), opts);
}

function errorOf(e: unknown): { code?: string; message: string } {
  const err = e as { code?: string; message?: string };
  return { code: err?.code, message: err?.message ?? String(e) };
}

function patchRun(id: string, fn: (r: TrainRun) => TrainRun): void {
  useStore.setState((s) => ({ trainRuns: s.trainRuns.map((r) => (r.id === id ? fn(r) : r)) }));
}

function currentRun(): TrainRun | null {
  const s = useStore.getState();
  return s.trainActive ? (s.trainRuns[s.trainRuns.length - 1] ?? null) : null;
}

const ENDED = new Set(['stopped', 'finished', 'error']);

/** Takes the worker's state into the current run; ends the run when the worker says it ended. */
function applyState(id: string, st: TrainingState | null): void {
  if (!st) return;
  const before = useStore.getState().trainRuns.find((r) => r.id === id);
  if (!before) return;
  const history = st.history.length >= before.history.length ? st.history : before.history;
  const changed =
    before.status !== st.status ||
    before.maxSteps !== st.maxSteps ||
    history.length !== before.history.length;
  if (changed)
    patchRun(id, (r) => ({
      ...r,
      status: st.status,
      maxSteps: st.maxSteps,
      // The worker's history is authoritative (a step whose callback was missed still shows).
      history: st.history.length >= r.history.length ? st.history : r.history,
    }));
  if (st.error)
    useStore.setState({
      trainError: { code: st.error.code, message: st.error.message, during: 'run' },
      // A device lost mid-run puts the page into its recovery state (restart on the GPU, or the CPU).
      ...(st.error.code === 'gpu-device-lost' ? { lost: true } : {}),
    });
  const ended = ENDED.has(st.status);
  if (changed || ended) saveRuns({ flush: ended });
  if (ended) endRun();
  // Only a run that failed can still be resumed: a finished or stopped run's checkpoint is let go.
  if (ended && st.status !== 'error') forgetCheckpoint(id);
}

function forgetCheckpoint(runId: string | null): void {
  const kept = useStore.getState().trainCheckpoint;
  if (!kept || (runId !== null && kept.runId !== runId)) return;
  useStore.setState({ trainCheckpoint: null });
  void clearTrainingCheckpoint();
}

function endRun(): void {
  if (poll) clearInterval(poll);
  poll = null;
  // A refusal of a second start no longer applies once the run has ended.
  useStore.setState({ trainActive: false, trainBusy: false, trainNotice: null });
}

function startPolling(id: string): void {
  if (poll) clearInterval(poll);
  let inFlight = false;
  poll = setInterval(() => {
    if (inFlight) return;
    inFlight = true;
    engineClient()
      .trainingState()
      .then((st) => applyState(id, st))
      .catch(() => {})
      .finally(() => {
        inFlight = false;
      });
  }, POLL_MS);
}

/** The model a run trains, as the page names it. */
function modelLabel(s = useStore.getState()): string | undefined {
  return s.modelName ?? s.model?.label;
}

export async function startTraining(): Promise<void> {
  const s0 = useStore.getState();
  if (refusedWhileActive(s0) || s0.status !== 'ready' || !s0.model) return;
  const f0 = s0.settings.train;
  const form: TrainForm = { ...f0, tasks: f0.tasks.map((t) => ({ ...t })) };
  const id = `train-${Date.now().toString(36)}-${++seq}`;
  const run: TrainRun = {
    id,
    label: runLabel(form, s0.trainRuns.length + 1),
    form,
    backend: s0.adapter?.backend ?? 'cpu',
    status: 'idle',
    maxSteps: form.steps,
    history: [],
    model: modelLabel(s0),
    // The Evaluate panel's items stay unseen: training redraws any of the first n held-out questions.
    heldOut: s0.settings.eval.n,
  };
  useStore.setState((s) => ({ trainRuns: [...s.trainRuns, run] }));
  await launch(run, null);
}

function refusedWhileActive(s: ReturnType<typeof useStore.getState>): boolean {
  if (!s.trainActive && !s.trainBusy) return false;
  useStore.setState({
    trainNotice: 'A run is already in progress: pause or stop it before starting another.',
  });
  return true;
}

/** Why an interrupted run cannot be resumed now (null: it can). */
export function resumeRefusal(run: TrainRun, s = useStore.getState()): string | null {
  if (s.trainCheckpoint?.runId !== run.id || run.checkpointStep !== s.trainCheckpoint.step)
    return 'No checkpoint of this run is kept in this browser.';
  if (run.form.continueRun)
    return 'This run continued from an earlier run’s weights, which are gone with the page.';
  if (s.status !== 'ready' || !s.model) return 'Load the model first.';
  if (run.model && run.model !== modelLabel(s)) return `Load ${run.model} first: this run trained it.`;
  if (s.trainActive || s.trainBusy) return 'Another run is in progress.';
  return null;
}

/**
 * Continues a run that a reload or a closed tab interrupted, from its checkpoint kept in the browser: the
 * steps after the checkpoint are dropped and run again (every random choice is counter-based on the seed
 * and the step, so they come out as they would have).
 */
export async function resumeInterruptedRun(id: string): Promise<void> {
  const s0 = useStore.getState();
  const run = s0.trainRuns.find((r) => r.id === id);
  if (!run || (run.status !== 'interrupted' && run.status !== 'error')) return;
  const why = resumeRefusal(run, s0);
  if (why) {
    useStore.setState({ trainNotice: why });
    return;
  }
  const stored = await loadTrainingCheckpoint();
  if (!stored || stored.runId !== id) {
    useStore.setState({
      trainNotice: 'The checkpoint of this run is no longer in this browser.',
      trainCheckpoint: null,
    });
    return;
  }
  const history = run.history.filter((m) => m.step <= stored.step);
  patchRun(id, (r) => ({
    ...r,
    status: 'idle',
    history,
    latest: undefined,
    backend: s0.adapter?.backend ?? r.backend,
  }));
  await launch({ ...run, history }, { checkpoint: stored.bytes, history }, run);
}

/** Runs `run` in the worker (a new run, or a resumed one from its checkpoint). */
async function launch(run: TrainRun, resume: TrainingResume | null, before?: TrainRun): Promise<void> {
  const { id, form } = run;
  useStore.setState((s) => ({
    trainActive: true,
    trainBusy: true,
    trainError: null,
    trainNotice: null,
    trainTabRun: { id, load: s.loads },
  }));
  // The page shows this tab's run from the start (not the example or an import until the first step).
  saveRuns();
  const onStep = proxy((metrics: StepMetrics, rollouts: ScoredTrajectory[]) => {
    // The latest group's completions are kept with the run when they are few (they show in the table).
    const latest =
      rollouts.length <= MAX_KEPT_ROLLOUTS ? { G: form.G, rollouts: rollouts.map(rolloutRecord) } : undefined;
    patchRun(id, (r) => ({
      ...r,
      history: r.history.some((m) => m.step === metrics.step) ? r.history : [...r.history, metrics],
      latest,
    }));
    saveRuns();
  });
  const onCheckpoint = proxy(async (bytes: Uint8Array, step: number) => {
    if (!(await saveTrainingCheckpoint({ runId: id, step, bytes }))) return;
    useStore.setState({ trainCheckpoint: { runId: id, step } });
    patchRun(id, (r) => ({ ...r, checkpointStep: step }));
    saveRuns({ flush: true });
  });
  try {
    const st = await engineClient().startTraining(
      trainingSettingsOf(form, run.heldOut ?? 0),
      onStep,
      onCheckpoint,
      resume ?? undefined,
    );
    useStore.setState({ trainBusy: false });
    applyState(id, st);
    if (useStore.getState().trainActive) startPolling(id);
  } catch (e) {
    const err = errorOf(e);
    if (err.code === 'already-running') {
      // The worker runs a run this page does not know about (e.g. after a reload): refuse clearly.
      useStore.setState((s) => ({
        trainRuns: resume ? s.trainRuns : s.trainRuns.filter((r) => r.id !== id),
        trainTabRun: null,
        trainActive: false,
        trainBusy: false,
        trainNotice: 'A run is already in progress in the engine: stop it before starting another.',
      }));
      return;
    }
    // A resume that failed leaves the run as it was.
    patchRun(id, (r) => (before ? before : { ...r, status: 'error' }));
    // A run that never started leaves no series behind.
    useStore.setState((s) => ({
      trainRuns: s.trainRuns.filter((r) => r.id !== id || r.history.length > 0),
      trainError: { ...err, during: 'run' },
      ...(err.code === 'gpu-device-lost' ? { lost: true } : {}),
    }));
    endRun();
    saveRuns({ flush: true });
  }
}

async function control(fn: 'pauseTraining' | 'resumeTraining' | 'stepTraining' | 'stopTraining') {
  const run = currentRun();
  if (!run || useStore.getState().trainBusy) return;
  useStore.setState({ trainBusy: true, trainNotice: null });
  try {
    const st = await engineClient()[fn]();
    useStore.setState({ trainBusy: false });
    applyState(run.id, st);
  } catch (e) {
    const err = errorOf(e);
    useStore.setState({
      trainBusy: false,
      trainError: { ...err, during: 'run' },
      ...(err.code === 'gpu-device-lost' ? { lost: true } : {}),
    });
  }
}

export const pauseTraining = () => control('pauseTraining');
export const resumeTraining = () => control('resumeTraining');
export const stepTraining = () => control('stepTraining');
export const stopTraining = () => control('stopTraining');

/** Drops finished runs from the charts (the current one stays). */
export function clearFinishedRuns(): void {
  useStore.setState((s) => ({
    trainRuns: s.trainActive ? s.trainRuns.slice(-1) : [],
  }));
  const kept = useStore.getState().trainCheckpoint;
  if (kept && !useStore.getState().trainRuns.some((r) => r.id === kept.runId)) forgetCheckpoint(null);
  saveRuns({ flush: true });
}

/** The run whose trained policy the engine holds, when it can be exported now (no step running). */
export function exportableRun(s = useStore.getState()): TrainRun | null {
  const tab = s.trainTabRun;
  // A model loaded since (or a restarted engine) has released the trained policy.
  if (!tab || tab.load !== s.loads || !s.model) return null;
  const run = s.trainRuns.find((r) => r.id === tab.id);
  if (!run || run.history.length === 0 || s.trainBusy || s.trainExporting) return null;
  return run.status === 'paused' || run.status === 'stopped' || run.status === 'finished' ? run : null;
}

/**
 * Downloads the trained policy of this tab's latest run: a peft adapter (LoRA runs) or a whole Hugging
 * Face folder (full fine-tuning; the Model panel loads it back as a local folder), as one .zip.
 */
export async function exportTrainedModel(): Promise<void> {
  if (!exportableRun()) return;
  useStore.setState({ trainExporting: true, trainError: null });
  try {
    // The worker zips a tensor at a time into a Blob, which arrives by reference: neither side holds the
    // weights a second time as one array.
    const out = await engineClient().exportTrainedModelZip();
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
    downloadBlob(out.zip, `motg-${out.kind === 'adapter' ? 'adapter' : 'model'}-${stamp}.zip`);
  } catch (e) {
    useStore.setState({ trainError: { ...errorOf(e), during: 'export' } });
  } finally {
    useStore.setState({ trainExporting: false });
  }
}

export function dismissTrainError(): void {
  useStore.setState({ trainError: null, trainNotice: null });
}

/** The compatible setting for the WebGPU trainer: paper likelihood scored at temperature 1. */
export function applyGpuCompatibleSetting(): void {
  setTrainForm({ likelihood: 'paper-one' });
  dismissTrainError();
}
