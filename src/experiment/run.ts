// One headless GRPO experiment run on a loaded Engine (MOTG.md §2, §4), shared by both ways
// `npm run experiment` runs it: in Node (scripts/experiment.ts, files written with node:fs) and in headless
// Chromium (src/experiment/page.ts, files sent back to Node over HTTP). DOM-free and Node-free: the files go
// to a RunSink, the progress lines to `log`.

import { writeSafetensors } from '../engine/model/safetensors.ts';
import type { PresetName } from '../mot/settings.ts';
import { encodeCheckpoint, saveCheckpoint } from '../rl/checkpoint.ts';
import type { StepMetrics } from '../rl/metrics.ts';
import type { EvalResult, TrainerConfigInput } from '../rl/trainer.ts';
import type { ModelInfo } from '../worker/api.ts';
import type { Engine } from '../worker/engine.ts';

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
  /** Run in headless Chromium (Playwright) even where Node's WebGPU works. */
  browser?: boolean;
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

/** Where a run's files go: names relative to the run folder, '/'-separated (`adapter/adapter_config.json`). */
export interface RunSink {
  /** Creates or replaces a file (parent folders are created). */
  write(name: string, data: string | Uint8Array): Promise<void>;
  /** Appends text to a file. */
  append(name: string, text: string): Promise<void>;
}

export interface RunContext {
  /** The backend line of the output and summary.json (`webgpu (…)`, `webgpu in headless Chromium (…)`). */
  adapter: string;
  /** The model as summary.json names it (the folder's path). */
  model: string;
  /** The loaded model (its config shapes the exported weights). */
  modelInfo: ModelInfo;
  /** Null: nothing is written. */
  sink: RunSink | null;
  log: (s: string) => void;
}

/** The parts of Engine a run uses. */
export type RunEngine = Pick<Engine, 'createTrainer' | 'exportAdapter'>;

/**
 * The run itself: trainer, steps, held-out evaluations every `evalEvery` steps (and at 0 and the end),
 * checkpoints, summary and the trained weights or adapter. Writes config.json, metrics.jsonl, eval.jsonl,
 * summary.json, checkpoint.safetensors, model.safetensors or adapter/ into the sink.
 */
export async function runLoop(
  engine: RunEngine,
  cfg: ExperimentConfig,
  ctx: RunContext,
): Promise<Omit<ExperimentResult, 'backend' | 'adapter'>> {
  const { sink, log } = ctx;
  const trainer = await engine.createTrainer(cfg.trainer);
  if (sink) {
    await sink.write('metrics.jsonl', '');
    await sink.write('eval.jsonl', '');
    await sink.write('config.json', `${JSON.stringify({ ...cfg, resolved: trainer.config }, null, 2)}\n`);
  }
  const held = trainer.heldOutItems(cfg.evalItems ?? 4);
  const evalN = cfg.evalN ?? 2;
  const metrics: StepMetrics[] = [];
  const evals: EvalResult[] = [];
  const evaluate = async () => {
    const e = await trainer.evaluate(held, evalN, trainer.config.grpo.seed);
    evals.push(e);
    if (sink) await sink.append('eval.jsonl', `${JSON.stringify(e)}\n`);
    log(`eval @${e.step}: accuracy ${e.accuracy.toFixed(3)} reward ${e.rewardMean.toFixed(3)}`);
  };
  const saveCk = async () => {
    if (sink) await sink.write('checkpoint.safetensors', encodeCheckpoint(await saveCheckpoint(trainer)));
  };
  const steps = trainer.config.grpo.max_steps;
  const evalEvery = cfg.evalEvery ?? 0;
  const ckEvery = cfg.checkpointEvery ?? 0;
  if (evalEvery > 0) await evaluate();
  while (trainer.step < steps) {
    const r = await trainer.trainStep();
    metrics.push(r.metrics);
    if (sink) await sink.append('metrics.jsonl', `${JSON.stringify(r.metrics)}\n`);
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
    backend: ctx.adapter,
    model: ctx.model,
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
  if (sink) {
    await sink.write('summary.json', `${JSON.stringify(summary, null, 2)}\n`);
    if (trainer.config.mode === 'lora') {
      const a = await engine.exportAdapter();
      if (a) {
        await sink.write('adapter/adapter_config.json', a.configJson);
        await sink.write('adapter/adapter_model.safetensors', a.safetensors);
      }
    } else {
      const st = await trainer.host.policy.exportState({ optimizer: false });
      const c = ctx.modelInfo.config;
      const tensors = new Map(
        Object.entries(st.params).map(([k, v]) => [k, { shape: engineShape(c, k, v.length), data: v }]),
      );
      await sink.write('model.safetensors', writeSafetensors(tensors, { format: 'pt' }));
    }
  }
  return { metrics, evals, summary };
}

/** Shape of an HF parameter from the config (2-D for matrices, 1-D otherwise). */
export function engineShape(c: { hiddenSize: number; vocabSize: number }, name: string, n: number): number[] {
  if (name === 'model.embed_tokens.weight' || name === 'lm_head.weight') return [c.vocabSize, c.hiddenSize];
  if (name.endsWith('norm.weight') || name.endsWith('.bias')) return [n];
  if (name.includes('o_proj') || name.includes('down_proj')) return [c.hiddenSize, n / c.hiddenSize];
  return [n / c.hiddenSize, c.hiddenSize];
}

/** `backend (description[, software adapter])` — the backend line of the output. */
export function adapterLabel(
  info: {
    backend: string;
    description: string;
    vendor: string;
    architecture: string;
    isFallbackAdapter: boolean;
  },
  where = '',
): string {
  const desc = info.description || [info.vendor, info.architecture].filter(Boolean).join(' ') || 'adapter';
  return `${info.backend}${where} (${desc}${info.isFallbackAdapter ? ', software adapter' : ''})`;
}
