// Headless GRPO experiments (MOTG.md §2, §4): Node + WebGPU (npm `webgpu`, src/node/webgpu.ts) where Dawn
// gives an adapter (a Vulkan driver exists), otherwise — or with --browser — headless Chromium through
// Playwright (src/node/experimentBrowser.ts: WebGPU on SwiftShader); the CPU reference with --cpu. The run
// loop is src/experiment/run.ts on both paths. Writes metrics.jsonl (one line per step), eval.jsonl,
// summary.json, checkpoint.safetensors and the trained adapter / weights into --out (one sub-folder per run
// of a matrix). The first lines of the output say where it runs (`backend: …`).
//
//   npx tsx scripts/experiment.ts [config.json] [--model <folder>] [--task a,b] [--preset p] [--group G]
//     [--steps N] [--seed S] [--out dir] [--eval-every K] [--eval-n N] [--lr X] [--prompts N]
//     [--likelihood paper|exact] [--cold-stop on|off] [--checkpoint-every K] [--resume] [--cpu] [--browser]
//
// A config file holds the fields of ExperimentConfig; `matrix` expands into runs (task × preset × G × seed).
// --prompts N: prompts (groups) per step (gradient_accumulation_steps, one group per micro-batch).
// --likelihood exact: the exact mixture likelihood (MOTG.md §2; CPU path only).
// --cold-stop on|off: Cold Stop (stop.ts) whatever the preset's default (on only in soft-thinking).
// --browser: headless Chromium even where Node's WebGPU works (with --cpu: the CPU reference in Chromium).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EngineError } from '../src/engine/errors.ts';
import { DirModelSource } from '../src/engine/model/source-node.ts';
import {
  adapterLabel,
  type ExperimentConfig,
  type ExperimentResult,
  runLoop,
} from '../src/experiment/run.ts';
import { checkExperimentConfig, checkRunnable, suggestion } from '../src/experiment/schema.ts';
import { PRESET_NAMES } from '../src/mot/presets.ts';
import {
  checkInteger,
  checkOneOf,
  checkPositive,
  type PresetName,
  SettingsError,
} from '../src/mot/settings.ts';
import { dirSink } from '../src/node/files.ts';
import { TrainingError } from '../src/rl/errors.ts';
import type { GrpoSettings } from '../src/rl/settings.ts';
import { Engine } from '../src/worker/engine.ts';

export type { ExperimentConfig, ExperimentResult } from '../src/experiment/run.ts';

function defaultModel(): string {
  const builtin = resolve('public/models/motg-builtin');
  return existsSync(join(builtin, 'config.json')) ? builtin : resolve('public/models/motg-tiny-random');
}

/** The environment before the Vulkan driver choice of src/node/webgpu.ts (Chromium gets this one). */
const LAUNCH_ENV = { ...process.env };

let nodeGpuProbe: Promise<{ gpu: GPU } | { reason: string }> | null = null;

/** Node's WebGPU (npm `webgpu`, Dawn) when it gives an adapter; otherwise why not. Probed once. */
function probeNodeGpu(): Promise<{ gpu: GPU } | { reason: string }> {
  nodeGpuProbe ??= (async () => {
    try {
      const { nodeGpu } = await import('../src/node/webgpu.ts');
      const gpu = await nodeGpu();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const adapter = await Promise.race([
        gpu.requestAdapter(),
        new Promise<'timeout'>((ok) => {
          timer = setTimeout(() => ok('timeout'), 60_000);
        }),
      ]).finally(() => clearTimeout(timer));
      if (adapter === 'timeout') return { reason: 'requestAdapter() did not answer in 60 s' };
      if (!adapter) return { reason: 'Dawn found no adapter (no Vulkan driver?)' };
      return { gpu };
    } catch (e) {
      return { reason: e instanceof Error ? e.message : String(e) };
    }
  })();
  return nodeGpuProbe;
}

/** Test hook (MOTG_TEST_EXIT_AFTER_STEP=k): the process exits right after step k, as if killed there. */
function testExitAfterStep(): ((step: number) => void) | undefined {
  const k = Number(process.env.MOTG_TEST_EXIT_AFTER_STEP);
  if (!(k > 0)) return undefined;
  return (step) => {
    if (step === k) process.exit(75);
  };
}

/**
 * One run; writes its files into cfg.out when given. Where: the CPU reference in Node (cpu), headless
 * Chromium (browser, or when Node's WebGPU has no adapter), else WebGPU in Node.
 */
export async function runExperiment(
  cfg: ExperimentConfig,
  log: (s: string) => void = () => {},
): Promise<ExperimentResult> {
  const model = resolve(cfg.model ?? defaultModel());
  const out = cfg.out ? resolve(cfg.out) : null;
  let gpu: GPU | null = null;
  if (!cfg.cpu || cfg.browser) {
    const probe = cfg.browser ? { reason: '--browser' } : await probeNodeGpu();
    if ('gpu' in probe) gpu = probe.gpu;
    else {
      log(
        `Node WebGPU: ${cfg.browser ? 'not used' : 'unavailable'} (${probe.reason}); running in headless Chromium`,
      );
      const { runInBrowser } = await import('../src/node/experimentBrowser.ts');
      return runInBrowser(cfg, { model, out, log, env: LAUNCH_ENV });
    }
  }
  const engine = new Engine({
    gpu,
    resolveSource: (loc) => {
      if (loc.kind !== 'url') throw new Error('experiment: folder locations only');
      return new DirModelSource(loc.baseUrl);
    },
  });
  const info = await engine.init({ backend: cfg.cpu ? 'cpu' : 'webgpu' });
  const adapter = adapterLabel(info);
  log(`backend: ${adapter}`);
  try {
    const mi = await engine.loadModel({ kind: 'url', baseUrl: model });
    log(`model: ${model} (${mi.numParameters} parameters)`);
    const r = await runLoop(engine, cfg, {
      adapter,
      model,
      modelInfo: mi,
      sink: out ? dirSink(out) : null,
      log,
      afterStep: testExitAfterStep(),
    });
    return { backend: info.backend, adapter, ...r };
  } finally {
    await engine.dispose();
  }
}

/** `name` or `name:level` → a task entry. */
function taskSpec(t: string): { task: string; level?: string } {
  const [task, level] = t.split(':');
  return level ? { task, level } : { task };
}

/** The runs of a config: one, or the matrix expanded (sub-folders [task-]preset-G<g>-s<seed>). */
export function expandRuns(cfg: ExperimentConfig): ExperimentConfig[] {
  const mx = cfg.matrix;
  if (!mx) return [cfg];
  if (mx.task) {
    // One run per task: the task dimension is outermost, its name prefixes the sub-folders.
    return mx.task.flatMap((t) =>
      expandRuns({
        ...cfg,
        matrix: { ...mx, task: undefined },
        out: join(cfg.out ?? 'runs', taskSpec(t).task),
        trainer: { ...cfg.trainer, tasks: [taskSpec(t)] },
      }).map((r) => ({ ...r, name: `${taskSpec(t).task}-${r.name}` })),
    );
  }
  const presets = mx.preset ?? [cfg.trainer.preset ?? 'dirichlet'];
  const gs = mx.num_generations ?? [cfg.trainer.grpo?.num_generations ?? 10];
  const seeds = mx.seed ?? [cfg.trainer.grpo?.seed ?? 42];
  const runs: ExperimentConfig[] = [];
  for (const preset of presets)
    for (const G of gs)
      for (const seed of seeds) {
        const name = `${preset}-G${G}-s${seed}`;
        const grpo = { ...cfg.trainer.grpo, num_generations: G, seed };
        // One prompt's group per micro-batch unless the config sizes it.
        if (cfg.trainer.grpo?.per_device_train_batch_size === undefined) grpo.per_device_train_batch_size = G;
        runs.push({
          ...cfg,
          matrix: undefined,
          name,
          out: join(cfg.out ?? 'runs', name),
          trainer: { ...cfg.trainer, preset, grpo },
        });
      }
  return runs;
}

/** Every flag: whether it takes a value. */
const FLAGS: Record<string, boolean> = {
  '--model': true,
  '--task': true,
  '--preset': true,
  '--group': true,
  '--prompts': true,
  '--steps': true,
  '--seed': true,
  '--lr': true,
  '--likelihood': true,
  '--cold-stop': true,
  '--eval-every': true,
  '--eval-n': true,
  '--checkpoint-every': true,
  '--out': true,
  '--resume': false,
  '--cpu': false,
  '--browser': false,
};

/** The config file's JSON, checked against the schema (errors name the file). */
function readConfigFile(file: string): ExperimentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new EngineError(
      'file-missing',
      `${file}: cannot read the config (${(e as NodeJS.ErrnoException).code})`,
      {
        file,
      },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new EngineError('config-invalid', `${file}: invalid JSON (${(e as Error).message})`, { file });
  }
  return checkExperimentConfig(json, file);
}

/** Parses the command line into a config, checked (flags, schema, trainer settings) before any work. */
export function parseArgs(argv: string[]): ExperimentConfig {
  let cfg: ExperimentConfig = {
    trainer: {
      preset: 'dirichlet',
      reward: 'tiny',
      tasks: [{ task: 'chain_sum', level: 'trivial' }],
      // Log-probs at temperature 1, as the paper's code and every experiments/*.json: the GPU trainer's
      // backward needs it (gpuUnsupportedReason), so the defaults run on every backend.
      mot: { paperTemperature: 'one' },
      grpo: {
        num_generations: 4,
        per_device_train_batch_size: 4,
        gradient_accumulation_steps: 1,
        max_completion_length: 24,
        learning_rate: 3e-4, // the built-in protocol's rate (docs/reproduction.md: higher rates collapse it)
        optim: 'adamw',
        max_steps: 20,
        seed: 0,
      },
    },
    out: 'runs/experiment',
  };
  const args = argv.slice();
  let fileGrpo: Partial<GrpoSettings> | null = null;
  if (args[0] && !args[0].startsWith('--')) {
    const file = readConfigFile(args.shift() as string);
    fileGrpo = file.trainer?.grpo ?? {};
    cfg = {
      ...cfg,
      ...file,
      trainer: { ...cfg.trainer, ...file.trainer, grpo: { ...cfg.trainer.grpo, ...file.trainer?.grpo } },
    };
  }
  const grpo = { ...cfg.trainer.grpo };
  // The default micro-batch is one group: G's, unless the file sizes it (expandRuns sizes a matrix's).
  if (fileGrpo && fileGrpo.per_device_train_batch_size === undefined) delete grpo.per_device_train_batch_size;
  const given = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!Object.hasOwn(FLAGS, a))
      throw new SettingsError('unknown-value', a, `unknown argument; ${suggestion(a, Object.keys(FLAGS))}`);
    given.add(a);
    const x = FLAGS[a] ? args[++i] : '';
    if (x === undefined) throw new SettingsError('unknown-value', a, 'needs a value');
    const int = (min: number) => {
      const n = x.trim() === '' ? Number.NaN : Number(x);
      checkInteger(a, n, min);
      return n;
    };
    if (a === '--model') cfg.model = x;
    else if (a === '--task') cfg.trainer.tasks = x.split(',').map(taskSpec);
    else if (a === '--preset') {
      checkOneOf(a, x as PresetName, PRESET_NAMES);
      cfg.trainer.preset = x as PresetName;
    } else if (a === '--group') {
      grpo.num_generations = int(2);
      grpo.per_device_train_batch_size = grpo.num_generations;
    } else if (a === '--steps') grpo.max_steps = int(1);
    else if (a === '--seed') grpo.seed = int(0);
    else if (a === '--out') cfg.out = x;
    else if (a === '--eval-every') cfg.evalEvery = int(0);
    else if (a === '--eval-n') cfg.evalN = int(1);
    else if (a === '--checkpoint-every') cfg.checkpointEvery = int(0);
    else if (a === '--lr') {
      grpo.learning_rate = x.trim() === '' ? Number.NaN : Number(x);
      checkPositive(a, grpo.learning_rate);
    } else if (a === '--prompts') grpo.gradient_accumulation_steps = int(1);
    else if (a === '--likelihood') {
      checkOneOf(a, x, ['paper', 'exact']);
      cfg.trainer.mot = { ...cfg.trainer.mot, likelihood: x as 'paper' | 'exact' };
    } else if (a === '--cold-stop') {
      checkOneOf(a, x, ['on', 'off']);
      cfg.trainer.stop = { ...cfg.trainer.stop, coldStop: x === 'on' };
    } else if (a === '--resume') cfg.resume = true;
    else if (a === '--cpu') cfg.cpu = true;
    else if (a === '--browser') cfg.browser = true;
  }
  if (grpo.per_device_train_batch_size === undefined && !cfg.matrix?.num_generations)
    grpo.per_device_train_batch_size = grpo.num_generations;
  cfg.trainer = { ...cfg.trainer, grpo };
  // A flag fixes its dimension of the config's matrix (flags override the config file).
  if (cfg.matrix) {
    const mx = { ...cfg.matrix };
    if (given.has('--task')) mx.task = undefined;
    if (given.has('--preset')) mx.preset = undefined;
    if (given.has('--group')) mx.num_generations = undefined;
    if (given.has('--seed')) mx.seed = undefined;
    cfg.matrix = Object.values(mx).some((v) => v !== undefined) ? mx : undefined;
  }
  for (const run of expandRuns(cfg)) checkRunnable(run);
  return cfg;
}

/** Files or folders in `dir` (0 when it does not exist). */
function entriesIn(dir: string): number {
  if (!existsSync(dir)) return 0;
  if (!statSync(dir).isDirectory())
    throw new TrainingError('bad-run-folder', `--out ${dir} exists and is not a folder`);
  return readdirSync(dir).length;
}

/** Without --resume, a run folder that already holds files is refused before anything is written. */
export function checkOutFolders(cfg: ExperimentConfig): void {
  if (cfg.resume || !cfg.out) return;
  for (const out of new Set([cfg.out, ...expandRuns(cfg).map((r) => r.out as string)]))
    if (entriesIn(resolve(out)) > 0)
      throw new TrainingError(
        'bad-run-folder',
        `--out ${out} is not empty: pass --resume to continue its run, or choose another folder`,
      );
}

async function main(): Promise<void> {
  const cfg = parseArgs(process.argv.slice(2));
  checkOutFolders(cfg);
  for (const run of expandRuns(cfg)) {
    console.log(`== run ${run.name ?? '(single)'} → ${run.out}`);
    const r = await runExperiment(run, (s) => console.log(s));
    console.log(`done on ${r.adapter}: ${r.metrics.length} steps`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().then(
    () => process.exit(0),
    (e) => {
      // One line, no stack: what went wrong and where (typed errors name the file and field).
      const line = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      console.error(line.replace(/\s*\n\s*/g, ' '));
      process.exit(1);
    },
  );
}
