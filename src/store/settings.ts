// The experiment settings: defaults (each with its reason), validation of values read from outside
// (a link, an imported run), and the URL-hash form that makes a link reproduce the same setup.
import { WEIGHT_DTYPE_SETTINGS } from '../engine/gpu/streamLoad.ts';
import { DEFAULTS, PRESET_NAMES, stopDefaultsFor } from '../mot/presets.ts';
import { hasTask, TASKS } from '../tasks/registry.ts';
import { DEFAULT_TRAIN_FORM, LIKELIHOOD_CHOICES, type TrainForm, type TrainTaskEntry } from './trainForm.ts';
import type {
  DecodeMode,
  DecodeSettings,
  EvalSettings,
  ExperimentSettings,
  MemorySettings,
  MixPreset,
  ModelChoice,
} from './types.ts';

/** The discrete baselines: the full vocabulary, and the matched one (the mixtures' top k). */
const BASELINES = ['discrete', 'discrete-top-k'] as const;
export const MIX_PRESETS = PRESET_NAMES.filter(
  (p) => p !== 'discrete' && p !== 'discrete-top-k',
) as MixPreset[];
export const DECODE_MODES: DecodeMode[] = [...BASELINES, ...MIX_PRESETS];
/** Presets a GRPO run can train with (discrete is plain GRPO). */
export const TRAIN_PRESETS = [...BASELINES, ...MIX_PRESETS] as const;
/** A select's label for a mode: the name, with a note where the name alone does not say what it is. */
export function modeLabel(mode: DecodeMode): string {
  return mode === 'discrete-top-k' ? 'discrete-top-k (one token from the top k: the matched baseline)' : mode;
}

export const DEFAULT_MEMORY: MemorySettings = {
  group: 4, // a small GRPO group: the paper's G is 10, a browser GPU holds less
  tokens: 256, // prompt + completion of the easy tasks fit in 256 tokens
  loraRank: 8, // LoRA keeps the optimizer state small; 0 = full fine-tuning as in the paper
  recompute: false, // keep every activation unless memory is short
  weightDtype: 'auto', // a bf16 checkpoint (Qwen2.5) stays bf16 on the GPU: half the memory of f32
};

export const DEFAULT_DECODE: DecodeSettings = {
  source: 'task', // a task item has an answer to score, free text does not
  text: 'What is 3 + 4?',
  task: 'chain_sum', // the built-in model's first training task
  level: 'trivial',
  itemSeed: 1,
  index: 0,
  wrap: true, // the training prompt: system prompt, chat turn, <think> prefill (MOTG.md §3)
  preset: 'dirichlet', // the paper's main method
  baseline: 'discrete-top-k', // matched: the same top-k candidates as the mixture (MOTG.md §5)
  temperature: DEFAULTS.temperature,
  k: DEFAULTS.k,
  concentration: DEFAULTS.concentration,
  topP: DEFAULTS.topP,
  minP: DEFAULTS.minP,
  gumbelTau: DEFAULTS.gumbelTau,
  moiBeta: DEFAULTS.moiBeta,
  noiseSigma: 0.33, // only soft-tokens uses noise; its preset value
  coldStop: stopDefaultsFor('soft-thinking').coldStop, // soft-thinking's own default (its paper: on)
  maxNewTokens: 48, // enough for a short trace of the easy tasks; quick on a software adapter
  seed: 1,
};

export const DEFAULT_EVAL: EvalSettings = {
  tasks: ['chain_sum', 'basic_arithmetic'],
  level: 'trivial',
  n: 10, // the paper uses 100 per task; 10 keeps a browser run short
  samples: 1,
  mode: 'discrete-top-k', // the matched baseline of the mixture presets (k = 2, as they use)
  temperature: 0.9, // the paper's sampling temperature
  seed: 90_001, // held out: the built-in model trains on small seeds
  maxNewTokens: 96,
};

export const DEFAULT_SETTINGS: ExperimentSettings = {
  model: { kind: 'builtin' },
  memory: DEFAULT_MEMORY,
  decode: DEFAULT_DECODE,
  eval: DEFAULT_EVAL,
  train: DEFAULT_TRAIN_FORM,
};

/** A level a task really has: `level` when it exists, else the task's easiest. */
export function levelFor(task: string, level: string): string {
  const t = TASKS[task];
  if (!t) return level;
  return t.levels.some((l) => l.name === level) ? level : t.levels[0].name;
}

type Kind = 'int' | 'num' | 'str' | 'bool' | 'list' | 'mix';
interface Field {
  key: string;
  section: 'decode' | 'eval' | 'memory' | 'train';
  name: string;
  kind: Kind;
  min?: number;
  max?: number;
  oneOf?: readonly string[];
}

const F = (
  key: string,
  section: Field['section'],
  name: string,
  kind: Kind,
  extra: Partial<Field> = {},
): Field => ({ key, section, name, kind, ...extra });

/** Every field a link carries, with its short key and what values are accepted. */
const FIELDS: Field[] = [
  F('src', 'decode', 'source', 'str', { oneOf: ['task', 'text'] }),
  F('text', 'decode', 'text', 'str'),
  F('task', 'decode', 'task', 'str'),
  F('lvl', 'decode', 'level', 'str'),
  F('iseed', 'decode', 'itemSeed', 'int', { min: 0, max: 2 ** 31 }),
  F('idx', 'decode', 'index', 'int', { min: 0, max: 1e6 }),
  F('wrap', 'decode', 'wrap', 'bool'),
  F('preset', 'decode', 'preset', 'str', { oneOf: MIX_PRESETS }),
  F('base', 'decode', 'baseline', 'str', { oneOf: BASELINES }),
  F('t', 'decode', 'temperature', 'num', { min: 0, max: 5 }),
  F('k', 'decode', 'k', 'int', { min: 1, max: 64 }),
  F('c', 'decode', 'concentration', 'num', { min: 1e-3, max: 1e3 }),
  F('topp', 'decode', 'topP', 'num', { min: 1e-3, max: 1 }),
  F('minp', 'decode', 'minP', 'num', { min: 0, max: 0.999 }),
  F('tau', 'decode', 'gumbelTau', 'num', { min: 1e-3, max: 100 }),
  F('beta', 'decode', 'moiBeta', 'num', { min: 0, max: 100 }),
  F('sigma', 'decode', 'noiseSigma', 'num', { min: 0, max: 10 }),
  F('cold', 'decode', 'coldStop', 'bool'),
  F('new', 'decode', 'maxNewTokens', 'int', { min: 1, max: 2048 }),
  F('seed', 'decode', 'seed', 'int', { min: 0, max: 2 ** 31 }),
  F('e.tasks', 'eval', 'tasks', 'list'),
  F('e.lvl', 'eval', 'level', 'str'),
  F('e.n', 'eval', 'n', 'int', { min: 1, max: 1000 }),
  F('e.s', 'eval', 'samples', 'int', { min: 1, max: 64 }),
  F('e.mode', 'eval', 'mode', 'str', { oneOf: DECODE_MODES }),
  F('e.t', 'eval', 'temperature', 'num', { min: 0, max: 5 }),
  F('e.seed', 'eval', 'seed', 'int', { min: 0, max: 2 ** 31 }),
  F('e.new', 'eval', 'maxNewTokens', 'int', { min: 1, max: 2048 }),
  F('m.g', 'memory', 'group', 'int', { min: 1, max: 256 }),
  F('m.n', 'memory', 'tokens', 'int', { min: 8, max: 131072 }),
  F('m.r', 'memory', 'loraRank', 'int', { min: 0, max: 1024 }),
  F('m.rc', 'memory', 'recompute', 'bool'),
  F('m.w', 'memory', 'weightDtype', 'str', { oneOf: WEIGHT_DTYPE_SETTINGS }),
  // The Train panel's GRPO form; the ranges are the form's own.
  F('g.tasks', 'train', 'tasks', 'mix'),
  F('g.preset', 'train', 'preset', 'str', { oneOf: TRAIN_PRESETS }),
  F('g.lik', 'train', 'likelihood', 'str', { oneOf: LIKELIHOOD_CHOICES.map((c) => c.value) }),
  F('g.G', 'train', 'G', 'int', { min: 2, max: 64 }),
  F('g.p', 'train', 'prompts', 'int', { min: 1, max: 32 }),
  F('g.new', 'train', 'maxCompletion', 'int', { min: 1, max: 2048 }),
  F('g.t', 'train', 'temperature', 'num', { min: 0, max: 2 }),
  F('g.lr', 'train', 'learningRate', 'num', { min: 1e-9, max: 1 }),
  F('g.opt', 'train', 'optim', 'str', { oneOf: ['adamw', 'sgd'] }),
  F('g.beta', 'train', 'beta', 'num', { min: 0, max: 10 }),
  F('g.eps', 'train', 'epsilon', 'num', { min: 0, max: 0.99 }),
  F('g.steps', 'train', 'steps', 'int', { min: 1, max: 100_000 }),
  F('g.seed', 'train', 'seed', 'int', { min: 0, max: 2 ** 31 }),
  F('g.mode', 'train', 'mode', 'str', { oneOf: ['full', 'lora'] }),
  F('g.r', 'train', 'loraRank', 'int', { min: 1, max: 1024 }),
  F('g.ck', 'train', 'checkpointEvery', 'int', { min: 0, max: 100_000 }),
  F('g.cont', 'train', 'continueRun', 'bool'),
];

/** Largest weight of a task in the mix (the form's bound). */
const MAX_TASK_WEIGHT = 100;

/**
 * A task mix from `task:level:weight,…`: entries whose task or level does not exist, whose weight is not
 * a number in (0, 100], or whose task is already in the mix are dropped.
 */
function parseMix(raw: string): TrainTaskEntry[] | undefined {
  const out: TrainTaskEntry[] = [];
  for (const part of raw.split(',')) {
    const [task, level, weightText, ...rest] = part.split(':');
    if (rest.length > 0 || !task || !hasTask(task)) continue;
    if (!TASKS[task].levels.some((l) => l.name === level)) continue;
    const weight = Number(weightText);
    if (weightText === undefined || weightText.trim() === '' || !Number.isFinite(weight)) continue;
    if (weight <= 0 || weight > MAX_TASK_WEIGHT) continue;
    if (out.some((e) => e.task === task)) continue;
    out.push({ task, level, weight });
  }
  return out.length > 0 ? out : undefined;
}

function formatMix(v: unknown): string {
  if (!Array.isArray(v)) return '';
  return v
    .map((e) => {
      const x = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
      return `${String(x.task)}:${String(x.level)}:${String(x.weight)}`;
    })
    .join(',');
}

function parseValue(f: Field, raw: string): unknown {
  switch (f.kind) {
    case 'bool':
      return raw === '1' || raw === 'true' ? true : raw === '0' || raw === 'false' ? false : undefined;
    case 'int':
    case 'num': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v)) return undefined;
      if (f.kind === 'int' && !Number.isInteger(v)) return undefined;
      if ((f.min !== undefined && v < f.min) || (f.max !== undefined && v > f.max)) return undefined;
      return v;
    }
    case 'list': {
      const list = raw.split(',').filter((t) => hasTask(t));
      return list.length > 0 ? list : undefined;
    }
    case 'mix':
      return parseMix(raw);
    default:
      if (f.oneOf && !f.oneOf.includes(raw)) return undefined;
      if (f.key === 'task' && !hasTask(raw)) return undefined;
      return raw;
  }
}

function formatValue(f: Field, v: unknown): string {
  if (f.kind === 'bool') return v ? '1' : '0';
  if (f.kind === 'list') return (v as string[]).join(',');
  if (f.kind === 'mix') return formatMix(v);
  return String(v);
}

function modelToParam(m: ModelChoice): string {
  if (m.kind === 'hub') return `hf:${m.id}${m.revision !== 'main' ? `@${m.revision}` : ''}`;
  if (m.kind === 'folder') return `folder:${m.name}`;
  return 'builtin';
}

function modelFromParam(raw: string): ModelChoice | undefined {
  if (raw === 'builtin') return { kind: 'builtin' };
  if (raw.startsWith('hf:')) {
    const [id, revision] = raw.slice(3).split('@');
    if (/^[\w.-]+(\/[\w.-]+)?$/.test(id)) return { kind: 'hub', id, revision: revision || 'main' };
  }
  if (raw.startsWith('folder:')) return { kind: 'folder', name: raw.slice(7) };
  return undefined;
}

/** The settings as a URL hash (`#m=builtin&t=0.9&…`): only what differs from the defaults. */
export function settingsToHash(s: ExperimentSettings): string {
  const p = new URLSearchParams();
  if (s.model.kind !== 'builtin') p.set('m', modelToParam(s.model));
  for (const f of FIELDS) {
    const v = (s[f.section] as unknown as Record<string, unknown>)[f.name];
    const d = (DEFAULT_SETTINGS[f.section] as unknown as Record<string, unknown>)[f.name];
    const text = formatValue(f, v);
    if (text !== formatValue(f, d)) p.set(f.key, text);
  }
  const out = p.toString();
  return out === '' ? '' : `#${out}`;
}

/** Settings from a URL hash over `base`; fields that are missing or invalid keep base's value. */
export function settingsFromHash(
  hash: string,
  base: ExperimentSettings = DEFAULT_SETTINGS,
): ExperimentSettings {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  const out: ExperimentSettings = {
    model: base.model,
    memory: { ...base.memory },
    decode: { ...base.decode },
    eval: { ...base.eval, tasks: [...base.eval.tasks] },
    train: { ...base.train, tasks: base.train.tasks.map((t) => ({ ...t })) },
  };
  const m = p.get('m');
  if (m !== null) out.model = modelFromParam(m) ?? base.model;
  for (const f of FIELDS) {
    const raw = p.get(f.key);
    if (raw === null) continue;
    const v = parseValue(f, raw);
    if (v !== undefined) (out[f.section] as unknown as Record<string, unknown>)[f.name] = v;
  }
  out.decode.level = levelFor(out.decode.task, out.decode.level);
  return out;
}

/** Settings from an untrusted object (an imported run): the same checks as a link. */
export function sanitizeSettings(raw: unknown): ExperimentSettings {
  if (typeof raw !== 'object' || raw === null) return DEFAULT_SETTINGS;
  const r = raw as Partial<Record<keyof ExperimentSettings, Record<string, unknown>>>;
  const p = new URLSearchParams();
  const model = r.model as ModelChoice | undefined;
  if (model && typeof model === 'object' && typeof model.kind === 'string') p.set('m', modelToParam(model));
  for (const f of FIELDS) {
    const v = r[f.section]?.[f.name];
    if (v === undefined || v === null) continue;
    if ((f.kind === 'list' || f.kind === 'mix') && !Array.isArray(v)) continue;
    p.set(f.key, formatValue(f, v));
  }
  return settingsFromHash(p.toString());
}

/** A GRPO form from an untrusted object (a training run of an imported file): the checks of a link. */
export function sanitizeTrainForm(raw: unknown): TrainForm {
  return sanitizeSettings({ train: raw }).train;
}
