// One headless GRPO experiment run on a loaded Engine (MOTG.md §2, §4), shared by both ways
// `npm run experiment` runs it: in Node (scripts/experiment.ts, files written with node:fs) and in headless
// Chromium (src/experiment/page.ts, files sent back to Node over HTTP). DOM-free and Node-free: the files go
// to a RunSink, the progress lines to `log`.

import { safetensorsSource, sourceBytes } from '../engine/model/safetensorsStream.ts';
import { firstNonFiniteTensor } from '../engine/train/optim.ts';
import { type PresetName, SettingsError } from '../mot/settings.ts';
import { decodeCheckpoint, encodeCheckpoint, loadCheckpoint, saveCheckpoint } from '../rl/checkpoint.ts';
import { TrainingError } from '../rl/errors.ts';
import type { StepMetrics } from '../rl/metrics.ts';
import type { EvalResult, GrpoTrainer, TrainerConfigInput } from '../rl/trainer.ts';
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
  /** Continue the run in `out` from its checkpoint (metrics.jsonl and eval.jsonl are kept up to it). */
  resume?: boolean;
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
  /** Creates or replaces a file from pieces written one after another (a large file never whole in memory);
   * sinks without it get the pieces joined into write(). */
  writePieces?(name: string, pieces: Iterable<Uint8Array>): Promise<void>;
  /** Appends text to a file. */
  append(name: string, text: string): Promise<void>;
  /** A file's bytes, or null when it does not exist (needed to resume). */
  read?(name: string): Promise<Uint8Array | null>;
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
  /** Called after each step's files are written (a test stops the process here to check resuming). */
  afterStep?: (step: number) => void;
}

const CHECKPOINT = 'checkpoint.safetensors';

/** The JSON objects of a JSONL file of the run folder (each with a numeric `step`); [] when it is absent. */
async function readSteps<T extends { step: number }>(sink: RunSink, name: string): Promise<T[]> {
  const bytes = (await sink.read?.(name)) ?? new Uint8Array();
  const out: T[] = [];
  for (const [i, line] of new TextDecoder().decode(bytes).split('\n').entries()) {
    if (line.trim() === '') continue;
    let x: unknown;
    try {
      x = JSON.parse(line);
    } catch {
      throw new TrainingError('bad-run-folder', `${name}:${i + 1}: not JSON; cannot resume this run folder`);
    }
    if (typeof (x as { step?: unknown })?.step !== 'number')
      throw new TrainingError('bad-run-folder', `${name}:${i + 1}: no step number; cannot resume`);
    out.push(x as T);
  }
  return out;
}

/**
 * Loads the folder's checkpoint into `trainer` and keeps the metrics (and the evaluations before it) up to
 * its step; null when there is no checkpoint yet (the run starts over). Typed errors for a bad checkpoint
 * or folder; nothing is written before the checkpoint is accepted.
 */
async function resumeFrom(
  sink: RunSink,
  trainer: GrpoTrainer,
  log: (s: string) => void,
): Promise<{ metrics: StepMetrics[]; evals: EvalResult[] } | null> {
  if (!sink.read) throw new TrainingError('bad-run-folder', '--resume: this run folder cannot be read back');
  const bytes = await sink.read(CHECKPOINT);
  if (!bytes) {
    log(`resume: no ${CHECKPOINT} yet, starting at step 0`);
    return null;
  }
  await loadCheckpoint(trainer, decodeCheckpoint(bytes, CHECKPOINT), CHECKPOINT);
  const step = trainer.step;
  const metrics = (await readSteps<StepMetrics>(sink, 'metrics.jsonl')).filter((m) => m.step <= step);
  if (metrics.length !== step || metrics.some((m, i) => m.step !== i + 1))
    throw new TrainingError(
      'bad-run-folder',
      `metrics.jsonl: steps ${metrics.map((m) => m.step).join(',') || '(none)'} do not run 1..${step} (the checkpoint's step)`,
    );
  // An evaluation at the checkpoint's step is run again (it may not have been written).
  const evals = (await readSteps<EvalResult>(sink, 'eval.jsonl')).filter((e) => e.step < step);
  const lines = (xs: unknown[]) => xs.map((x) => `${JSON.stringify(x)}\n`).join('');
  await sink.write('metrics.jsonl', lines(metrics));
  await sink.write('eval.jsonl', lines(evals));
  log(`resumed from ${CHECKPOINT} at step ${step}`);
  return { metrics, evals };
}

/** Held-out items per task when the config names none. */
export const DEFAULT_EVAL_ITEMS = 4;

/** The run's trainer settings: trainer.heldOut.count defaults to the evaluated items per task, and may not
 * be fewer, so every evaluated question is one training never draws (summary.json's evalOverlap). */
export function runTrainerConfig(cfg: ExperimentConfig): TrainerConfigInput {
  const evalItems = cfg.evalItems ?? DEFAULT_EVAL_ITEMS;
  const heldOut = cfg.trainer?.heldOut ?? { count: evalItems };
  if (!(heldOut.count >= evalItems))
    throw new SettingsError(
      'incompatible',
      'trainer.heldOut.count',
      `${heldOut.count} is fewer than evalItems ${evalItems}: every evaluated item must be held out of training`,
    );
  return { ...(cfg.trainer ?? {}), heldOut };
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
  const trainer = await engine.createTrainer(runTrainerConfig(cfg));
  const resumed = cfg.resume && sink ? await resumeFrom(sink, trainer, log) : null;
  if (sink) {
    if (!resumed) {
      await sink.write('metrics.jsonl', '');
      await sink.write('eval.jsonl', '');
    }
    await sink.write(
      'config.json',
      `${JSON.stringify({ ...cfg, resume: undefined, resolved: trainer.config }, null, 2)}\n`,
    );
  }
  const held = trainer.heldOutItems(cfg.evalItems ?? DEFAULT_EVAL_ITEMS);
  const evalN = cfg.evalN ?? 2;
  const metrics: StepMetrics[] = resumed?.metrics ?? [];
  const evals: EvalResult[] = resumed?.evals ?? [];
  const evaluate = async () => {
    const e = await trainer.evaluate(held, evalN, trainer.config.grpo.seed);
    evals.push(e);
    if (sink) await sink.append('eval.jsonl', `${JSON.stringify(e)}\n`);
    // eval.jsonl holds pass@k for k = 1…min(32, evalN) per task and the decoding mode (EvalResult).
    const kMax = Object.keys(e.passAtK.overall).length;
    const passLine = kMax > 1 ? ` pass@${kMax} ${e.passAtK.overall[kMax].toFixed(3)}` : '';
    log(
      `eval @${e.step} (${e.evalMode}): accuracy ${e.accuracy.toFixed(3)}${passLine} reward ${e.rewardMean.toFixed(3)}`,
    );
  };
  const saveCk = async () => {
    if (sink) await sink.write(CHECKPOINT, encodeCheckpoint(await saveCheckpoint(trainer)));
  };
  const steps = trainer.config.grpo.max_steps;
  const evalEvery = cfg.evalEvery ?? 0;
  const ckEvery = cfg.checkpointEvery ?? 0;
  // At step 0, or at a resumed step the schedule evaluates.
  if (evalEvery > 0 && trainer.step % evalEvery === 0) await evaluate();
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
    trainer.checkSkippedSteps(); // too many skipped steps in a row: the run fails, nothing is exported
    if (ckEvery > 0 && trainer.step % ckEvery === 0) await saveCk();
    if (evalEvery > 0 && trainer.step % evalEvery === 0) await evaluate();
    ctx.afterStep?.(trainer.step);
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
    // Training draws whose question text is one of the held-out pools' (must be 0).
    evalOverlap: trainer.heldOutOverlap(),
    last10: { rewardMean: mean('rewardMean'), accuracy: mean('accuracy'), kl: mean('kl') },
    wallMs: trainer.snapshot().elapsedMs,
    flops: metrics.reduce((s, m) => s + m.flops, 0),
  };
  if (sink) {
    await sink.write('summary.json', `${JSON.stringify(summary, null, 2)}\n`);
    const st = await trainer.host.policy.exportState({ optimizer: false });
    const bad = firstNonFiniteTensor(Object.entries(st.params));
    if (bad !== null)
      throw new TrainingError('non-finite-update', `not exporting the trained weights: ${bad} is not finite`);
    if (trainer.config.mode === 'lora') {
      const a = await engine.exportAdapter();
      if (a) {
        await sink.write('adapter/adapter_config.json', a.configJson);
        await sink.write('adapter/adapter_model.safetensors', a.safetensors);
      }
    } else {
      const c = ctx.modelInfo.config;
      const tensors = new Map(
        Object.entries(st.params).map(([k, v]) => [k, { shape: engineShape(c, k, v.length), data: v }]),
      );
      // Tensor by tensor: the exported file is never a second whole copy of the model in memory.
      const file = safetensorsSource(tensors, { format: 'pt' });
      if (sink.writePieces) await sink.writePieces('model.safetensors', file.chunks());
      else await sink.write('model.safetensors', sourceBytes(file));
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
