// Measures issue 14's two targets on a trained built-in model folder and rewrites its card:
//   1. sampled accuracy (full-vocabulary discrete, T = 1) per training task, on held-out items;
//   2. at step 0 under `dirichlet`, the share of thinking steps whose effective number of mixed tokens
//      1/Σw² reaches 1.3 (rl/metrics MIXING_THRESHOLD, as mixingStepFraction counts them).
// Writes <model>/targets.json and regenerates <model>/README.md from training_log.json with the results.
//
// Usage: npm run measure:builtin -- --model public/models/motg-small [--n 100] [--samples 4] [--seed 777]
//          [--max-new-tokens from the training log] [--batch 25] [--gpu] [--no-write]
// The items are the first n of each task's held-out pool (rl/heldOut.ts): left out of the SFT data when the
// recipe held out at least n items per task (training_log.json heldOut).
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { modelCard, type TargetMeasurement, type TrainingRecord } from '../src/builtin/card.ts';
import { heldOutCountFor, promptText } from '../src/builtin/data.ts';
import { DirModelSource } from '../src/engine/model/source-node.ts';
import { Tokenizer } from '../src/engine/model/tokenizer.ts';
import { effectiveTokenCount } from '../src/mot/diagnostics.ts';
import type { PresetName } from '../src/mot/settings.ts';
import { completionsByPrompt, type EvalItem, evaluateItems } from '../src/rl/evaluate.ts';
import { heldOutPool } from '../src/rl/heldOut.ts';
import { MIXING_THRESHOLD } from '../src/rl/metrics.ts';
import type { Trajectory } from '../src/rl/rollout.ts';
import { Engine } from '../src/worker/engine.ts';
import { parseArgs } from './builtin-recipe.ts';

const USAGE =
  'usage: npm run measure:builtin -- --model <folder> [--n 100] [--samples 4] [--seed 777] [--max-new-tokens M] [--batch 25] [--gpu] [--no-write]';

/** Thinking steps of `trajectories` and those whose mixture has 1/Σw² ≥ MIXING_THRESHOLD. */
function thinkingMixing(trajectories: readonly Trajectory[]): TargetMeasurement['mixing'] {
  let thinkingSteps = 0;
  let mixingSteps = 0;
  let effective = 0;
  for (const tr of trajectories) {
    for (const r of tr.records) {
      if (r.phase !== 'thinking') continue;
      thinkingSteps++;
      const k = r.mode === 'mixture' ? effectiveTokenCount(r.weights) : 1;
      effective += k;
      if (k >= MIXING_THRESHOLD) mixingSteps++;
    }
  }
  return {
    thinkingSteps,
    mixingSteps,
    meanEffectiveTokens: thinkingSteps > 0 ? effective / thinkingSteps : 0,
  };
}

interface Options {
  n: number;
  samples: number;
  seed: number;
  maxNewTokens: number;
  batch: number;
  gpu: boolean;
  write: boolean;
}

function readOptions(args: Map<string, string>, record: TrainingRecord): Options {
  const known = new Set(['model', 'n', 'samples', 'seed', 'max-new-tokens', 'batch', 'gpu', 'no-write']);
  for (const k of args.keys()) if (!known.has(k)) throw new Error(`unknown option --${k}\n${USAGE}`);
  const num = (k: string, d: number) => {
    const v = args.has(k) ? Number(args.get(k)) : d;
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be an integer ≥ 1`);
    return v;
  };
  return {
    n: num('n', 100),
    samples: num('samples', 4),
    seed: num('seed', 777),
    maxNewTokens: num('max-new-tokens', record.maxNewTokens ?? 160),
    batch: num('batch', 25),
    gpu: args.has('gpu'),
    write: !args.has('no-write'),
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!args.has('model')) throw new Error(USAGE);
  const dir = resolve(args.get('model') as string);
  const record = JSON.parse(readFileSync(join(dir, 'training_log.json'), 'utf8')) as TrainingRecord;
  const o = readOptions(args, record);
  for (const task of new Set(record.tasks.map((t) => t.task)))
    if (heldOutCountFor(record.heldOut, task) < o.n)
      console.warn(
        `warning: the SFT data held out ${heldOutCountFor(record.heldOut, task)} ${task} items, fewer than n = ${o.n}`,
      );
  let gpu: GPU | null = null;
  if (o.gpu) {
    const { nodeGpu } = await import('../src/node/webgpu.ts');
    gpu = await nodeGpu();
  }
  const engine = new Engine({ gpu, resolveSource: () => new DirModelSource(dir) });
  const adapter = await engine.init({ backend: gpu ? 'webgpu' : 'cpu' });
  await engine.loadModel({ kind: 'url', baseUrl: dir });
  const tok = await Tokenizer.fromSource(new DirModelSource(dir));

  // One evaluation per preset over the same items; the dirichlet rollouts also give the mixing share.
  const evaluate = async (items: EvalItem[], preset: PresetName, seen: Trajectory[]) =>
    evaluateItems(items, {
      samples: o.samples,
      itemsPerDecode: o.batch,
      prompt: (item) => tok.encode(promptText(item.entry.question), { addSpecialTokens: false }),
      decode: async (prompts, samples) => {
        const run = await engine.rollout({
          prompts: prompts.map((p) => ({ ids: p.promptIds })),
          G: samples,
          preset,
          maxNewTokens: o.maxNewTokens,
          seed: o.seed + prompts[0].item.index,
          hiddenEntropy: false,
        });
        seen.push(...run.trajectories);
        return completionsByPrompt(run.trajectories, prompts.length);
      },
    });
  const tasks: TargetMeasurement['tasks'] = [];
  const mixed: Trajectory[] = [];
  for (const { task, level } of record.tasks) {
    const pool = heldOutPool(task, level, o.n);
    const items = pool.entries.map((entry, index) => ({ task, level, index, entry }));
    const discrete = (await evaluate(items, 'discrete', [])).tasks[0];
    const dirichlet = (await evaluate(items, 'dirichlet', mixed)).tasks[0];
    tasks.push({
      task,
      level,
      accuracy: discrete.accuracy,
      formatRate: discrete.formatRate,
      dirichletAccuracy: dirichlet.accuracy,
    });
    console.error(
      `${task}@${level}: discrete ${(100 * discrete.accuracy).toFixed(1)}%, dirichlet ${(100 * dirichlet.accuracy).toFixed(1)}%`,
    );
  }
  await engine.dispose();
  const measurement: TargetMeasurement = {
    command: ['npm run measure:builtin --', ...process.argv.slice(2)].join(' '),
    measuredWith: `Node ${process.version}, ${adapter.backend} (${adapter.description})`,
    n: o.n,
    samples: o.samples,
    seed: o.seed,
    maxNewTokens: o.maxNewTokens,
    tasks,
    mixing: thinkingMixing(mixed),
  };
  console.log(JSON.stringify(measurement));
  if (!o.write) return;
  writeFileSync(join(dir, 'targets.json'), `${JSON.stringify(measurement, null, 2)}\n`);
  writeFileSync(join(dir, 'README.md'), modelCard(record, measurement));
  console.error(`wrote ${join(dir, 'targets.json')} and the card`);
}

main().catch((e) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
