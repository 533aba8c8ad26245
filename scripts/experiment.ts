// Headless GRPO experiments (MOTG.md §2, §4): Node + WebGPU (npm `webgpu`, src/node/webgpu.ts) where Dawn
// gives an adapter (a Vulkan driver exists), otherwise — or with --browser — headless Chromium through
// Playwright (src/node/experimentBrowser.ts: WebGPU on SwiftShader); the CPU reference with --cpu. The run
// loop is src/experiment/run.ts on both paths. Writes metrics.jsonl (one line per step), eval.jsonl,
// summary.json, checkpoint.safetensors and the trained adapter / weights into --out (one sub-folder per run
// of a matrix). The first lines of the output say where it runs (`backend: …`).
//
//   npx tsx scripts/experiment.ts [config.json] [--model <folder>] [--task a,b] [--preset p] [--group G]
//     [--steps N] [--seed S] [--out dir] [--eval-every K] [--eval-n N] [--lr X] [--prompts N]
//     [--likelihood paper|exact] [--cpu] [--browser]
//
// A config file holds the fields of ExperimentConfig; `matrix` expands into runs (task × preset × G × seed).
// --prompts N: prompts (groups) per step (gradient_accumulation_steps, one group per micro-batch).
// --likelihood exact: the exact mixture likelihood (MOTG.md §2; CPU path only).
// --browser: headless Chromium even where Node's WebGPU works (with --cpu: the CPU reference in Chromium).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DirModelSource } from '../src/engine/model/source-node.ts';
import {
  adapterLabel,
  type ExperimentConfig,
  type ExperimentResult,
  type RunSink,
  runLoop,
} from '../src/experiment/run.ts';
import type { PresetName } from '../src/mot/settings.ts';
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

/** Files into a folder with node:fs. */
function dirSink(out: string): RunSink {
  const at = (name: string) => {
    const p = join(out, name);
    mkdirSync(dirname(p), { recursive: true });
    return p;
  };
  return {
    async write(name, data) {
      writeFileSync(at(name), data);
    },
    async append(name, text) {
      writeFileSync(at(name), text, { flag: 'a' });
    },
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

/** Parses the command line into a config. */
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
  if (args[0] && !args[0].startsWith('--')) {
    const file = JSON.parse(readFileSync(args.shift() as string, 'utf8')) as ExperimentConfig;
    cfg = {
      ...cfg,
      ...file,
      trainer: { ...cfg.trainer, ...file.trainer, grpo: { ...cfg.trainer.grpo, ...file.trainer?.grpo } },
    };
  }
  const grpo = { ...cfg.trainer.grpo };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v = () => {
      const x = args[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    const int = (x: string) => {
      const n = Number(x);
      if (!Number.isInteger(n)) throw new Error(`${a}: ${x} is not an integer`);
      return n;
    };
    if (a === '--model') cfg.model = v();
    else if (a === '--task') cfg.trainer.tasks = v().split(',').map(taskSpec);
    else if (a === '--preset') cfg.trainer.preset = v() as PresetName;
    else if (a === '--group') {
      grpo.num_generations = int(v());
      grpo.per_device_train_batch_size = grpo.num_generations;
    } else if (a === '--steps') grpo.max_steps = int(v());
    else if (a === '--seed') grpo.seed = int(v());
    else if (a === '--out') cfg.out = v();
    else if (a === '--eval-every') cfg.evalEvery = int(v());
    else if (a === '--eval-n') cfg.evalN = int(v());
    else if (a === '--lr') {
      grpo.learning_rate = Number(v());
      if (!(grpo.learning_rate > 0)) throw new Error(`--lr: must be > 0`);
    } else if (a === '--prompts') grpo.gradient_accumulation_steps = int(v());
    else if (a === '--likelihood') {
      const l = v();
      if (l !== 'paper' && l !== 'exact') throw new Error(`--likelihood: ${l} is not paper or exact`);
      cfg.trainer.mot = { ...cfg.trainer.mot, likelihood: l };
    } else if (a === '--cpu') cfg.cpu = true;
    else if (a === '--browser') cfg.browser = true;
    else throw new Error(`unknown argument ${a}`);
  }
  cfg.trainer = { ...cfg.trainer, grpo };
  // A flag fixes its dimension of the config's matrix (flags override the config file).
  if (cfg.matrix) {
    const given = (flag: string) => args.includes(flag);
    const mx = { ...cfg.matrix };
    if (given('--task')) mx.task = undefined;
    if (given('--preset')) mx.preset = undefined;
    if (given('--group')) mx.num_generations = undefined;
    if (given('--seed')) mx.seed = undefined;
    cfg.matrix = Object.values(mx).some((v) => v !== undefined) ? mx : undefined;
  }
  return cfg;
}

async function main(): Promise<void> {
  const cfg = parseArgs(process.argv.slice(2));
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
      console.error(e instanceof Error ? `${e.name}: ${e.message}` : e);
      process.exit(1);
    },
  );
}
