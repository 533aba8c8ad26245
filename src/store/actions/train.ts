// GRPO training from the Train panel: start / pause / resume / single step / stop a run in the engine
// worker. Metrics arrive per step through a comlink proxy callback and are appended to the run's history
// (one small setState per step, so the page stays responsive); a light poll of trainingState() notices
// the end of a run, a pause and errors. Finished runs stay in the store so their charts overlay, and every
// change lands in the live run (saved for reloads, exported with it). The trained policy can be taken away
// as a peft adapter or a whole Hugging Face folder.

import { proxy } from 'comlink';
import { downloadPieces } from '../../client/download.ts';
import { engineClient } from '../../client/engineClient.ts';
import { zipChunks } from '../../client/zip.ts';
import type { StepMetrics } from '../../rl/metrics.ts';
import type { TrainingState } from '../../rl/session.ts';
import type { ScoredTrajectory } from '../../rl/trainer.ts';
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

export async function startTraining(): Promise<void> {
  const s0 = useStore.getState();
  if (s0.trainActive || s0.trainBusy) {
    useStore.setState({
      trainNotice: 'A run is already in progress: pause or stop it before starting another.',
    });
    return;
  }
  if (s0.status !== 'ready' || !s0.model) return;
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
  };
  useStore.setState((s) => ({
    trainRuns: [...s.trainRuns, run],
    trainActive: true,
    trainBusy: true,
    trainError: null,
    trainNotice: null,
    trainTabRun: { id, load: s.loads },
  }));
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
  try {
    const st = await engineClient().startTraining(trainingSettingsOf(form), onStep);
    useStore.setState({ trainBusy: false });
    applyState(id, st);
    if (useStore.getState().trainActive) startPolling(id);
  } catch (e) {
    const err = errorOf(e);
    if (err.code === 'already-running') {
      // The worker runs a run this page does not know about (e.g. after a reload): refuse clearly.
      useStore.setState((s) => ({
        trainRuns: s.trainRuns.filter((r) => r.id !== id),
        trainTabRun: null,
        trainActive: false,
        trainBusy: false,
        trainNotice: 'A run is already in progress in the engine: stop it before starting another.',
      }));
      return;
    }
    patchRun(id, (r) => ({ ...r, status: 'error' }));
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
    const out = await engineClient().exportTrainedModel();
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
    const name = `motg-${out.kind === 'adapter' ? 'adapter' : 'model'}-${stamp}.zip`;
    // Streamed into the download: the page never holds the weights a second time as one zip array.
    downloadPieces(zipChunks(out.files), name, 'application/zip');
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
