// Headless GRPO experiments (MOTG.md §2, §4): Node + WebGPU (npm `webgpu`, src/node/webgpu.ts) or the CPU
// reference (--cpu). Writes metrics.jsonl (one line per step), eval.jsonl, summary.json, checkpoint.safetensors
// and the trained adapter / weights into --out (one sub-folder per run of a matrix).
//
//   npx tsx scripts/experiment.ts [config.json] [--model <folder>] [--task a,b] [--preset p] [--group G]
//     [--steps N] [--seed S] [--out dir] [--eval-every K] [--eval-n N] [--lr X] [--prompts N]
//     [--likelihood paper|exact] [--cpu]
//
// A config file holds the fields of ExperimentConfig; `matrix` expands into runs (task × preset × G × seed).
// --prompts N: prompts (groups) per step (gradient_accumulation_steps, one group per micro-batch).
// --likelihood exact: the exact mixture likelihood (MOTG.md §2; CPU path only).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Engine } from '../src/engine/engine.ts';
import { writeSafetensors } from '../src/engine/model/safetensors.ts';
import { DirModelSource } from '../src/engine/model/source-node.ts';
import type { PresetName } from '../src/mot/settings.ts';
import { encodeCheckpoint, saveCheckpoint } from '../src/rl/checkpoint.ts';
import type { StepMetrics } from '../src/rl/metrics.ts';
import type { EvalResult, TrainerConfigInput } from '../src/rl/trainer.ts';

export interface ExperimentConfig {
  name?: string;
  /** Model folder (HF layout). */
  model?: string;
  trainer: TrainerConfigInput;
  /** Evaluate every K steps (0: only at the end). */
  evalEvery?: number;
  /** Samples per held-out item. */
  evalN?: number;
  /** Held-out items per task. */
  evalItems?: number;
  /** Checkpoint every K steps (0: only at the end). */
  checkpointEvery?: number;
  cpu?: boolean;
  out?: string;
  /** Runs = every combination; each overrides trainer.preset / grpo.num_generations / grpo.seed. */
  matrix?: { task?: string[]; preset?: PresetName[]; num_generations?: number[]; seed?: number[] };
}

export interface ExperimentResult {
  backend: string;
  adapter: string;
  metrics: StepMetrics[];
  evals: EvalResult[];
  summary: Record<string, unknown>;
}

function defaultModel(): string {
  const builtin = resolve('public/models/motg-builtin');
  return existsSync(join(builtin, 'config.json')) ? builtin : resolve('public/models/motg-tiny-random');
}

/** One run; writes its files into cfg.out when given. */
export async function runExperiment(
  cfg: ExperimentConfig,
  log: (s: string) => void = () => {},
): Promise<ExperimentResult> {
  let gpu: GPU | null = null;
  if (!cfg.cpu) {
    const { nodeGpu } = await import('../src/node/webgpu.ts');
    gpu = await nodeGpu();
  }
  const engine = new Engine({
    gpu,
    resolveSource: (loc) => {
      if (loc.kind !== 'url') throw new Error('experiment: folder locations only');
      return new DirModelSource(loc.baseUrl);
    },
  });
  const info = await engine.init({ backend: cfg.cpu ? 'cpu' : 'webgpu' });
  const adapter = `${info.backend} (${info.description}${info.isFallbackAdapter ? ', software adapter' : ''})`;
  log(`backend: ${adapter}`);
  try {
    const model = resolve(cfg.model ?? defaultModel());
    const mi = await engine.loadModel({ kind: 'url', baseUrl: model });
    log(`model: ${model} (${mi.numParameters} parameters)`);
    const trainer = await engine.createTrainer(cfg.trainer);
    const out = cfg.out ? resolve(cfg.out) : null;
    if (out) {
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, 'metrics.jsonl'), '');
      writeFileSync(join(out, 'eval.jsonl'), '');
      writeFileSync(
        join(out, 'config.json'),
        `${JSON.stringify({ ...cfg, resolved: trainer.config }, null, 2)}\n`,
      );
    }
    const held = trainer.heldOutItems(cfg.evalItems ?? 4);
    const evalN = cfg.evalN ?? 2;
    const metrics: StepMetrics[] = [];
    const evals: EvalResult[] = [];
    const evaluate = async () => {
      const e = await trainer.evaluate(held, evalN, trainer.config.grpo.seed);
      evals.push(e);
      if (out) writeFileSync(join(out, 'eval.jsonl'), `${JSON.stringify(e)}\n`, { flag: 'a' });
      log(`eval @${e.step}: accuracy ${e.accuracy.toFixed(3)} reward ${e.rewardMean.toFixed(3)}`);
    };
    const saveCk = async () => {
      if (out)
        writeFileSync(join(out, 'checkpoint.safetensors'), encodeCheckpoint(await saveCheckpoint(trainer)));
    };
    const steps = trainer.config.grpo.max_steps;
    const evalEvery = cfg.evalEvery ?? 0;
    const ckEvery = cfg.checkpointEvery ?? 0;
    if (evalEvery > 0) await evaluate();
    while (trainer.step < steps) {
      const r = await trainer.trainStep();
      metrics.push(r.metrics);
      if (out) writeFileSync(join(out, 'metrics.jsonl'), `${JSON.stringify(r.metrics)}\n`, { flag: 'a' });
      const m = r.metrics;
      log(
        `step ${m.step}/${steps} reward ${m.rewardMean.toFixed(3)}±${m.rewardStd.toFixed(3)} acc ${m.accuracy.toFixed(2)} ` +
          `loss ${m.loss.toExponential(3)} kl ${m.kl.toExponential(2)} len ${m.completionLength.toFixed(1)} ` +
          `${m.tokensPerSecond.toFixed(0)} tok/s ${m.wallMs.toFixed(0)} ms${m.skipped ? ' SKIPPED' : ''}`,
      );
      if (ckEvery > 0 && trainer.step % ckEvery === 0) await saveCk();
      if (evalEvery > 0 && trainer.step % evalEvery === 0) await evaluate();
    }
    if (evalEvery === 0 || steps % evalEvery !== 0) await evaluate();
    await saveCk();
    const last = metrics.slice(-Math.min(10, metrics.length));
    const mean = (k: keyof StepMetrics) =>
      last.reduce((s, m) => s + (m[k] as number), 0) / Math.max(1, last.length);
    const summary = {
      name: cfg.name ?? null,
      backend: adapter,
      model,
      steps: trainer.step,
      updates: trainer.snapshot().updates,
      skipped: trainer.snapshot().skipped,
      preset: trainer.config.preset,
      G: trainer.config.grpo.num_generations,
      seed: trainer.config.grpo.seed,
      tasks: trainer.config.tasks,
      finalEval: evals.at(-1) ?? null,
      last10: { rewardMean: mean('rewardMean'), accuracy: mean('accuracy'), kl: mean('kl') },
      wallMs: trainer.snapshot().elapsedMs,
      flops: metrics.reduce((s, m) => s + m.flops, 0),
    };
    if (out) {
      writeFileSync(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
      if (trainer.config.mode === 'lora') {
        const a = await engine.exportAdapter();
        if (a) {
          mkdirSync(join(out, 'adapter'), { recursive: true });
          writeFileSync(join(out, 'adapter', 'adapter_config.json'), a.configJson);
          writeFileSync(join(out, 'adapter', 'adapter_model.safetensors'), a.safetensors);
        }
      } else {
        const st = await trainer.host.policy.exportState();
        const shapes = new Map(
          Object.keys(st.params).map((k) => [k, engineShape(mi.config, k, st.params[k].length)]),
        );
        const tensors = new Map(
          Object.entries(st.params).map(([k, v]) => [k, { shape: shapes.get(k) as number[], data: v }]),
        );
        writeFileSync(join(out, 'model.safetensors'), writeSafetensors(tensors, { format: 'pt' }));
      }
    }
    return { backend: info.backend, adapter, metrics, evals, summary };
  } finally {
    await engine.dispose();
  }
}

/** Shape of an HF parameter from the config (2-D for matrices, 1-D otherwise). */
function engineShape(c: { hiddenSize: number; vocabSize: number }, name: string, n: number): number[] {
  if (name === 'model.embed_tokens.weight' || name === 'lm_head.weight') return [c.vocabSize, c.hiddenSize];
  if (name.endsWith('norm.weight') || name.endsWith('.bias')) return [n];
  if (name.includes('o_proj') || name.includes('down_proj')) return [c.hiddenSize, n / c.hiddenSize];
  return [n / c.hiddenSize, c.hiddenSize];
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
      grpo: {
        num_generations: 4,
        per_device_train_batch_size: 4,
        gradient_accumulation_steps: 1,
        max_completion_length: 24,
        learning_rate: 1e-3,
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
