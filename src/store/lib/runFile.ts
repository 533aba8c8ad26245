// The run file: what export writes, import reads, a reload restores and the bundled example ships.
// Reading one checks its shape and re-validates its settings (a run file is untrusted input).
import { sanitizeSettings } from '../settings.ts';
import type {
  DecodeResult,
  EvalRun,
  ExperimentSettings,
  ModelSummary,
  RunFile,
  SideResult,
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
