// Trains the built-in model from a seed and writes its folder (config.json, model.safetensors,
// tokenizer.json, tokenizer_config.json, generation_config.json, README.md model card, loss.svg).
//
// Usage: npm run train:builtin -- [--recipe builtin | small] [--seed 1] [--steps 2200 | --minutes M] [--out public/models/motg-builtin]
//          [--batch 16] [--lr 5e-3] [--min-lr lr/10] [--warmup 50] [--hidden 64] [--layers 2] [--heads 4]
//          [--kv-heads 2] [--intermediate 176] [--merges 256] [--tasks chain_sum:0.4,basic_arithmetic:1.2,...]
//          [--threads 2] [--log-every 10] [--eval-every 0] [--ck-eval-n 40] [--save-every 0]
//          [--eval-n 100] [--eval-seed 12345] [--select-from 1000] [--select-every 100] [--select-n 60]
//          [--select-seed 4242] [--select-target 0.45] [--held-out N | task:N,…] [--max-new-tokens 160] [--no-write]
//          [--gpu | --cpu]
// The defaults shown are the `builtin` recipe's; `--recipe small` (motg-small) has its own
// (scripts/builtin-recipe.ts RECIPES), tasks may name a level (`chain_sum@easy:0.6`), and it trains on
// WebGPU when a device can be had. `--held-out N` leaves each task's first N held-out items
// (rl/heldOut.ts) out of the SFT data.
// `--steps` is reproducible bit for bit; `--minutes` fits the step count to the machine after 20 steps.
// Checkpoint selection: from step `--select-from` on, every `--select-every` steps (and at the end), the
// model samples `--select-n` validation items per task (seed `--select-seed`, T = 1); the written model is
// the checkpoint whose worst task is nearest `--select-target` accuracy (format rate ≥ 90%). The model
// must be half-good (room for RL), and at this size the last step is not reliably so; `--select-from 0`
// writes the last step.
// `--eval-every K` samples `--ck-eval-n` items per task every K steps; `--save-every K` writes
// <out>/step-K/ checkpoints.
//
// The batch is split over `--threads` worker threads (parameters and gradients in shared memory);
// the result is the same for any thread count up to float summation order.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import {
  lossCurveSvg,
  modelCard,
  type SelectionCandidate,
  selectionDistance,
  type TrainingRecord,
} from '../src/builtin/card.ts';
import { buildExamples, formatHeldOutCounts, SYSTEM_PROMPT, tokenizeExample } from '../src/builtin/data.ts';
import { backendGenerator, type EvalSummary, evaluateTask } from '../src/builtin/evaluate.ts';
import { builtinConfig, builtinConfigJson, builtinGenerationConfig } from '../src/builtin/model.ts';
import { buildBuiltinTokenizer } from '../src/builtin/tokenizer.ts';
import type { Backend } from '../src/engine/backend.ts';
import type { Qwen2Config } from '../src/engine/config.ts';
import { CpuBackend } from '../src/engine/cpuBackend.ts';
import { requestEngineDevice } from '../src/engine/gpu/device.ts';
import { GpuBackend } from '../src/engine/gpuBackend.ts';
import { GpuSftBackend } from '../src/engine/gpuSft.ts';
import { initQwen2Weights } from '../src/engine/model/init.ts';
import { writeSafetensors } from '../src/engine/model/safetensors.ts';
import { Tokenizer } from '../src/engine/model/tokenizer.ts';
import { qwen2LossAndGrads } from '../src/engine/ref/backward.ts';
import type { WeightMap } from '../src/engine/tensor.ts';
import {
  CpuSftBackend,
  type SftBackend,
  type SftBatch,
  type SftLossResult,
  type SftProgress,
  type SftSequence,
  sliceSftBatch,
  trainSft,
} from '../src/engine/train/sft.ts';
import { nodeGpu } from '../src/node/webgpu.ts';
import { parseArgs, type Recipe, readRecipe } from './builtin-recipe.ts';

// ---- worker threads: each computes the loss and gradients of a slice of the batch ----------------

interface WorkerInit {
  config: Qwen2Config;
  shapes: [string, number[]][];
  params: Record<string, SharedArrayBuffer>;
  grads: Record<string, SharedArrayBuffer>;
}

if (!isMainThread && (workerData as { sftWorker?: boolean } | null)?.sftWorker) {
  const init = (workerData as { init: WorkerInit }).init;
  const weights: WeightMap = new Map(
    init.shapes.map(([name, shape]) => [name, { shape, data: new Float32Array(init.params[name]) }]),
  );
  const grads = new Map(Object.entries(init.grads).map(([name, buf]) => [name, new Float32Array(buf)]));
  parentPort?.on('message', (batch: SftBatch) => {
    for (const g of grads.values()) g.fill(0);
    const r = qwen2LossAndGrads(
      { config: init.config, weights },
      { kind: 'ids', ids: batch.ids },
      batch.B,
      batch.T,
      batch.targets,
      batch.coef,
      { attentionMask: batch.attentionMask },
      { grads },
    );
    parentPort?.postMessage(r.loss);
  });
}

/** The batch split by rows over worker threads; parameters shared, gradients summed here. */
class ThreadedCpuSftBackend implements SftBackend {
  readonly params: Map<string, Float32Array>;
  readonly weights: WeightMap;
  private readonly workers: Worker[] = [];
  private readonly workerGrads: Map<string, Float32Array>[] = [];
  private readonly grads = new Map<string, Float32Array>();

  constructor(config: Qwen2Config, init: WeightMap, threads: number) {
    this.weights = new Map();
    const params: Record<string, SharedArrayBuffer> = {};
    for (const [name, t] of init) {
      const buf = new SharedArrayBuffer(t.data.byteLength);
      const data = new Float32Array(buf);
      data.set(t.data);
      params[name] = buf;
      this.weights.set(name, { shape: t.shape, data });
      this.grads.set(name, new Float32Array(t.data.length));
    }
    this.params = new Map([...this.weights].map(([n, t]) => [n, t.data]));
    const api = import.meta.resolve('tsx/esm/api');
    const self = import.meta.url;
    for (let i = 0; i < threads; i++) {
      const grads: Record<string, SharedArrayBuffer> = {};
      const views = new Map<string, Float32Array>();
      for (const [name, t] of init) {
        grads[name] = new SharedArrayBuffer(t.data.byteLength);
        views.set(name, new Float32Array(grads[name]));
      }
      this.workerGrads.push(views);
      const initMsg: WorkerInit = { config, shapes: [...init].map(([n, t]) => [n, t.shape]), params, grads };
      // tsx registers its loader in this thread only: the worker loads this file through tsx's API.
      const code = `import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(self)}, ${JSON.stringify(self)}))`;
      const w = new Worker(code, { eval: true, workerData: { sftWorker: true, init: initMsg } });
      w.unref();
      this.workers.push(w);
    }
  }

  async lossAndGrads(batch: SftBatch): Promise<SftLossResult> {
    const n = Math.min(this.workers.length, batch.B);
    const parts: Promise<number>[] = [];
    for (let i = 0; i < n; i++) {
      const r0 = Math.floor((batch.B * i) / n);
      const r1 = Math.floor((batch.B * (i + 1)) / n);
      const slice = sliceSftBatch(batch, r0, r1);
      const w = this.workers[i];
      parts.push(
        new Promise((res, rej) => {
          const onMsg = (loss: number) => {
            w.off('error', onErr);
            res(loss);
          };
          const onErr = (e: Error) => {
            w.off('message', onMsg);
            rej(e);
          };
          w.once('message', onMsg);
          w.once('error', onErr);
          w.postMessage(slice);
        }),
      );
    }
    const losses = await Promise.all(parts);
    for (const [name, g] of this.grads) {
      g.set(this.workerGrads[0].get(name) as Float32Array);
      for (let i = 1; i < n; i++) {
        const src = this.workerGrads[i].get(name) as Float32Array;
        for (let k = 0; k < g.length; k++) g[k] += src[k];
      }
    }
    return { loss: losses.reduce((a, b) => a + b, 0), tokens: batch.targetTokens, grads: this.grads };
  }

  async dispose(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** The Hugging Face files of a model folder (the card is written separately). */
function writeModelFiles(
  dir: string,
  rawConfig: Record<string, unknown>,
  built: ReturnType<typeof buildBuiltinTokenizer>,
  weights: WeightMap,
  seed: number,
  steps: number,
  maxNewTokens: number,
): void {
  mkdirSync(dir, { recursive: true });
  const write = (name: string, text: string) => writeFileSync(join(dir, name), text);
  write('config.json', `${JSON.stringify(rawConfig, null, 2)}\n`);
  const generation = builtinGenerationConfig(built, maxNewTokens);
  write('generation_config.json', `${JSON.stringify(generation, null, 2)}\n`);
  write('tokenizer.json', `${JSON.stringify(built.tokenizerJson)}\n`);
  write('tokenizer_config.json', `${JSON.stringify(built.tokenizerConfig, null, 2)}\n`);
  writeFileSync(
    join(dir, 'model.safetensors'),
    writeSafetensors(weights, { format: 'pt', seed: String(seed), steps: String(steps) }),
  );
}

// ---- main ------------------------------------------------------------------------------------------

function fmtTime(ms: number): string {
  if (!Number.isFinite(ms)) return '--:--';
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** The tokenizer, the model config and the tokenized training examples of a recipe. */
function prepareData(r: Recipe) {
  const t0 = performance.now();
  const built = buildBuiltinTokenizer({ numMerges: r.numMerges });
  const tok = Tokenizer.fromJson(built.tokenizerJson, built.tokenizerConfig);
  const padId = built.ids['<|endoftext|>'];
  const rawConfig = builtinConfigJson(r.arch, built);
  const config = builtinConfig(r.arch, built);

  // Enough distinct examples that an epoch is long (the easiest levels repeat questions anyway).
  const totalWeight = r.taskSpecs.reduce((a, t) => a + t.weight, 0);
  const plannedSeqs = Number.isFinite(r.steps) ? r.steps * r.batchSize : 60_000;
  const perTask = r.examplesPerTask ?? Math.min(20_000, Math.ceil(plannedSeqs / totalWeight));
  const mixture = r.taskSpecs.map(({ task, level, weight }) => ({
    task,
    level,
    count: Math.round(perTask * weight),
  }));
  // The held-out pools (rl/heldOut.ts) stay out of the SFT data, so GRPO runs evaluate on unseen questions.
  const examples = buildExamples(mixture, r.seed, { heldOut: r.heldOut });
  const data: SftSequence[] = examples.map((ex) => tokenizeExample(tok, ex));
  const longest = Math.max(...data.map((d) => d.ids.length));
  console.log(
    `built-in model ${r.id}: vocab ${built.vocabSize} (${built.merges.length} merges), ${examples.length} examples ` +
      `(${mixture.map((m) => `${m.task}@${m.level} ${m.count}`).join(', ')}; held out ${formatHeldOutCounts(r.heldOut)} per task), longest ${longest} tokens, prepared in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return { built, tok, padId, rawConfig, config, mixture, examples, data };
}

type Prepared = ReturnType<typeof prepareData>;

/** WebGPU's SFT backend, or null when `gpu: 'auto'` finds no device (then the CPU trains). */
async function gpuSftBackend(r: Recipe, config: Qwen2Config, init: WeightMap): Promise<GpuSftBackend | null> {
  if (r.gpu === 'off') return null;
  try {
    return await GpuSftBackend.create(await requestEngineDevice(await nodeGpu()), config, init);
  } catch (e) {
    if (r.gpu === 'on') throw e;
    console.log(`no WebGPU device (${e instanceof Error ? e.message : e}): training on the CPU`);
    return null;
  }
}

/** The SFT backend: WebGPU with --gpu (AdamW stays on the CPU, so the run differs from the CPU one only by
 * float rounding), else the CPU reference, split over threads. `weights` are the parameters it trains;
 * `evalBackend` samples from them (on WebGPU the trained model itself, uploaded after every step). */
async function createSftBackend(r: Recipe, config: Qwen2Config, init: WeightMap) {
  const gpu = await gpuSftBackend(r, config, init);
  const threaded = !gpu && r.threads > 1 ? new ThreadedCpuSftBackend(config, init, r.threads) : null;
  const backend: SftBackend & { params: Map<string, Float32Array> } =
    gpu ?? threaded ?? new CpuSftBackend(config, init);
  if (gpu) console.log('training on WebGPU (Node + Dawn)');
  const weights: WeightMap = threaded ? threaded.weights : init;
  // Never disposed: the SFT backend owns the model.
  const evalBackend = gpu ? () => GpuBackend.fromModel(gpu.model) : () => new CpuBackend(config, weights);
  return { backend, threaded, weights, evalBackend, onGpu: gpu !== null };
}

type Evaluate = (n: number, temperature: number, itemsSeed?: number) => Promise<EvalSummary[]>;

/** Samples `n` items of every task from the current weights (a fresh backend each time). */
function evaluator(r: Recipe, p: Prepared, makeBackend: () => Backend): Evaluate {
  return async (n, temperature, itemsSeed = r.evalSeed) => {
    const gen = backendGenerator(makeBackend(), p.tok.eosTokenIds, p.config.maxPositionEmbeddings);
    const out: EvalSummary[] = [];
    for (const { task, level } of r.taskSpecs) {
      const opts = { task, level, n, seed: itemsSeed, temperature, maxNewTokens: r.maxNewTokens };
      out.push((await evaluateTask(gen, p.tok, opts)).summary);
    }
    return out;
  };
}

const fmtEval = (rs: EvalSummary[]) =>
  rs
    .map((r) => `${r.task} ${(100 * r.accuracy).toFixed(0)}%/${(100 * r.format_rate).toFixed(0)}%`)
    .join('  ');

const isTty = process.stdout.isTTY === true;

type Chosen = { step: number; distance: number; weights: Map<string, Float32Array> };

/** The training loop with its side work at each step: the progress line, checkpoints on disk, the
 * validation samples of checkpoint selection, the periodic evaluations (whose time is not training time). */
async function runTraining(
  r: Recipe,
  p: Prepared,
  backend: SftBackend,
  weights: WeightMap,
  evalAll: Evaluate,
) {
  const checkpoints: TrainingRecord['checkpoints'] = [];
  const candidates: SelectionCandidate[] = [];
  let best: Chosen | null = null;
  let evalMs = 0;
  const select = async (step: number): Promise<void> => {
    const te = performance.now();
    const results = await evalAll(r.selectN, 1, r.selectSeed);
    evalMs += performance.now() - te;
    const distance = selectionDistance(results, r.selectTarget);
    candidates.push({ step, results, distance });
    if (isTty) process.stdout.write('\n');
    console.log(
      `  validation @${step} (T=1, n=${r.selectN}): ${fmtEval(results)}  distance ${distance.toFixed(3)}`,
    );
    if (best === null || distance < best.distance) {
      best = { step, distance, weights: new Map([...weights].map(([n, t]) => [n, t.data.slice()])) };
    }
  };
  const onStep = async (s: SftProgress): Promise<void> => {
    if (s.step % r.logEvery === 0 || s.step === s.steps || s.step === 1) printProgress(s);
    if (r.saveEvery > 0 && s.step % r.saveEvery === 0 && s.step < s.steps) {
      const dir = join(r.outDir, `step-${s.step}`);
      writeModelFiles(dir, p.rawConfig, p.built, weights, r.seed, s.step, r.generationMaxNewTokens);
    }
    if (r.selectFrom > 0 && s.step >= r.selectFrom && (s.step % r.selectEvery === 0 || s.step === s.steps)) {
      await select(s.step);
    }
    if (r.evalEvery > 0 && s.step % r.evalEvery === 0 && s.step < s.steps) {
      const te = performance.now();
      const results = await evalAll(r.ckEvalN, 1);
      evalMs += performance.now() - te;
      checkpoints.push({ step: s.step, minutes: s.elapsedMs / 60000, results });
      if (isTty) process.stdout.write('\n');
      console.log(`  eval @${s.step} (T=1, n=${r.ckEvalN}): ${fmtEval(results)}`);
    }
  };
  const result = await trainSft(backend, p.data, {
    batchSize: r.batchSize,
    steps: r.steps,
    lr: r.lr,
    minLr: r.minLr,
    warmupSteps: r.warmupSteps,
    adamw: { weightDecay: r.weightDecay },
    clipNorm: r.clipNorm,
    seed: r.seed,
    padId: p.padId,
    bucketWindow: r.bucket,
    budgetMs: r.minutes !== undefined ? r.minutes * 60_000 : undefined,
    calibrationSteps: 20,
    onStep,
  });
  if (isTty) process.stdout.write('\n');
  const chosen = best as Chosen | null;
  return { result, trainMs: result.elapsedMs - evalMs, checkpoints, candidates, chosen };
}

function printProgress(s: SftProgress): void {
  const frac = s.step / s.steps;
  const bar = '#'.repeat(Math.round(20 * frac)).padEnd(20, '.');
  const line =
    `[${bar}] step ${s.step}/${s.steps}  loss ${s.loss.toFixed(4)}  lr ${s.lr.toExponential(2)}  ` +
    `|g| ${s.gradNorm.toFixed(2)}  ${Math.round(s.tokensPerSecond)} tok/s  ${fmtTime(s.elapsedMs)} elapsed  ETA ${fmtTime(s.etaMs)}`;
  if (isTty) process.stdout.write(`\r${line}\x1b[K`);
  else console.log(line);
}

/** Copies the selected checkpoint's parameters into the trained weights. */
function restoreCheckpoint(chosen: Chosen, weights: WeightMap): void {
  for (const [name, data] of chosen.weights) {
    const target = weights.get(name);
    if (target === undefined) throw new Error(`selection: no parameter ${name}`);
    target.data.set(data);
  }
  console.log(`selected the checkpoint of step ${chosen.step} (distance ${chosen.distance.toFixed(3)})`);
}

async function main(): Promise<void> {
  const r = readRecipe(parseArgs(process.argv.slice(2)));
  const p = prepareData(r);
  const { config, built, rawConfig, mixture, examples } = p;
  const { arch, threads } = r;

  const init = initQwen2Weights(config, r.seed, r.initStd);
  const numParameters = [...init.values()].reduce((a, t) => a + t.data.length, 0);
  console.log(
    `Qwen2 hidden ${arch.hiddenSize}, ${arch.numHiddenLayers} layers, ${arch.numAttentionHeads}/${arch.numKeyValueHeads} heads, ` +
      `MLP ${arch.intermediateSize}: ${numParameters.toLocaleString('en-US')} parameters; ${threads} thread(s)`,
  );
  const { backend, threaded, weights, evalBackend, onGpu } = await createSftBackend(r, config, init);
  const evalAll = evaluator(r, p, evalBackend);
  const { result, trainMs, checkpoints, candidates, chosen } = await runTraining(
    r,
    p,
    backend,
    weights,
    evalAll,
  );
  if (chosen !== null) {
    restoreCheckpoint(chosen, weights);
    await backend.paramsUpdated?.(); // the WebGPU evaluations sample from the device's copy
  }
  const writtenStep = chosen?.step ?? result.steps;
  console.log(
    `trained ${result.steps} steps in ${fmtTime(trainMs)} (${Math.round((result.tokens * 1000) / trainMs)} tok/s); evaluating…`,
  );
  const results = await evalAll(r.finalEvalN, 1);
  const greedy = await evalAll(Math.min(r.finalEvalN, 50), 0);
  console.log(`final (T=1, n=${r.finalEvalN}): ${fmtEval(results)}`);
  console.log(`final (greedy, n=${Math.min(r.finalEvalN, 50)}): ${fmtEval(greedy)}`);
  await threaded?.dispose();

  if (!r.write) return;
  const record: TrainingRecord = {
    id: r.id,
    seed: r.seed,
    command: [
      'npm run train:builtin',
      ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : []),
    ].join(' '),
    config: rawConfig,
    numParameters,
    weightBytes: numParameters * 4,
    vocabSize: built.vocabSize,
    numMerges: built.merges.length,
    recipe: r.name,
    heldOut: r.heldOut,
    maxNewTokens: r.maxNewTokens,
    tasks: mixture.map(({ task, level, count }) => ({ task, level, examples: count })),
    systemPrompt: SYSTEM_PROMPT,
    sample: { prompt: examples[0].prompt, completion: examples[0].completion },
    batchSize: r.batchSize,
    steps: result.steps,
    lr: r.lr,
    minLr: r.minLr,
    warmupSteps: r.warmupSteps,
    weightDecay: r.weightDecay,
    clipNorm: r.clipNorm,
    threads: onGpu ? 1 : threads,
    elapsedMs: trainMs,
    tokensPerSecond: (result.tokens * 1000) / trainMs,
    losses: result.losses,
    checkpoints,
    selection:
      chosen === null
        ? undefined
        : { seed: r.selectSeed, n: r.selectN, target: r.selectTarget, chosenStep: chosen.step, candidates },
    results,
    greedy,
    evalSeed: r.evalSeed,
    createdWith: `Node ${process.version}, ${onGpu ? 'WebGPU backend (Node + Dawn)' : 'CPU reference backend'}`,
  };
  writeModelFiles(r.outDir, rawConfig, built, weights, r.seed, writtenStep, r.generationMaxNewTokens);
  const write = (name: string, text: string) => writeFileSync(join(r.outDir, name), text);
  write('loss.svg', lossCurveSvg(result.losses));
  write('README.md', modelCard(record));
  write(
    'training_log.json',
    `${JSON.stringify({ ...record, losses: result.losses.map((l) => +l.toFixed(5)) })}\n`,
  );
  console.log(`wrote ${r.outDir}`);
}

if (isMainThread) {
  main().catch((e) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  });
}
