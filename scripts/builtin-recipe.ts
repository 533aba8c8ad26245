// The named recipes of `npm run train:builtin` and the command line read over them. Pure (no training), so
// a unit test can check what a recipe resolves to.
//
// `--recipe builtin` (the default, unchanged): the committed public/models/motg-builtin.
// `--recipe small`: motg-small (issue 14) — a larger model, harder levels with longer worked traces, the
// held-out pools left out of its SFT data, WebGPU where present. Every other option overrides a default.
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { HeldOutCounts } from '../src/builtin/data.ts';
import { type BuiltinArch, DEFAULT_ARCH, SMALL_ARCH } from '../src/builtin/model.ts';
import { getTask } from '../src/tasks/registry.ts';

/** `--name value`, `--name=value` and bare `--flag` ("true"); the scripts' one option reader. */
export function parseArgs(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf('=');
    if (eq > 0) out.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out.set(a.slice(2), argv[++i]);
    else out.set(a.slice(2), 'true');
  }
  return out;
}

const KNOWN = new Set([
  'recipe',
  'seed',
  'steps',
  'minutes',
  'out',
  'batch',
  'lr',
  'min-lr',
  'warmup',
  'weight-decay',
  'clip',
  'hidden',
  'layers',
  'heads',
  'kv-heads',
  'intermediate',
  'merges',
  'tasks',
  'held-out',
  'examples',
  'threads',
  'log-every',
  'eval-every',
  'eval-n',
  'eval-seed',
  'ck-eval-n',
  'init-std',
  'bucket',
  'no-write',
  'save-every',
  'gpu',
  'cpu',
  'max-new-tokens',
  'select-from',
  'select-every',
  'select-n',
  'select-seed',
  'select-target',
]);

/** A named recipe's defaults (what the command line may override). */
export interface RecipePreset {
  outDir: string;
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  arch: BuiltinArch;
  /** `task[@level][:weight],…` (level default: the task's easiest). */
  tasks: string;
  /** Held-out items per task left out of the SFT data (builtin/data.ts buildExamples heldOut). */
  heldOut: HeldOutCounts;
  selectFrom: number;
  selectEvery: number;
  /** Completion tokens at most in the recipe's evaluations. */
  maxNewTokens: number;
  /** generation_config.json's max_new_tokens. */
  generationMaxNewTokens: number;
  /** `auto`: WebGPU when a device can be had, else the CPU; `off`: only with --gpu. */
  gpu: 'auto' | 'off';
}

export const RECIPES: Readonly<Record<'builtin' | 'small', RecipePreset>> = {
  // The committed model's recipe: 2200 steps, and a task mix that lands every task's sampled accuracy
  // in 20–70% (found by a sweep of step counts and weights; see the model card). The held-out pools stay
  // out of its SFT data: 100 items per task (the experiment protocol's evalItems), 40 for products,
  // whose `trivial` level has only 100 distinct questions.
  builtin: {
    outDir: 'public/models/motg-builtin',
    steps: 2200,
    batchSize: 16,
    lr: 5e-3,
    warmupSteps: 50,
    arch: DEFAULT_ARCH,
    tasks: 'chain_sum:0.4,basic_arithmetic:1.2,leg_counting:1.6,products:0.8',
    heldOut: { chain_sum: 100, basic_arithmetic: 100, leg_counting: 100, products: 40 },
    selectFrom: 1000,
    selectEvery: 100,
    maxNewTokens: 160,
    generationMaxNewTokens: 128,
    gpu: 'off',
  },
  // Not yet trained (no GPU in the session that wrote it): the step count and weights are a first guess to
  // be tuned by the checkpoint selection and `npm run measure:builtin`. The `easy` levels have 2–3 operations
  // (products: two-digit factors split by place value), so the traces are 2–6 lines instead of 1–3 (completions up to ~90 tokens, 192 allowed); the
  // pools hold out 400 items per task, enough for the experiment runner's default evaluations.
  small: {
    outDir: 'public/models/motg-small',
    steps: 4000,
    batchSize: 32,
    lr: 1.5e-3,
    warmupSteps: 100,
    arch: SMALL_ARCH,
    tasks: 'chain_sum@easy:0.6,basic_arithmetic@easy:1,leg_counting@easy:1.4,products@easy:1',
    heldOut: 400,
    selectFrom: 1500,
    selectEvery: 250,
    maxNewTokens: 192,
    generationMaxNewTokens: 192,
    gpu: 'auto',
  },
};

export type RecipeName = keyof typeof RECIPES;

/** The run's settings, read from the command line over a named recipe's defaults. */
export interface Recipe {
  name: RecipeName;
  seed: number;
  minutes: number | undefined;
  steps: number;
  outDir: string;
  id: string;
  batchSize: number;
  lr: number;
  minLr: number;
  warmupSteps: number;
  weightDecay: number;
  clipNorm: number;
  threads: number;
  logEvery: number;
  evalEvery: number;
  saveEvery: number;
  evalSeed: number;
  finalEvalN: number;
  ckEvalN: number;
  initStd: number;
  bucket: number;
  selectFrom: number;
  selectEvery: number;
  selectN: number;
  selectSeed: number;
  selectTarget: number;
  arch: BuiltinArch;
  taskSpecs: { task: string; level: string; weight: number }[];
  heldOut: HeldOutCounts;
  maxNewTokens: number;
  generationMaxNewTokens: number;
  numMerges: number;
  /** --examples: examples per task (weight 1), else sized from the planned steps. */
  examplesPerTask: number | undefined;
  /** `auto`: try WebGPU and fall back to the CPU. */
  gpu: 'on' | 'auto' | 'off';
  write: boolean;
}

/** `--held-out`: `100` (every task) or `chain_sum:100,products:40` (per task). */
export function parseHeldOutCounts(text: string): HeldOutCounts {
  const count = (v: string, what: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--held-out: ${what} is not a count of items`);
    return n;
  };
  if (!text.includes(':')) return count(text, text);
  const out: Record<string, number> = {};
  for (const spec of text.split(',')) {
    const [task, n] = spec.split(':');
    getTask(task); // throws on an unknown task
    out[task] = count(n ?? '', spec);
  }
  return out;
}

/** `task[@level][:weight],…` — a weight scales that task's share of the examples (default 1). */
export function parseTaskSpecs(text: string): Recipe['taskSpecs'] {
  return text.split(',').map((spec) => {
    const [name, w] = spec.split(':');
    const [task, level] = name.split('@');
    const weight = w === undefined ? 1 : Number(w);
    if (!(weight > 0)) throw new Error(`--tasks: bad weight in ${spec}`);
    const levels = getTask(task).levels.map((l) => l.name);
    if (level !== undefined && !levels.includes(level))
      throw new Error(`--tasks: ${task} has no level ${level} (levels: ${levels.join(', ')})`);
    return { task, level: level ?? levels[0], weight };
  });
}

export function readRecipe(args: Map<string, string>): Recipe {
  for (const k of args.keys()) if (!KNOWN.has(k)) throw new Error(`unknown option --${k}`);
  const name = (args.get('recipe') ?? 'builtin') as RecipeName;
  if (!Object.hasOwn(RECIPES, name))
    throw new Error(`--recipe: unknown recipe ${name} (recipes: ${Object.keys(RECIPES).join(', ')})`);
  const preset = RECIPES[name];
  const num = (k: string, d: number) => (args.has(k) ? Number(args.get(k)) : d);
  const seed = num('seed', 1);
  const minutes = args.has('minutes') ? Number(args.get('minutes')) : undefined;
  const outDir = resolve(args.get('out') ?? preset.outDir);
  const lr = num('lr', preset.lr);
  const evalSeed = num('eval-seed', 12345);
  const selectFrom = num('select-from', preset.selectFrom);
  const selectSeed = num('select-seed', 4242);
  if (selectFrom > 0 && [evalSeed, seed].includes(selectSeed))
    throw new Error('--select-seed must differ from the training seed and --eval-seed');
  if (args.has('gpu') && args.has('cpu')) throw new Error('--gpu and --cpu exclude each other');
  const gpu = args.has('gpu') ? 'on' : args.has('cpu') ? 'off' : preset.gpu;
  return {
    name,
    seed,
    minutes,
    steps: num('steps', minutes !== undefined ? Number.POSITIVE_INFINITY : preset.steps),
    outDir,
    id: outDir.split(/[\\/]/).pop() ?? 'motg-builtin',
    batchSize: num('batch', preset.batchSize),
    lr,
    minLr: num('min-lr', lr / 10),
    warmupSteps: num('warmup', preset.warmupSteps),
    weightDecay: num('weight-decay', 0.01),
    clipNorm: num('clip', 1),
    threads: num('threads', Math.min(2, availableParallelism())),
    logEvery: num('log-every', 10),
    evalEvery: num('eval-every', 0),
    saveEvery: num('save-every', 0),
    evalSeed,
    finalEvalN: num('eval-n', 100),
    ckEvalN: num('ck-eval-n', 40),
    initStd: num('init-std', 0.02),
    bucket: num('bucket', 8),
    selectFrom,
    selectEvery: num('select-every', preset.selectEvery),
    selectN: num('select-n', 60),
    selectSeed,
    selectTarget: num('select-target', 0.45),
    arch: {
      ...preset.arch,
      hiddenSize: num('hidden', preset.arch.hiddenSize),
      numHiddenLayers: num('layers', preset.arch.numHiddenLayers),
      numAttentionHeads: num('heads', preset.arch.numAttentionHeads),
      numKeyValueHeads: num('kv-heads', preset.arch.numKeyValueHeads),
      intermediateSize: num('intermediate', preset.arch.intermediateSize),
    },
    taskSpecs: parseTaskSpecs(args.get('tasks') ?? preset.tasks),
    heldOut: args.has('held-out') ? parseHeldOutCounts(args.get('held-out') as string) : preset.heldOut,
    maxNewTokens: num('max-new-tokens', preset.maxNewTokens),
    generationMaxNewTokens: num('max-new-tokens', preset.generationMaxNewTokens),
    numMerges: num('merges', 256),
    examplesPerTask: args.has('examples') ? Number(args.get('examples')) : undefined,
    gpu,
    write: !args.has('no-write'),
  };
}
