// The run file: what export writes, import reads, a reload restores and the bundled example ships.
// Reading one checks its shape and re-validates its settings (a run file is untrusted input).
import type { StepMetrics } from '../../rl/metrics.ts';
import { sanitizeSettings, sanitizeTrainForm } from '../settings.ts';
import type {
  DecodeResult,
  EvalRun,
  ExperimentSettings,
  ModelSummary,
  RolloutRecord,
  RunFile,
  SideResult,
  TrainRunRecord,
  TrainRunStatus,
} from '../types.ts';

export function newRun(
  name: string,
  settings: ExperimentSettings,
  producedWith: string,
  model: ModelSummary | null,
): RunFile {
  return {
    format: 'motg-run',
    version: 1,
    name,
    createdAt: new Date().toISOString(),
    producedWith,
    model,
    settings,
    decode: null,
    evals: [],
    train: [],
  };
}

export class RunFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunFileError';
  }
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number => (typeof v === 'number' ? v : Number.NaN);

function checkSide(s: unknown, where: string): SideResult {
  if (!isObj(s) || typeof s.mode !== 'string' || !Array.isArray(s.steps))
    throw new RunFileError(`${where}: not a decode side (needs mode and steps)`);
  s.steps.forEach((st, i) => {
    if (
      !isObj(st) ||
      !Array.isArray(st.ids) ||
      !Array.isArray(st.weights) ||
      typeof st.representative !== 'number'
    )
      throw new RunFileError(`${where}.steps[${i}]: needs ids, weights and representative`);
    st.entropy = num(st.entropy);
    if (!Array.isArray(st.texts)) st.texts = (st.ids as number[]).map(() => '');
    if (typeof st.repText !== 'string') st.repText = '';
    if (!Array.isArray(st.hidden)) st.hidden = null;
  });
  return s as unknown as SideResult;
}

type KeysOf<T> = { [K in keyof StepMetrics]-?: StepMetrics[K] extends T ? K : never }[keyof StepMetrics];
type ScalarKey = KeysOf<number>;
type ArrayKey = KeysOf<number[]>;
/** Metrics that are null where they do not apply (no mixture step, no hidden states recorded). */
type NullableKeysOf<T> = {
  [K in keyof StepMetrics]-?: null extends StepMetrics[K]
    ? StepMetrics[K] extends T | null
      ? K
      : never
    : never;
}[keyof StepMetrics];
const STEP_NULLABLE_SCALARS_SET: Record<NullableKeysOf<number>, true> = {
  mixingStepFraction: true,
  weightEntropy: true,
  mixNormRatio: true,
  mixNearestCosine: true,
};
const STEP_NULLABLE_ARRAYS_SET: Record<NullableKeysOf<number[]>, true> = {
  hiddenEntropyScaleFree: true,
  hiddenEntropyByReasoningQuarter: true,
  hiddenEntropyScaleFreeByReasoningQuarter: true,
};
export const STEP_NULLABLE_SCALARS = Object.keys(STEP_NULLABLE_SCALARS_SET) as NullableKeysOf<number>[];
export const STEP_NULLABLE_ARRAYS = Object.keys(STEP_NULLABLE_ARRAYS_SET) as NullableKeysOf<number[]>[];

/** Every number of a GRPO step, in CSV column order (a Record, so a new metric cannot be forgotten). */
const STEP_SCALARS_SET: Record<ScalarKey, true> = {
  step: true,
  rewardMean: true,
  rewardStd: true,
  accuracy: true,
  scoreMean: true,
  formatRate: true,
  completionLength: true,
  truncatedRate: true,
  kl: true,
  clipFraction: true,
  zeroStdFraction: true,
  loss: true,
  gradNorm: true,
  lr: true,
  entropy: true,
  effectiveTokens: true,
  representativeNotArgmax: true,
  mixtureRate: true,
  tokensPerSecond: true,
  rolloutMs: true,
  trainMs: true,
  wallMs: true,
  elapsedMs: true,
  flops: true,
  skippedTotal: true,
  updates: true,
};
export const STEP_SCALARS = Object.keys(STEP_SCALARS_SET) as ScalarKey[];

/** The per-layer / per-position lists of a step (a metric a file lacks reads back as an empty list). */
type ListedArray = 'hiddenEntropy' | 'hiddenEntropyByPosition';
export const STEP_ARRAYS: ListedArray[] = ['hiddenEntropy', 'hiddenEntropyByPosition'];
// Fails to compile when StepMetrics gains a list that STEP_ARRAYS does not name.
const arraysListed: [ArrayKey] extends [ListedArray] ? true : never = true;
void arraysListed;

const TRAIN_STATUSES: readonly TrainRunStatus[] = [
  'idle',
  'running',
  'paused',
  'stopped',
  'finished',
  'error',
  'interrupted',
];

/** Most completions of a step a run keeps, and most characters of each text. */
export const MAX_KEPT_ROLLOUTS = 64;
const MAX_COMPLETION_CHARS = 2000;
const MAX_QUESTION_CHARS = 1000;

const str = (v: unknown, max = Number.POSITIVE_INFINITY): string =>
  typeof v === 'string' ? v.slice(0, max) : '';

/** A rollout as a run keeps it: the texts cut to a bounded length. */
export function rolloutRecord(r: {
  task: string;
  question: string;
  completion: string;
  reward: { total: number; answer: string | null; score: number };
  advantage: number;
  length: number;
  stopReason: string;
}): RolloutRecord {
  return {
    task: str(r.task, 200),
    question: str(r.question, MAX_QUESTION_CHARS),
    completion: str(r.completion, MAX_COMPLETION_CHARS),
    reward: r.reward.total,
    answer: typeof r.reward.answer === 'string' ? r.reward.answer.slice(0, MAX_COMPLETION_CHARS) : null,
    score: r.reward.score,
    advantage: r.advantage,
    length: r.length,
    stopReason: str(r.stopReason, 40),
  };
}

function checkStep(m: unknown, where: string): StepMetrics {
  if (!isObj(m) || typeof m.step !== 'number' || !Number.isFinite(m.step))
    throw new RunFileError(`${where}: needs a step number`);
  const out = {} as Record<string, unknown>;
  // NaN is written as null in JSON: any value that is not a number reads back as NaN.
  for (const k of STEP_SCALARS) out[k] = num(m[k]);
  for (const k of STEP_ARRAYS) {
    const v = m[k];
    out[k] = Array.isArray(v) ? v.map(num) : [];
  }
  // Absent (a file from before the metric) or null: does not apply.
  for (const k of STEP_NULLABLE_SCALARS) out[k] = typeof m[k] === 'number' ? m[k] : null;
  for (const k of STEP_NULLABLE_ARRAYS) {
    const v = m[k];
    out[k] = Array.isArray(v) ? v.map(num) : null;
  }
  out.skipped = m.skipped === true;
  return out as unknown as StepMetrics;
}

function checkRollout(r: unknown): RolloutRecord | null {
  if (!isObj(r)) return null;
  return {
    task: str(r.task, 200),
    question: str(r.question, MAX_QUESTION_CHARS),
    completion: str(r.completion, MAX_COMPLETION_CHARS),
    reward: num(r.reward),
    answer: typeof r.answer === 'string' ? r.answer.slice(0, MAX_COMPLETION_CHARS) : null,
    score: num(r.score),
    advantage: num(r.advantage),
    length: num(r.length),
    stopReason: str(r.stopReason, 40),
  };
}

function checkTrainRun(t: unknown, i: number): TrainRunRecord {
  const where = `train[${i}]`;
  if (!isObj(t) || !Array.isArray(t.history)) throw new RunFileError(`${where}: needs a history`);
  const history = t.history.map((m, j) => checkStep(m, `${where}.history[${j}]`));
  // Nothing runs in a file: a run that was running when it was written was interrupted there.
  const found = TRAIN_STATUSES.find((x) => x === t.status);
  const status = found === undefined || found === 'running' ? 'interrupted' : found;
  const maxSteps =
    typeof t.maxSteps === 'number' && Number.isInteger(t.maxSteps) && t.maxSteps >= 0
      ? t.maxSteps
      : history.length;
  const run: TrainRunRecord = {
    id: typeof t.id === 'string' && t.id !== '' ? t.id.slice(0, 100) : `train-${i + 1}`,
    label: typeof t.label === 'string' ? t.label.slice(0, 200) : `#${i + 1}`,
    form: sanitizeTrainForm(t.form),
    backend: str(t.backend, 40),
    status,
    maxSteps,
    history,
  };
  if (typeof t.model === 'string') run.model = t.model.slice(0, 200);
  if (typeof t.heldOut === 'number' && Number.isInteger(t.heldOut) && t.heldOut >= 0) run.heldOut = t.heldOut;
  const ck = t.checkpointStep;
  if (typeof ck === 'number' && Number.isInteger(ck) && ck >= 1 && ck <= history.length)
    run.checkpointStep = ck;
  const latest = t.latest;
  if (isObj(latest) && Array.isArray(latest.rollouts) && latest.rollouts.length <= MAX_KEPT_ROLLOUTS) {
    const G = typeof latest.G === 'number' && Number.isInteger(latest.G) && latest.G >= 1 ? latest.G : 1;
    const rollouts = latest.rollouts.map(checkRollout).filter((r): r is RolloutRecord => r !== null);
    run.latest = { G, rollouts };
  }
  return run;
}

/** Parses and checks a run file's JSON text. */
export function parseRunFile(text: string): RunFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new RunFileError(`not JSON (${(e as Error).message})`);
  }
  if (!isObj(raw) || raw.format !== 'motg-run')
    throw new RunFileError('not a MoT-G run file (format is not "motg-run")');
  if (raw.version !== 1)
    throw new RunFileError(`run file version ${String(raw.version)} is not supported (expected 1)`);
  let decode: DecodeResult | null = null;
  if (raw.decode !== null && raw.decode !== undefined) {
    const d = raw.decode;
    if (!isObj(d) || !Array.isArray(d.sides)) throw new RunFileError('decode: needs sides');
    decode = {
      prompt: typeof d.prompt === 'string' ? d.prompt : '',
      item: isObj(d.item) ? (d.item as unknown as DecodeResult['item']) : null,
      promptTokens: num(d.promptTokens),
      sides: d.sides.map((s, i) => checkSide(s, `decode.sides[${i}]`)),
    };
  }
  const evals = Array.isArray(raw.evals) ? raw.evals : [];
  evals.forEach((e, i) => {
    if (!isObj(e) || !Array.isArray(e.results)) throw new RunFileError(`evals[${i}]: needs results`);
  });
  // Files written before training was kept have no `train`.
  if (raw.train !== undefined && raw.train !== null && !Array.isArray(raw.train))
    throw new RunFileError('train: needs a list of training runs');
  const train = Array.isArray(raw.train) ? raw.train.map(checkTrainRun) : [];
  return {
    format: 'motg-run',
    version: 1,
    name: typeof raw.name === 'string' ? raw.name : 'imported run',
    createdAt: typeof raw.createdAt === 'string' ? raw.createdAt : '',
    producedWith: typeof raw.producedWith === 'string' ? raw.producedWith : '',
    model: isObj(raw.model) ? (raw.model as unknown as ModelSummary) : null,
    settings: sanitizeSettings(raw.settings),
    decode,
    evals: evals as EvalRun[],
    train,
  };
}

function csvCell(v: unknown): string {
  const s =
    v === null || v === undefined
      ? ''
      : typeof v === 'number'
        ? Number.isFinite(v)
          ? String(v)
          : ''
        : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(rows: unknown[][]): string {
  return `${rows.map((r) => r.map(csvCell).join(',')).join('\n')}\n`;
}

/** Per-step metrics of both decode sides: one row per (side, step). */
export function stepsCsv(run: RunFile): string {
  const rows: unknown[][] = [
    [
      'side',
      'step',
      'mode',
      'representative',
      'token',
      'ids',
      'weights',
      'next_token_entropy',
      'hidden_entropy_per_layer',
    ],
  ];
  for (const side of run.decode?.sides ?? []) {
    side.steps.forEach((st, i) => {
      rows.push([
        side.mode,
        i,
        st.mode,
        st.representative,
        st.repText,
        st.ids.join(' '),
        st.weights.map((w) => w.toFixed(6)).join(' '),
        st.entropy,
        st.hidden ? st.hidden.map((h) => h.toFixed(6)).join(' ') : '',
      ]);
    });
  }
  return toCsv(rows);
}

/** Evaluation rows: one per (run, task). */
export function evalsCsv(run: RunFile): string {
  const rows: unknown[][] = [
    [
      'run',
      'created_at',
      'model',
      'mode',
      'temperature',
      'task',
      'level',
      'questions',
      'samples',
      'accuracy',
      'mean_score',
      'format_rate',
      'mean_reward',
      'tokens',
      'status',
    ],
  ];
  for (const e of run.evals) {
    for (const r of e.results) {
      rows.push([
        e.id,
        e.createdAt,
        e.model,
        e.settings.mode,
        e.settings.temperature,
        r.task,
        r.level,
        r.questions,
        r.samples,
        r.accuracy,
        r.meanScore,
        r.formatRate,
        r.meanReward,
        r.tokens,
        e.status,
      ]);
    }
  }
  return toCsv(rows);
}

/** GRPO steps: one row per (run, step) with every metric; per-layer values joined with spaces. */
export function trainCsv(run: RunFile): string {
  const rows: unknown[][] = [
    [
      'run',
      'label',
      'preset',
      'likelihood',
      'G',
      'mode',
      'backend',
      'status',
      ...STEP_SCALARS.map(snake),
      'skipped',
      ...STEP_ARRAYS.map((k) => (k === 'hiddenEntropy' ? 'hidden_entropy_per_layer' : snake(k))),
      ...STEP_NULLABLE_SCALARS.map(snake),
      ...STEP_NULLABLE_ARRAYS.map(snake),
    ],
  ];
  for (const t of run.train) {
    for (const m of t.history) {
      rows.push([
        t.id,
        t.label,
        t.form.preset,
        t.form.likelihood,
        t.form.G,
        t.form.mode,
        t.backend,
        t.status,
        ...STEP_SCALARS.map((k) => m[k]),
        m.skipped ? 1 : 0,
        ...[...STEP_ARRAYS, ...STEP_NULLABLE_SCALARS, ...STEP_NULLABLE_ARRAYS].map((k) => {
          const v = (m as unknown as Record<string, unknown>)[k];
          if (typeof v === 'number') return v;
          return Array.isArray(v) ? v.map((h) => (Number.isFinite(h) ? h.toFixed(6) : 'NaN')).join(' ') : '';
        }),
      ]);
    }
  }
  return toCsv(rows);
}

function snake(k: string): string {
  return k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
