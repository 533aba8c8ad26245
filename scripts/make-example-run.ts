// Writes public/example-run.json: the run the playground shows before any model loads. It is a real run of
// our engine (in Node) on the built-in model, with the page's default settings: the side-by-side decode
// (the matched discrete-top-k baseline and the default MoT-G preset, through Engine.rollout, same prompt and
// seed) and held-out evaluations in both modes, and two short GRPO runs with the Train panel's default form
// (discrete-top-k and the default preset) so the training charts have curves to overlay. The page reads it with the same parser as
// an imported run.
//
// Usage: npx tsx scripts/make-example-run.ts [--model public/models/<id>] [--out public/example-run.json]
//          [--gpu] [--n 5] [--train-steps 40]
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BUILTIN_MODEL_ID } from '../src/client/builtinModel.ts';
import { DirModelSource } from '../src/engine/model/source-node.ts';
import { decodeSide, TokenTexts } from '../src/store/lib/decodeRun.ts';
import { evaluate } from '../src/store/lib/evalRun.ts';
import { buildPrompt, drawItem } from '../src/store/lib/items.ts';
import { newRun, parseRunFile } from '../src/store/lib/runFile.ts';
import { DEFAULT_SETTINGS } from '../src/store/settings.ts';
import { runLabel, trainingSettingsOf } from '../src/store/trainForm.ts';
import type { DecodeMode, EvalRun, SideResult } from '../src/store/types.ts';
import { Engine } from '../src/worker/engine.ts';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const modelDir = resolve(arg('model', `public/models/${BUILTIN_MODEL_ID}`));
  const out = resolve(arg('out', 'public/example-run.json'));
  const useGpu = process.argv.includes('--gpu');
  const n = Number(arg('n', '5'));
  let gpu: GPU | null = null;
  if (useGpu) {
    const { nodeGpu } = await import('../src/node/webgpu.ts');
    gpu = await nodeGpu();
  }
  const engine = new Engine({
    gpu,
    resolveSource: (loc) => new DirModelSource(loc.kind === 'url' ? loc.baseUrl : ''),
  });
  const adapter = await engine.init({ backend: useGpu ? 'webgpu' : 'cpu' });
  const info = await engine.loadModel({ kind: 'url', baseUrl: modelDir });
  const where =
    adapter.backend === 'cpu' ? 'CPU path' : `WebGPU ${adapter.vendor} ${adapter.architecture}`.trim();
  const settings = DEFAULT_SETTINGS;
  const d = settings.decode;
  const texts = new TokenTexts();

  const { item, entry } = drawItem(d.task, d.level, d.itemSeed, d.index);
  const prompt = buildPrompt(item.question, d.wrap);
  const promptIds = await engine.tokenize(prompt);
  const sides: SideResult[] = [];
  for (const mode of [d.baseline, d.preset] as DecodeMode[]) {
    const side = await decodeSide(engine, {
      mode,
      settings: d,
      promptIds,
      eos: info.eosTokenIds,
      item,
      entry,
      texts,
    });
    console.error(
      `${mode}: ${side.steps.length} steps, answer ${JSON.stringify(side.answer)}, reward ${side.reward}`,
    );
    sides.push(side);
  }

  const evals: EvalRun[] = [];
  // The matched baseline and the preset on the same held-out questions, 4 samples each (pass@1…4).
  for (const mode of [settings.eval.mode, d.preset] as DecodeMode[]) {
    const s = { ...settings.eval, mode, n, samples: 4 };
    const t0 = performance.now();
    const { results } = await evaluate(engine, s, { texts, eos: info.eosTokenIds });
    evals.push({
      id: `example-eval-${mode}`,
      createdAt: new Date().toISOString(),
      model: BUILTIN_MODEL_ID,
      settings: s,
      results,
      status: 'done',
      ms: performance.now() - t0,
    });
    console.error(
      `eval ${mode}: ${results.map((r) => `${r.task} ${(100 * r.accuracy).toFixed(0)}%`).join(', ')}`,
    );
  }

  const run = newRun(
    `Example: ${BUILTIN_MODEL_ID}, ${item.task} item ${item.index}`,
    settings,
    `scripts/make-example-run.ts, Node, ${where}`,
    {
      label: BUILTIN_MODEL_ID,
      numParameters: info.numParameters,
      layers: info.config.numHiddenLayers,
      hiddenSize: info.config.hiddenSize,
      vocabSize: info.config.vocabSize,
    },
  );
  run.decode = { prompt, item, promptTokens: promptIds.length, sides };
  run.evals = evals;

  const trainSteps = Number(arg('train-steps', '40'));
  for (const preset of ['discrete-top-k', settings.train.preset] as const) {
    const form = { ...settings.train, preset, steps: trainSteps };
    // Full fine-tuning on the CPU path trains the loaded weights in place: each run starts from the file.
    await engine.loadModel({ kind: 'url', baseUrl: modelDir });
    const trainer = await engine.createTrainer(trainingSettingsOf(form, settings.eval.n));
    const history = [];
    for (let i = 0; i < trainSteps; i++) history.push((await trainer.trainStep()).metrics);
    const last = history.slice(-10);
    console.error(
      `train ${preset}: ${trainSteps} steps, accuracy ${(history[0].accuracy * 100).toFixed(0)}% → ` +
        `${((100 * last.reduce((a, m) => a + m.accuracy, 0)) / last.length).toFixed(0)}% (mean of the last 10)`,
    );
    run.train.push({
      id: `example-train-${preset}`,
      label: runLabel(form, run.train.length + 1),
      form,
      backend: adapter.backend,
      status: 'finished',
      maxSteps: trainSteps,
      history,
      heldOut: settings.eval.n,
    });
  }
  const text = `${JSON.stringify(run)}\n`;
  parseRunFile(text); // the page must be able to read it
  await writeFile(out, text);
  console.error(`wrote ${out} (${(text.length / 1024).toFixed(1)} KiB)`);
  await engine.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
