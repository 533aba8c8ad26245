// The guided first path (shown on a first visit, remembered in localStorage, reopened from the header's
// Guide button) and the explainer's step. Each guide step advances when its action has happened in this
// page, whoever did it: the guide's own button or the panels' controls.
import { engineClient } from '../../client/engineClient.ts';
import type { RolloutRequest } from '../../worker/api.ts';
import { explainedSide, isMixtureMode, sideSpread } from '../lib/explain.ts';
import { type State, useStore } from '../store.ts';
import type { DecodeMode, EvalRun, TrainRunRecord as TrainRun } from '../types.ts';
import { runDecode } from './decode.ts';
import { runEval } from './evaluate.ts';
import { setDecode, setEval, setTrain } from './settings.ts';
import { startTraining } from './train.ts';

const KEY = 'motg-playground:guide';

/** Decode → inspect a mixture step → evaluate both modes → train both → compare. */
export const GUIDE_STEPS = 5;

/** The guide's one-click settings: small, so a software GPU (and a slow laptop) finishes in minutes. */
export const GUIDE_TINY = {
  // Long enough for the built-in model to finish a chain_sum trace (about 17 tokens) and answer.
  decodeTokens: 24,
  evalQuestions: 2,
  evalTokens: 32,
  trainG: 2,
  trainSteps: 3,
  trainTokens: 24,
} as const;

interface Saved {
  open: boolean;
  step: number;
}

function load(): Saved | null {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const v = JSON.parse(raw) as Partial<Saved>;
    const step = Number.isInteger(v.step) ? Math.min(Math.max(0, v.step as number), GUIDE_STEPS - 1) : 0;
    return { open: v.open === true, step };
  } catch {
    return null;
  }
}

function save(v: Saved): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(v));
  } catch {
    // private mode: the guide comes back on the next visit
  }
}

// What happened in this page since the current step began (a restored run's results do not count).
let inspected = false;
const freshEvals = new Set<string>();
const freshRuns = new Set<string>();
let decoded = false;

function enterStep(step: number): void {
  inspected = false;
  decoded = false;
  freshEvals.clear();
  freshRuns.clear();
  useStore.setState({ guideStep: step });
  save({ open: useStore.getState().guideOpen, step });
}

const NO_EVALS: EvalRun[] = [];

/** Two finished evaluations of the same questions, one baseline mode and one mixture, one of them new. */
export function evalPair(evals: EvalRun[], fresh: ReadonlySet<string>): [EvalRun, EvalRun] | null {
  const done = evals.filter((e) => e.status === 'done');
  const items = (e: EvalRun) =>
    JSON.stringify([[...e.settings.tasks].sort(), e.settings.level, e.settings.n, e.settings.seed]);
  for (const a of done)
    for (const b of done)
      if (
        !isMixtureMode(a.settings.mode) &&
        isMixtureMode(b.settings.mode) &&
        items(a) === items(b) &&
        (fresh.has(a.id) || fresh.has(b.id))
      )
        return [a, b];
  return null;
}

/** Two training runs that ran to their end, one baseline preset and one mixture, one of them new. */
export function trainPair(runs: TrainRun[], fresh: ReadonlySet<string>): [TrainRun, TrainRun] | null {
  const ended = runs.filter(
    (r) => r.history.length > 0 && (r.status === 'finished' || r.status === 'stopped'),
  );
  for (const a of ended)
    for (const b of ended)
      if (
        !isMixtureMode(a.form.preset as DecodeMode) &&
        isMixtureMode(b.form.preset as DecodeMode) &&
        (fresh.has(a.id) || fresh.has(b.id))
      )
        return [a, b];
  return null;
}

function stepDone(step: number, s: State): boolean {
  switch (step) {
    case 0:
      return decoded;
    case 1:
      return inspected;
    case 2:
      return evalPair(s.live?.evals ?? NO_EVALS, freshEvals) !== null;
    case 3:
      return trainPair(s.trainRuns, freshRuns) !== null;
    default:
      return false; // the last step ends with its Finish button
  }
}

/** Notes what just happened (a decode, an evaluation or a training run ended) and moves the guide on. */
function observe(s: State, prev: State): void {
  if (!prev.streaming && s.streaming) useStore.setState({ explainStep: 0 });
  if (prev.decodeRunning && !s.decodeRunning && s.live?.decode?.sides.some((x) => x.stopReason !== 'running'))
    decoded = true;
  if (prev.evalRunning && !s.evalRunning) {
    const last = s.live?.evals[s.live.evals.length - 1];
    if (last) freshEvals.add(last.id);
  }
  if (prev.trainActive && !s.trainActive) {
    const last = s.trainRuns[s.trainRuns.length - 1];
    if (last) freshRuns.add(last.id);
  }
  if (s.guideOpen && s.guideStep < GUIDE_STEPS - 1 && stepDone(s.guideStep, s)) enterStep(s.guideStep + 1);
}

let started = false;

/** Once per page: open the guide on a first visit (or where a reload left it) and start watching. */
export function initGuide(): void {
  if (started) return;
  started = true;
  const saved = load();
  const open = saved ? saved.open : true;
  useStore.setState({ guideOpen: open, guideStep: saved?.step ?? 0 });
  if (!saved) save({ open, step: 0 });
  useStore.subscribe(observe);
}

/** The header's Guide button: the path from its first step. */
export function openGuide(): void {
  useStore.setState({ guideOpen: true });
  enterStep(0);
}

/** Closing (or finishing) is remembered: the next visit starts without the guide. */
export function closeGuide(): void {
  useStore.setState({ guideOpen: false });
  save({ open: false, step: useStore.getState().guideStep });
}

/** The explainer shows decode step `i`; a person choosing a mixture step is the guide's "inspect" step. */
export function inspectStep(i: number): void {
  const s = useStore.getState();
  useStore.setState({ explainStep: Math.max(0, i) });
  const side = explainedSide(s.streaming ?? s.shown?.decode ?? null);
  if (side?.steps[i]?.mode === 'mixture' && side.steps[i].ids.length > 1) {
    inspected = true;
    const now = useStore.getState();
    if (now.guideOpen && now.guideStep === 1) enterStep(2);
  }
}

/** The explainer jumps to the decode's most mixed step (largest effective number of tokens). */
export function inspectMostMixed(): void {
  const s = useStore.getState();
  const side = explainedSide(s.streaming ?? s.shown?.decode ?? null);
  const best = side ? sideSpread(side).mostMixed : null;
  if (best !== null) inspectStep(best);
}

async function busy(label: string, fn: () => Promise<void>): Promise<void> {
  if (useStore.getState().guideBusy) return;
  useStore.setState({ guideBusy: label });
  try {
    await fn();
  } finally {
    useStore.setState({ guideBusy: null });
  }
}

/** Step 1's button: a short side-by-side decode. */
export function guideDecode(): Promise<void> {
  return busy('decoding', async () => {
    setDecode({ maxNewTokens: GUIDE_TINY.decodeTokens }, { rerun: false });
    await runDecode();
  });
}

/** The decode's baseline and preset: the two modes the guide compares everywhere. */
export function guideModes(s = useStore.getState()): [DecodeMode, DecodeMode] {
  return [s.settings.decode.baseline, s.settings.decode.preset];
}

/** Step 3's button: the same questions evaluated in both modes, one after the other. */
export function guideEvaluateBoth(): Promise<void> {
  return busy('evaluating', async () => {
    setEval({ n: GUIDE_TINY.evalQuestions, maxNewTokens: GUIDE_TINY.evalTokens, samples: 1 });
    for (const mode of guideModes()) {
      setEval({ mode });
      await runEval();
      const s = useStore.getState();
      if (s.errors.eval || s.status !== 'ready') return;
    }
  });
}

function until(pred: (s: State) => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (pred(useStore.getState())) return resolve();
    const stop = useStore.subscribe((s) => {
      if (!pred(s)) return;
      stop();
      resolve();
    });
  });
}

/** Step 4's button: two tiny GRPO runs from the same model and seed, the baseline's then the preset's. */
export function guideTrainBoth(): Promise<void> {
  return busy('training', async () => {
    for (const preset of guideModes()) {
      setTrain({
        preset,
        G: GUIDE_TINY.trainG,
        steps: GUIDE_TINY.trainSteps,
        maxCompletion: GUIDE_TINY.trainTokens,
        // The likelihood that trains on WebGPU and on the CPU; both runs start from the model as loaded.
        likelihood: 'paper-one',
        continueRun: false,
      });
      await startTraining();
      await until((s) => !s.trainActive && !s.trainBusy);
      const s = useStore.getState();
      if (s.trainError || s.trainNotice || s.status !== 'ready') return;
    }
  });
}

// e2e (`?test-hooks`): the page's own engine client, so a test can ask the engine for the very rollout the
// explainer shows and compare the numbers (test/e2e/explainer.spec.ts).
if (typeof location !== 'undefined' && new URLSearchParams(location.search).has('test-hooks')) {
  (globalThis as { __motgEngine?: unknown }).__motgEngine = {
    tokenize: (text: string) => engineClient().tokenize(text),
    rollout: (req: RolloutRequest) => engineClient().rollout(req),
  };
}
